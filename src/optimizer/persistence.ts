/**
 * An optimizer's serialized forms: Keras's config, checkpoint files (`save`/`load`) and Keras's
 * `save_own_variables`/`load_own_variables` stores. Everything a checkpoint or a store promises
 * is checked against the options and the variables before anything is built or assigned.
 */
import { stat } from 'node:fs/promises';
import { openCheckpoint, type CheckpointReader } from '../checkpoint/read.js';
import { checkCheckpoint, writeCheckpointFile } from '../checkpoint/write.js';
import { camelToSnake } from '../common/keras-names.js';
import { quote } from '../common/quote.js';
import type { FloatArray } from '../memory/dtype.js';
import { fieldsFor } from '../memory/slots.js';
import { KERAS_OPTIONS, type KerasConfig, type ResolvedOptions } from './options.js';
import type { SerializedSchedule } from './schedules/learning-rate-schedule.js';
import {
  asTensor,
  countersOf,
  learningRateIsVariable,
  readCounters,
  type Persisted,
  type PersistedOptimizer,
  type SaveOptions,
} from './persisted.js';
import { loadShardedCheckpoint, saveShardedCheckpoint } from './sharded-checkpoint.js';
import { checkBuildable, variableView, writeInitialValues } from './state.js';
import {
  checkState,
  counterNames,
  slotSpecs,
  type StateArray,
  type StateCounters,
  type StateVariable,
} from './state-listing.js';
import { isVariableArray, type Variable } from './variable.js';

export type { Persisted, PersistedOptimizer, SaveOptions };

/** Keras's `get_config()`: snake_case keys and values as Keras writes them, `learning_rate` after `name`. */
export function kerasConfig(options: ResolvedOptions, learningRate: number | SerializedSchedule): KerasConfig {
  const config: KerasConfig = {};
  for (const spec of KERAS_OPTIONS) {
    config[camelToSnake(spec.option)] = options[spec.option];
    if (spec.option === 'name') config.learning_rate = learningRate;
  }
  return config;
}

/** `save()`: the config, the counters and the state arrays (and the built variables' values) to `path`. */
export async function saveCheckpoint(path: string, options: SaveOptions, target: Persisted): Promise<void> {
  if (typeof path !== 'string' || path.length === 0)
    throw new TypeError(`save: \`path\` must be a non-empty string, got ${quote(path)}`);
  if (options === null || typeof options !== 'object')
    throw new TypeError(`save: \`options\` must be an object, got ${quote(options)}`);
  const withVariables: unknown = options.variables ?? false;
  if (typeof withVariables !== 'boolean')
    throw new TypeError(`save: \`variables\` must be a boolean, got ${quote(withVariables)}`);
  const { built } = target;
  if (withVariables && built === null) throw new Error('save: `variables: true` needs a built optimizer');
  if (built?.world != null) return await saveShardedCheckpoint(path, withVariables, target); // a directory, a shard per rank
  await writeCheckpointFile(path, {
    config: target.optimizer.getConfig(),
    state: checkpointState(target).map(asTensor),
    variables:
      withVariables && built !== null
        ? built.variables.map((v) => ({ name: v.name, shape: v.shape, dtype: v.dtype, data: v.value }))
        : null,
  });
}

/**
 * `load()`: reads and checks the file, makes an optimizer from its config (`create`) and
 * restores it; a refused load closes that optimizer (no threads, no claim on the variables).
 */
export async function loadCheckpoint<T extends PersistedOptimizer>(
  path: string,
  variables: readonly Variable[] | undefined,
  create: (config: KerasConfig) => Persisted<T>,
): Promise<T> {
  if (variables !== undefined && !isVariableArray(variables)) {
    throw new TypeError(`load: \`variables\` must be an array of Variable, got ${quote(variables)}`);
  }
  if (typeof path === 'string' && (await stat(path).catch(() => null))?.isDirectory())
    return await loadShardedCheckpoint(path, variables, create); // what a world of ranks saved
  const reader = await openCheckpoint(path);
  try {
    const target = inFile(path, () => create(reader.config));
    try {
      await restoreCheckpoint(reader, variables, target);
    } catch (error) {
      await target.optimizer.close();
      throw error;
    }
    return target.optimizer;
  } finally {
    await reader.close();
  }
}

