/**
 * The optimizer's state: where it lives and how Keras lists it. `buildState` allocates the arena
 * for a list of variables and makes, once, all that works on it — placement, views, typed views
 * of the shared words, the words fixed for the optimizer's life, the executor — as the `Built`
 * record. `optimizer.variables` lists the counters, then one slot array per variable and slot,
 * in Keras's order and names; that layout and its checks are shared by the state getter,
 * checkpoints and state dicts, so a refused file or dict changes nothing.
 */
import type { ArraySpec } from '../checkpoint/write.js';
import { quote } from '../common/quote.js';
import { prepareKernels } from '../kernels/index.js';
import { STEP_WORDS, VARIABLE_WORDS, type VariableWord } from '../kernels/rmsprop-words.js';
import { VariableWords } from '../kernels/words.js';
import { allocateArena, groupViews, regionCount, type ArenaDescriptor, type GroupViews } from '../memory/arena.js';
import { promotedDType, shapeSize, type DType, type FloatArray } from '../memory/dtype.js';
import { planGroups } from '../memory/layout.js';
import { fieldsFor, KERAS_SLOTS, type Field } from '../memory/slots.js';
import { InlineExecutor, type Executor } from '../pool/executor.js';
import { PoolExecutor } from '../pool/pool.js';
import { controlLength } from '../pool/protocol.js';
import type { LearningRateSource } from './learning-rate.js';
import type { NormInputs } from './norms.js';
import { resolveLanes, type ResolvedOptions } from './options.js';
import { stepBlocks, type StepBlock } from './step-plan.js';
import { isVariableArray, type Variable, type VariableOwner } from './variable.js';

/** What `excludeFromWeightDecay` excludes: these variables, and those whose names match any of these patterns. */
export interface ExcludeFromWeightDecay {
  /** These variables (by identity). */
  readonly varList?: readonly Variable[];
  /** Regular expressions, searched in each variable's name (as Keras does). */
  readonly varNames?: readonly string[];
}

// ---- where the state lives: build ----------------------------------------------------

/** Keras's `exclude_from_weight_decay`: by variable, or by name pattern. */
export interface WeightDecayExclusions {
  readonly variables: ReadonlySet<Variable>;
  readonly pattern: RegExp | null;
}

export const NO_EXCLUSIONS: WeightDecayExclusions = { variables: new Set(), pattern: null };

/**
 * Keras's `exclude_from_weight_decay(var_list, var_names)`, checked: the names form one pattern
 * (alternatives, searched in each variable's name).
 */
export function weightDecayExclusions(exclusions: ExcludeFromWeightDecay): WeightDecayExclusions {
  if (exclusions === null || typeof exclusions !== 'object') {
    throw new TypeError(`excludeFromWeightDecay: expected { varList?, varNames? }, got ${quote(exclusions)}`);
  }
  const { varList, varNames } = exclusions;
  if (varList !== undefined && !isVariableArray(varList)) {
    throw new TypeError('excludeFromWeightDecay: `varList` must be an array of Variables');
  }
  if (varNames !== undefined && !(Array.isArray(varNames) && varNames.every((n) => typeof n === 'string'))) {
    throw new TypeError('excludeFromWeightDecay: `varNames` must be an array of strings');
  }
  let pattern: RegExp | null = null;
  if (varNames !== undefined && varNames.length > 0) {
    try {
      pattern = new RegExp([...new Set(varNames)].join('|'));
    } catch (cause) {
      throw new SyntaxError(`excludeFromWeightDecay: \`varNames\` do not form a valid pattern`, { cause });
    }
  }
  return { variables: new Set(varList ?? []), pattern };
}

/** Keras's `_use_weight_decay`: unless excluded by identity or by a pattern search of its name. */
export function usesWeightDecay(v: Variable, excluded: WeightDecayExclusions): boolean {
  return !(excluded.variables.has(v) || (excluded.pattern?.test(v.name) ?? false));
}

