/**
 * An optimizer as persistence sees it (`Persisted`: its public side and private state when the
 * call runs), and what every checkpoint form does alike with its counters: name them, write them,
 * read and check them back.
 */
import type { CheckpointReader } from '../checkpoint/read.js';
import type { NamedArray } from '../checkpoint/write.js';
import type { KerasConfig, ResolvedOptions } from './options.js';
import type { Built } from './state.js';
import {
  checkState,
  counterNames,
  stateLayout,
  type StateArray,
  type StateCounters,
  type StateVariable,
} from './state-listing.js';
import type { Variable, VariableOwner } from './variable.js';

/** How `save` writes a checkpoint. */
export interface SaveOptions {
  /** Also write the built variables' values (default false: the optimizer's state only). */
  readonly variables?: boolean;
}

/** What persistence uses of an optimizer's public side. */
export interface PersistedOptimizer extends VariableOwner {
  /** Keras's `optimizer.variables`: the counters (snapshots), then the slots (live views). */
  readonly variables: StateVariable[];
  getConfig(): KerasConfig;
  build(variables: readonly Variable[]): void;
  close(): Promise<void>;
}

/**
 * Scalars a wrapper keeps beside its optimizer's counters (a LossScaleOptimizer's step counter
 * and scale), saved right after them.
 */
export interface ExtraCounters {
  /** Their values now, named, as a checkpoint holds them. */
  readonly state: readonly StateVariable[];
  /** Checks saved values (in `state`'s order), throwing on one out of range; returns what assigns them. */
  check(values: readonly number[], what: string): () => void;
}

/** An optimizer as persistence sees it when the call runs: its public side and its private state. */
export interface Persisted<T extends PersistedOptimizer = PersistedOptimizer> {
  /** A wrapper's counters, saved and restored with the optimizer's. */
  readonly extra?: ExtraCounters;
  readonly optimizer: T;
  readonly options: ResolvedOptions;
  /** `learningRate` is null when the learning rate is not a number: the state has no 'learning_rate' then. */
  readonly counters: StateCounters;
  readonly built: Built | null;
  /** Builds over `variables` with `fill` writing the arena (values and slots); binds them only if it succeeds. */
  buildFrom(variables: readonly Variable[], fill: (built: Built) => Promise<void>): Promise<void>;
  setCounters(counters: StateCounters): void;
}

/** The optimizer's counters, a wrapper's after them: the first state arrays of a checkpoint. */
export function countersOf(target: Persisted): string[] {
  return [...counterNames(learningRateIsVariable(target)), ...(target.extra?.state ?? []).map((v) => v.name)];
}

/** The state holds the learning rate ('learning_rate', after 'iteration') when it is a number. */
export function learningRateIsVariable(target: Persisted): boolean {
  return target.counters.learningRate !== null;
}

/** The counters as a checkpoint holds them: the optimizer's, then a wrapper's. */
export function countersState(target: Persisted): StateVariable[] {
  const own = counterNames(learningRateIsVariable(target)).map((name) =>
    name === 'iteration'
      ? { name, shape: [], dtype: 'int64' as const, value: Float64Array.of(target.counters.steps) }
      : { name, shape: [], dtype: 'float32' as const, value: Float32Array.of(target.counters.learningRate!) },
  );
  return [...own, ...(target.extra?.state ?? [])];
}

/** A state array as a checkpoint file holds it (int64 as a BigInt64Array). */
export function asTensor(v: StateVariable): NamedArray {
  return {
    name: v.name,
    shape: v.shape,
    dtype: v.dtype,
    data: v.dtype === 'int64' ? BigInt64Array.of(BigInt(v.value[0]!)) : v.value,
  };
}

/**
 * Reads a checkpoint's counters (its first state arrays, named and sized as `target`'s: the
 * caller has checked the names) and checks their values; returns them, and what assigns a
 * wrapper's (null: none).
 */
export async function readCounters(
  reader: CheckpointReader,
  target: Persisted,
  slots: Parameters<typeof stateLayout>[1],
): Promise<{ counters: StateCounters; setExtra: (() => void) | undefined }> {
  const counterList = countersOf(target);
  const counterArrays: StateArray[] = [];
  for (const saved of reader.state.slice(0, counterList.length)) counterArrays.push(await reader.read(saved));
  const what = `checkpoint '${reader.path}'`;
  const counters = checkState(counterArrays, stateLayout(counterList, slots), what);
  const ownCount = counterNames(learningRateIsVariable(target)).length;
  const setExtra = target.extra?.check(
    counterArrays.slice(ownCount).map((a) => Number(a[0])),
    what,
  );
  return { counters, setExtra };
}