/** `make()`, its error (a config the options refuse) saying which checkpoint, as the file's own checks do. */
function inFile<T>(path: string, make: () => T): T {
  try {
    return make();
  } catch (cause) {
    if (!(cause instanceof Error)) throw cause;
    const Class = cause.constructor as ErrorConstructor;
    throw new Class(`checkpoint '${path}': ${cause.message}`, { cause });
  }
}

/**
 * Checks everything the checkpoint's header promises against the options and `variables`, and
 * the counters' values; then builds over `variables` while the saved variables' values (else
 * their own) and slots stream from the file straight into the new arena, each tensor's CRC-32
 * verified. The variables are bound, and the counters set, only once all of it has succeeded.
 */
async function restoreCheckpoint(
  reader: CheckpointReader,
  variables: readonly Variable[] | undefined,
  target: Persisted,
): Promise<void> {
  if (variables !== undefined) checkBuildable(variables, target.optimizer, 'load');
  const slots = slotSpecs(fieldsFor(target.options), variables ?? []);
  const counterList = countersOf(target);
  const counterCount = counterList.length;
  checkCheckpoint(reader, reader.path, {
    counters: counterList,
    variables: variables?.map((v) => ({ name: v.name, shape: v.shape, dtype: v.dtype })),
    slots: variables === undefined ? undefined : slots,
  });
  const { counters, setExtra } = await readCounters(reader, target, slots);
  if (variables !== undefined) {
    await target.buildFrom(variables, async (built) => {
      if (reader.variables === null) writeInitialValues(built);
      else
        for (const [i, saved] of reader.variables.entries())
          await reader.readInto(saved, variableView(built, i, 'value')!);
      const savedSlots = reader.state.slice(counterCount);
      for (const [k, saved] of savedSlots.entries()) {
        await reader.readInto(saved, variableView(built, slots[k]!.index, slots[k]!.field)!);
      }
    });
  }
  target.setCounters(counters);
  setExtra?.();
}

/** What a checkpoint's state holds: the optimizer's `variables` with a wrapper's counters after its own. */
function checkpointState(target: Persisted): StateVariable[] {
  const state = target.optimizer.variables;
  if (target.extra === undefined) return state;
  const own = counterNames(learningRateIsVariable(target)).length;
  return [...state.slice(0, own), ...target.extra.state, ...state.slice(own)];
}

/** Keras's `save_own_variables`: copies of the state, keyed '0', '1', ... in Keras's order. */
export function saveStore(state: readonly StateVariable[]): Record<string, FloatArray> {
  return Object.fromEntries(state.map((v, i) => [String(i), v.value.slice()]));
}

/** Keras's `load_own_variables`, except that a store that does not fit is refused (naming the entry) and nothing assigned. */
export function loadStore(store: Readonly<Record<string, ArrayLike<number>>>, target: Persisted): void {
  if (store === null || typeof store !== 'object') throw new TypeError('loadOwnVariables: `store` must be an object');
  const state = target.optimizer.variables;
  const keys = Object.keys(store);
  if (keys.length !== state.length) {
    throw new Error(
      `loadOwnVariables: the store holds ${keys.length} arrays, optimizer '${target.optimizer.name}' has ${state.length} variables` +
        (target.built === null ? ' (it is not built yet: build it with the model variables first)' : ''),
    );
  }
  const arrays = state.map((_, i) => store[String(i)]);
  const layout = state.map(({ name, value }) => ({ name, length: value.length }));
  assignState(target, arrays as StateArray[], checkState(arrays, layout, 'loadOwnVariables'));
}

/** Assigns `arrays`, checked by `checkState`, to the first entries of the state, in order. */
function assignState(target: Persisted, arrays: ReadonlyArray<StateArray>, counters: StateCounters): void {
  const state = target.optimizer.variables;
  const counterCount = counterNames(learningRateIsVariable(target)).length;
  target.setCounters(counters);
  arrays.forEach((data, i) => {
    if (i >= counterCount) state[i]!.value.set(data as ArrayLike<number>);
  });
}