/** What `build` made: the arena over the variables, its views and words, and the executor that runs phases on it. */
export interface Built {
  readonly variables: readonly Variable[];
  readonly index: ReadonlyMap<Variable, number>;
  /** The arrays every variable has (value, grad, the slots the options need). */
  readonly fields: readonly Field[];
  /** [group, offset] of each variable. */
  readonly placement: ReadonlyArray<readonly [number, number]>;
  readonly arena: ArenaDescriptor;
  /** Typed-array views of every field, made once at build. */
  readonly views: readonly GroupViews[];
  /** Typed views of the shared words, made once at build: the step's scalars and the per-variable words. */
  readonly words: { readonly steps: readonly StepBlock[]; readonly variables: VariableWords<VariableWord> };
  readonly executor: Executor;
  /** What norm clipping's reduction reads and writes (its scratch sized once). */
  readonly norms: NormInputs;
  /** Whether the arena's pages are committed (the first step's commit phase ran). */
  committed: boolean;
}

/**
 * What `build(variables)` would refuse, checked without building: the list, repeated variables
 * or names (a checkpoint keys every array by name), and variables another optimizer holds.
 */
export function checkBuildable(variables: readonly Variable[], owner: VariableOwner, what: string): void {
  if (!isVariableArray(variables) || variables.length === 0) {
    throw new TypeError(`${what}: \`variables\` must be a non-empty array of Variable, got ${quote(variables)}`);
  }
  if (new Set(variables).size !== variables.length) throw new Error(`${what}: the same Variable is listed twice`);
  const first = new Map<string, number>();
  const firstSlotName = new Map<string, number>();
  variables.forEach((v, i) => {
    const j = first.get(v.name);
    if (j !== undefined)
      throw new Error(
        `${what}: variables ${j} and ${i} are both named '${v.name}'; names must be unique (checkpoints key arrays by name)`,
      );
    first.set(v.name, i);
    // their slots would share a name: Keras makes '/' in a path '_' (see slotSpecs)
    const slotName = slotPrefix(v.name);
    const k = firstSlotName.get(slotName);
    if (k !== undefined)
      throw new Error(
        `${what}: variables ${k} ('${variables[k]!.name}') and ${i} ('${v.name}') would give their slots the same ` +
          `names ('${slotName}_velocity', ...): Keras names slots by the path with '/' made '_'`,
      );
    firstSlotName.set(slotName, i);
  });
  for (const v of variables) v.assertAvailableTo(owner);
}

/**
 * Whether `built` is over exactly `variables` (building again is then nothing to do); throws
 * when it is over others. False when not built, or for a list that `checkBuildable` refuses.
 */
export function isBuiltWith(built: Built | null, variables: readonly Variable[], optimizer: string): boolean {
  if (built === null || !isVariableArray(variables)) return false;
  if (variables.length === built.variables.length && variables.every((v) => built.index.has(v))) return true;
  throw new Error(`optimizer '${optimizer}' is already built with ${built.variables.length} other variables`);
}

/**
 * Allocates the arena for `variables` (checked by `checkBuildable`) with the fields the options
 * need, writes the words fixed for the optimizer's life and each variable's weight-decay flag,
 * and makes the views and the executor once: the worker pool, or the calling thread when the
 * options and the model's size call for no workers.
 */
