/**
 * Where the optimizer's state lives. `buildState` allocates the arena for a list of variables
 * and makes, once, all that works on it — placement, views, typed views of the shared words,
 * each variable's weight-decay flag, the executor — as the `Built` record; the variables are
 * bound to its views, and `stateVariables` lists them as Keras does (state-listing.ts).
 */
import { quote } from '../common/quote.js';
import { prepareKernels } from '../kernels/index.js';
import { STEP_WORDS, VARIABLE_WORDS, type VariableWord } from '../kernels/rmsprop-words.js';
import { VariableWords } from '../kernels/words.js';
import {
  allocateArena,
  groupViews,
  regionCount,
  sliceOf,
  type ArenaDescriptor,
  type GroupViews,
} from '../memory/arena.js';
import { bytesPerElement, isHalf, promotedDType, type FloatArray } from '../memory/dtype.js';
import { ONE_PROCESS, planGroups } from '../memory/layout.js';
import { fieldsFor, type Field } from '../memory/slots.js';
import { InlineExecutor, type Executor } from '../pool/executor.js';
import { PoolExecutor } from '../pool/pool.js';
import { controlLength } from '../pool/protocol.js';
import { resolveLanes } from '../pool/threads.js';
import type { NormInputs } from './norms.js';
import { localMicroBatches, type ResolvedOptions } from './options.js';
import { slotPrefix, slotSpecs, type StateCounters, type StateVariable } from './state-listing.js';
import { stepBlocks, StepWordsWriter, type StepBlock } from './step-plan.js';
import { isVariableArray, type Variable, type VariableOwner } from './variable.js';
import { usesWeightDecay, type WeightDecayExclusions } from './weight-decay.js';
import { buildLines } from './world-agreement.js';
import { WorldExchanges } from './world-exchanges.js';

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
  readonly words: {
    readonly steps: readonly StepBlock[];
    /** The step's words' one writer (their inputs refilled in place each step). */
    readonly writer: StepWordsWriter;
    readonly variables: VariableWords<VariableWord>;
  };
  readonly executor: Executor;
  /** What norm clipping's reduction reads and writes (its scratch sized once). */
  readonly norms: NormInputs;
  /** Whether the arena's pages are committed (the first step's commit phase ran). */
  committed: boolean;
  /** A world of several ranks: a step's exchanges between them; null for one process (or a world of one). */
  readonly world: WorldExchanges | null;
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
  const shards = localMicroBatches(options);
  const rankOf = options.world === null ? ONE_PROCESS : { rank: options.world.rank, ranks: options.world.size };
  // a world's rank also holds the ranks' partial sums of its slice: about one field more
  const regions = regionCount(fields, shards) + (rankOf.ranks > 1 ? 1 : 0);
  const plans = planGroups(variables, Math.max(1, lanes), regions, options.maxSegmentBytes, rankOf);
  const lengths = {
    control: controlLength(Math.max(1, lanes)),
    scalars: STEP_WORDS.length,
    varParams: variables.length * VARIABLE_WORDS.length,
  };
  const arena = allocateArena(plans, fields, shards, lengths, rankOf);
  const placement = new Array<readonly [number, number]>(variables.length);
  plans.forEach((plan, g) => plan.variables.forEach((v, k) => (placement[v] = [g, plan.offsets[k]!])));
  const steps = stepBlocks(arena.scalars);
  const words = {
    steps,
    writer: new StepWordsWriter(steps, options),
    variables: new VariableWords(VARIABLE_WORDS, arena.varParams),
  };
  const decays = variables.map((v) => usesWeightDecay(v, excluded));
  decays.forEach((decay, i) => words.variables.set(i, 'decay', decay ? 1 : 0));
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
      stacked: new Float64Array(variables.length),
      globalDType: promotedDType(variables.map((v) => v.dtype)),
      wideGlobalDType: promotedDType(variables.map((v) => (isHalf(v.dtype) ? 'float32' : v.dtype))),
      variables: words.variables,
    },
    committed: false,
    world:
      options.world !== null && options.world.size > 1
        ? new WorldExchanges(options.world, arena, views, options.stepTimeoutMs, buildLines(variables, options, decays))
        : null,
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
  const { localShards, localShardCount, value } = built.views[group]!;
  const size = built.variables[i]!.size;
  return Array.from({ length: localShardCount }, (_, j) =>
    localShards.subarray(j * value.length + offset, j * value.length + offset + size),
  );
}

