/**
 * How Keras lists an optimizer's state: `optimizer.variables` is the counters (`iteration`, and
 * `learning_rate` when the learning rate is a number), then one slot array per slot and variable,
 * in the slot table's Keras order and under Keras's names. Checkpoints and state dicts share this
 * layout and its checks, so a refused file or dict changes nothing.
 */
import type { ArraySpec } from '../checkpoint/write.js';
import { quote } from '../common/quote.js';
import { shapeSize, type DType, type FloatArray } from '../memory/dtype.js';
import { KERAS_SLOTS, type Field } from '../memory/slots.js';
import type { LearningRateSource } from './learning-rate.js';

/** One entry of `optimizer.variables`, Keras's optimizer state. */
export interface StateVariable {
  /** Keras's name: 'iteration', 'learning_rate', or the variable's name with '/' as '_' and the slot, e.g. 'dense_kernel_velocity'. */
  readonly name: string;
  readonly shape: readonly number[];
  /** Keras's dtype: `iteration` is int64, `learning_rate` float32, a slot its variable's. */
  readonly dtype: DType | 'int64';
  /** Slots are live views into the arena (half precision: its bits); `iteration` and `learning_rate` are snapshots. */
  readonly value: FloatArray;
}

/** A slot array: its name, shape and dtype (from its variable's), and where it lives. */
export interface SlotSpec extends ArraySpec {
  readonly field: Field;
  /** The position of its variable in the list it was derived from. */
  readonly index: number;
}

/** What Keras puts before a slot's name: the variable's path with '/' made '_' (':' kept). */
export function slotPrefix(path: string): string {
  return path.replaceAll('/', '_');
}

/**
 * Every slot array `fields` give `variables`, in Keras's order, named as Keras names them: the
 * variable's path with '/' made '_', then the slot (`dense/kernel` -> `dense_kernel_velocity`;
 * Keras 3.16 keeps ':'). Releases before 0.2 kept the '/': `formerName`, still read.
 */
export function slotSpecs(fields: readonly Field[], variables: readonly ArraySpec[]): SlotSpec[] {
  return KERAS_SLOTS.filter(({ field }) => fields.includes(field)).flatMap(({ field, suffix }) =>
    variables.map((v, index) => ({
      field,
      index,
      name: `${slotPrefix(v.name)}_${suffix}`,
      formerName: `${v.name}_${suffix}`,
      shape: v.shape,
      dtype: v.dtype,
    })),
  );
}

/** One entry of the state as a checkpoint or a state dict holds it. */
export type StateArray = ArrayLike<number | bigint>;

export interface StateEntry {
  readonly name: string;
  readonly length: number;
}

export interface StateCounters {
  readonly steps: number;
  /** The learning_rate entry, when the state has one. */
  readonly learningRate: number | null;
}

/** The counters of an optimizer `steps` calls in, whose learning rate comes from `source`. */
export function stateCounters(steps: number, source: LearningRateSource): StateCounters {
  return { steps, learningRate: source.kind === 'variable' ? source.value : null };
}

/** The counters: iteration, and learning_rate when the learning rate is a number (Keras keeps it in a variable). */
export function counterNames(learningRateVariable: boolean): string[] {
  return learningRateVariable ? ['iteration', 'learning_rate'] : ['iteration'];
}

/** Name and length of every state entry: the counters, then the slots. */
export function stateLayout(counters: readonly string[], slots: readonly ArraySpec[]): StateEntry[] {
  return [
    ...counters.map((name) => ({ name, length: 1 })),
    ...slots.map(({ name, shape }) => ({ name, length: shapeSize(shape) })),
  ];
}

/**
 * Checks arrays meant for the first entries of a state laid out as `layout` (their count and
 * lengths, the iteration counter's range, a finite learning rate) and returns the counters.
 * Changes nothing.
 */
export function checkState(
  arrays: ReadonlyArray<StateArray | null | undefined>,
  layout: readonly StateEntry[],
  what: string,
): StateCounters {
  if (arrays.length > layout.length)
    throw new RangeError(`${what}: ${arrays.length} state arrays, the optimizer has ${layout.length}`);
  arrays.forEach((data, i) => {
    const { name, length } = layout[i]!;
    if (data === undefined || data === null || typeof data.length !== 'number')
      throw new TypeError(`${what}: no array for '${name}'`);
    if (data.length !== length)
      throw new RangeError(`${what}: '${name}' has ${data.length} values, expected ${length}`);
  });
  const iteration = arrays[0]?.[0];
  const steps = Number(iteration);
  if (!Number.isSafeInteger(steps) || steps < 0) {
    throw new RangeError(`${what}: 'iteration' must be an integer from 0 to 2^53 - 1, got ${quote(iteration)}`);
  }
  let learningRate: number | null = null;
  if (layout[1]?.name === 'learning_rate' && arrays.length > 1) {
    const raw = arrays[1]![0];
    learningRate = Number(raw);
    if (typeof raw !== 'number' || !Number.isFinite(Math.fround(learningRate))) {
      throw new RangeError(`${what}: 'learning_rate' must be a finite float32, got ${quote(raw)}`);
    }
  }
  return { steps, learningRate };
}