export function buildState(
  variables: readonly Variable[],
  options: ResolvedOptions,
  excluded: WeightDecayExclusions,
): Built {
  prepareKernels(options.kernels);
  const lanes = resolveLanes(
    options.workers,
    variables.reduce((n, v) => n + v.size, 0),
    options.kernels,
  );
  const fields = fieldsFor(options);
  const shards = options.microBatches;
  const plans = planGroups(variables, Math.max(1, lanes), regionCount(fields, shards), options.maxSegmentBytes);
  const arena = allocateArena(plans, fields, shards, {
    control: controlLength(Math.max(1, lanes)),
    scalars: STEP_WORDS.length,
    varParams: variables.length * VARIABLE_WORDS.length,
  });
  const placement = new Array<readonly [number, number]>(variables.length);
  plans.forEach((plan, g) => plan.variables.forEach((v, k) => (placement[v] = [g, plan.offsets[k]!])));
  const words = {
    steps: stepBlocks(arena.scalars),
    variables: new VariableWords(VARIABLE_WORDS, arena.varParams),
  };
  variables.forEach((v, i) => words.variables.set(i, 'decay', usesWeightDecay(v, excluded) ? 1 : 0));
  const views = arena.groups.map(groupViews);
  return {
    variables: [...variables],
    index: new Map(variables.map((v, i) => [v, i])),
    fields,
    placement,
    arena,
    views,
    words,
    executor:
      lanes > 0
        ? new PoolExecutor(arena, views, options.kernels, lanes, options.stepTimeoutMs, options.threadIdleMs)
        : new InlineExecutor(arena, views, options.kernels),
    norms: {
      groups: arena.groups,
      dtypes: variables.map((v) => v.dtype),
      sums: new Float64Array(variables.length),
      globalDType: promotedDType(variables.map((v) => v.dtype)),
      variables: words.variables,
    },
    committed: false,
  };
}

/** Each variable's values into the fresh arena (an initializer may throw: nothing is bound then). */
export function writeInitialValues(built: Built): void {
  built.variables.forEach((v, i) => v.writeInitial(variableView(built, i, 'value')!));
}

/** The variables take the arena's views as their storage: the last step of a build. */
export function bindVariables(built: Built, owner: VariableOwner): void {
  built.variables.forEach((v, i) => v.bind(owner, variableView(built, i, 'value')!, gradientShards(built, i)));
}

/** Variable `i`'s gradient shards (one per micro-batch; the first is its `grad`), as live views. */
export function gradientShards(built: Built, i: number): FloatArray[] {
  const [group, offset] = built.placement[i]!;
  const { gradShards, shardCount, shardStride } = built.views[group]!;
  const size = built.variables[i]!.size;
  return Array.from({ length: shardCount }, (_, j) =>
    gradShards.subarray(j * shardStride + offset, j * shardStride + offset + size),
  );
}

/** Where `v` is in `built`; throws when the optimizer was built without it. */
export function indexOfVariable(built: Built, v: Variable, optimizer: string): number {
  const i = built.index.get(v);
  if (i === undefined) throw new Error(`Variable '${v?.name}' was not built with optimizer '${optimizer}'`);
  return i;
}

/**
 * Keras's `finalize_variable_values` with EMA: each of `variables` (default: every built one)
 * takes its moving average; all are looked up before any is assigned.
 */
export function takeAverages(built: Built, variables: readonly Variable[] | undefined, optimizer: string): void {
  const indices = (variables ?? built.variables).map((v) => indexOfVariable(built, v, optimizer));
  indices.forEach((i) => built.variables[i]!.value.set(variableView(built, i, 'average')!));
}

/** Variable `i`'s part of a field — its value, its grad or one of its slots — as a live view; null when the options need no such slot. */
export function variableView(built: Built, i: number, field: Field): FloatArray | null {
  const [group, offset] = built.placement[i]!;
  const whole = built.views[group]![field];
  return whole === null ? null : whole.subarray(offset, offset + built.variables[i]!.size);
}

// ---- how Keras lists it: names, order, checks ------------------------------------------

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

/** Keras's `optimizer.variables`: iteration, learning_rate (when a number), then the slots once built. */
export function stateVariables({ steps, learningRate }: StateCounters, built: Built | null): StateVariable[] {
  const state: StateVariable[] = [{ name: 'iteration', shape: [], dtype: 'int64', value: Float64Array.of(steps) }];
  if (learningRate !== null)
    state.push({ name: 'learning_rate', shape: [], dtype: 'float32', value: Float32Array.of(learningRate) });
  if (built === null) return state;
  for (const slot of slotSpecs(built.fields, built.variables)) {
    const value = variableView(built, slot.index, slot.field)!;
    state.push({ name: slot.name, shape: slot.shape, dtype: slot.dtype, value });
  }
  return state;
}