/** The part of variable `i` this rank updates and keeps slots for, [from, to) within it (one process: all of it). */
export function ownedRange(built: Built, i: number): readonly [number, number] {
  const [group, offset] = built.placement[i]!;
  const [first, end] = sliceOf(built.arena.groups[group]!);
  const size = built.variables[i]!.size;
  const from = Math.min(size, Math.max(0, first - offset));
  return [from, Math.max(from, Math.min(size, end - offset))];
}

/** A step's gradients are every variable's `.grad` (the zero-copy step). */
export function stageAll(built: Built): Built {
  built.words.variables.fill('hasGradient', 1);
  return built;
}

/** Bytes of the slots `built` holds: each group's slots, this rank's slice of each. */
export function slotBytes(built: Built): number {
  return built.arena.groups.reduce((bytes, group) => {
    const [first, end] = sliceOf(group);
    const slots = group.fields.filter((f) => f !== 'value' && f !== 'grad').length;
    return bytes + slots * (end - first) * bytesPerElement(group.dtype);
  }, 0);
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
  if (built.world !== null)
    throw new Error(
      `finalizeVariableValues: optimizer '${optimizer}' is one rank of a world, which holds its slice of the ` +
        'averages only; set emaOverwriteFrequency to have every step that overwrites gather them',
    );
  const indices = (variables ?? built.variables).map((v) => indexOfVariable(built, v, optimizer));
  indices.forEach((i) => built.variables[i]!.value.set(variableView(built, i, 'average')!));
}

/** Variable `i`'s part of a field — its value, its grad or one of its slots — as a live view; null when the options need no such slot. */
export function variableView(built: Built, i: number, field: Field): FloatArray | null {
  const [group, offset] = built.placement[i]!;
  const whole = built.views[group]![field];
  return whole === null ? null : whole.subarray(offset, offset + built.variables[i]!.size);
}

/** Keras's `optimizer.variables`: iteration, learning_rate (when a number), then the slots once built. */
export function stateVariables(
  { steps, learningRate }: StateCounters,
  built: Built | null,
  slotView: (i: number, field: Field) => FloatArray = (i, field) => wholeSlotView(built!, i, field),
): StateVariable[] {
  const state: StateVariable[] = [{ name: 'iteration', shape: [], dtype: 'int64', value: Float64Array.of(steps) }];
  if (learningRate !== null)
    state.push({ name: 'learning_rate', shape: [], dtype: 'float32', value: Float32Array.of(learningRate) });
  if (built === null) return state;
  for (const slot of slotSpecs(built.fields, built.variables)) {
    state.push({ name: slot.name, shape: slot.shape, dtype: slot.dtype, value: slotView(slot.index, slot.field) });
  }
  return state;
}

/** Variable `i`'s slot, whole: a rank of a world holds only its slice of it, and says so. */
function wholeSlotView(built: Built, i: number, field: Field): FloatArray {
  if (built.world !== null)
    throw new Error(
      `the optimizer is one rank of a world: each rank holds the slots of its slice only; ` +
        'await gatheredVariables() for them whole (a collective: every rank calls it)',
    );
  return variableView(built, i, field)!;
}

/**
 * Keras's `optimizer.variables` with every slot whole, on every rank of a world: each slot field
 * gathered from its owners into a new array (a collective). Copies, made for the call.
 */
export async function gatheredStateVariables(counters: StateCounters, built: Built | null): Promise<StateVariable[]> {
  if (built?.world == null) return stateVariables(counters, built);
  const wholes = new Map<string, FloatArray>();
  for (let g = 0; g < built.views.length; g++)
    for (const field of built.fields)
      if (field !== 'value' && field !== 'grad')
        wholes.set(`${g}:${field}`, await built.world.gatherField(g, built.views[g]![field]!));
  return stateVariables(counters, built, (i, field) => {
    const [group, offset] = built.placement[i]!;
    return wholes.get(`${group}:${field}`)!.subarray(offset, offset + built.variables[i]!.size);
  });
}
