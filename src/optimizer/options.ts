/**
 * RMSprop's options: one table (`OPTIONS`) gives each its kind, default, check, config key and
 * command-line flag, so validation, defaults, `getConfig()` and the CLI cannot drift apart.
 * Validation happens up front and mirrors what Keras refuses, plus non-numbers and NaN.
 */
import { refuseUnknownKeys } from '../common/option-keys.js';
import { isWorld, type World } from '../distributed/world.js';
import { quote } from '../common/quote.js';
import { hasKernels, kernelNames, type BuiltinKernelName, type KernelName } from '../kernels/index.js';
import { MAX_SEGMENT_BYTES, SEGMENT_GRANULE_BYTES } from '../memory/layout.js';
import { MAX_SHARDS } from '../memory/shard-tree.js';
import { maxWorkers } from '../pool/threads.js';
import { checkCount, checkKind, MAX_TIMER_MS, type Kind } from '../common/option-rules.js';
import { checkKerasRules, type OptionNaming } from './option-checks.js';
import { LearningRateSchedule } from './schedules/learning-rate-schedule.js';

/** Keras's `learning_rate`: a number, a schedule (called with the iteration count), or a function of no arguments called every step. */
export type LearningRate = number | LearningRateSchedule | (() => number);

/** A Keras optimizer config: `get_config()`'s snake_case keys. */
export type KerasConfig = Record<string, unknown>;

/**
 * `keras.optimizers.RMSprop`'s arguments in camelCase, with Keras's defaults, plus this
 * library's runtime options (`RuntimeOptions`: threads, kernels, timeouts).
 */
export interface RMSpropOptions {
  /** A number, a schedule, or a zero-argument function. Default 0.001. */
  learningRate?: LearningRate;
  /** Discount of the moving average of squared gradients. Default 0.9. */
  rho?: number;
  /** Default 0 (no momentum slot). */
  momentum?: number;
  /** Default 1e-7. */
  epsilon?: number;
  /** Normalise by the centred second moment (adds an `average_gradient` slot). Default false. */
  centered?: boolean;
  /** Decoupled weight decay `p -= p * weightDecay * lr`. */
  weightDecay?: number | null;
  /** Clip each gradient to this L2 norm. */
  clipnorm?: number | null;
  /** Clip each gradient element to [-clipvalue, clipvalue]. */
  clipvalue?: number | null;
  /** Clip all gradients jointly to this global L2 norm. */
  globalClipnorm?: number | null;
  /** Keep an exponential moving average of the variables. */
  useEma?: boolean;
  /** Default 0.99. */
  emaMomentum?: number;
  /** Overwrite the variables with their average every this many iterations; null/0 = never. */
  emaOverwriteFrequency?: number | null;
  /** Gradients are divided by it (pair with `scaleLoss`). */
  lossScaleFactor?: number | null;
  /** Apply the mean gradient every this many calls (>= 2). */
  gradientAccumulationSteps?: number | null;
  /** Default: Keras's auto name, 'rm_sprop', then 'rm_sprop_1', 'rm_sprop_2', ... in creation order. */
  name?: string;
  /**
   * 0 = the calling thread, n = n worker threads (at most `maxWorkers()`), 'auto' (default) = all
   * cores when the model is big enough.
   */
  workers?: number | 'auto';
  /** Bound on every wait for the worker threads, in milliseconds. Default 60000. */
  stepTimeoutMs?: number;
  /**
   * Kernel implementation: 'wasm' (default: WebAssembly SIMD), 'js' (generated JavaScript), or
   * the name {@link registerKernels} returned for a custom set registered on this thread.
   */
  kernels?: KernelName;
  /**
   * Largest shared memory segment, in bytes (a multiple of 65536, at most 4 GiB: the wasm32
   * limit). Variables are packed into segments in order; a model larger than one segment spans
   * several. Default 4 GiB; smaller values are mostly for tests.
   */
  maxSegmentBytes?: number;
  /**
   * How long a worker thread stays after its lane retired (a lane retires after 250 ms without a
   * step), ready for the next step, before it ends; the next step then starts a new one (~0.1 s).
   * Default 10000: a thread restart costs at most ~1% of a step interval that long.
   */
  threadIdleMs?: number;
  /**
   * Gradient shards, one per micro-batch: each variable's `gradShards` holds this many gradient
   * arrays, and `step()` applies their mean (summed in a fixed binary tree, the perfect tree for a
   * power-of-two count, then divided, inside the update's one pass over memory). Default 1; see
   * {@link DataParallelTrainer}. With a `world`, the world's micro-batches: each rank holds its
   * own block of `microBatches / world.size` (a power of two) of them.
   */
  microBatches?: number;
  /**
   * The world of processes this optimizer is one rank of (`await mpiWorld()` under `mpirun`, or
   * `localWorld(n)[rank]` in one process); null (default): this process alone. With a world
   * of N ranks, each rank updates and keeps slots for 1/N of the parameters, and every step
   * leaves the bytes one process would.
   */
  world?: World | null;
}

/** The value an option holds once resolved (null stays: it means "off" for the nullable ones). */
type Value<K extends keyof RMSpropOptions> = Exclude<RMSpropOptions[K], undefined>;

interface OptionSpec<T> {
  readonly kind: Kind;
  /** The value when the option is undefined. */
  readonly fallback: T;
  /** The command-line flag's help (the CLI appends the default), or null for no flag. */
  readonly help: string | null;
  /** An option of this library, not of Keras (one of {@link RuntimeOptions}). */
  readonly runtime?: true;
  /** Replaces the kind's check where the option has bounds (and wording) of its own. */
  readonly check?: (value: unknown, what: string) => void;
  /** 'nullable-count': the least integer the flag takes (Keras refuses smaller ones). */
  readonly min?: number;
  /** 'choice': the values allowed. */
  readonly choices?: readonly string[];
}

// Spelled out for the API reference; the table's `satisfies` holds its `runtime` rows to it.
/**
 * Options of this library (not Keras's): how the update runs and takes its gradients, never
 * what it computes from them. They belong to the caller: a Keras config or a checkpoint never
 * sets them.
 */
export type RuntimeOptions = Pick<
  RMSpropOptions,
  'workers' | 'stepTimeoutMs' | 'kernels' | 'maxSegmentBytes' | 'threadIdleMs' | 'microBatches' | 'world'
>;

/** Most gradient shards (each is a full gradient array in the arena; their sum's tree holds as many). */
export const MAX_MICRO_BATCHES = MAX_SHARDS;

/**
 * Every option, in `get_config()` order (Keras's arguments) and then this library's runtime
 * options. Validation, defaults, config keys (camelToSnake of the name), the runtime set,
 * `ResolvedOptions` and the CLI's flags (`--` + kebab-case of the name) all come from here; the
 * `satisfies` makes the compiler refuse an option missing here or in `RMSpropOptions`, and a
 * `runtime` mark that disagrees with `RuntimeOptions`.
 */
const OPTIONS = {
  name: { kind: 'string', fallback: 'rm_sprop', help: "optimizer name (Keras's auto name when not given)" },
  learningRate: {
    kind: 'number',
    fallback: 0.001,
    help: 'learning rate',
    check(value, what) {
      if (!isLearningRate(value)) {
        const expected = 'a finite float32 number, a LearningRateSchedule or a function';
        throw new TypeError(`${what} must be ${expected}, got ${quote(value)}`);
      }
    },
  },
  weightDecay: { kind: 'nullable-number', fallback: null, help: 'decoupled weight decay' },
  clipnorm: { kind: 'nullable-number', fallback: null, help: 'clip each gradient to this norm' },
  globalClipnorm: { kind: 'nullable-number', fallback: null, help: 'clip all gradients to this global norm' },
  clipvalue: { kind: 'nullable-number', fallback: null, help: 'clip gradient elements to [-n, n]' },
  useEma: { kind: 'boolean', fallback: false, help: 'keep an exponential moving average of the weights' },
  emaMomentum: { kind: 'number', fallback: 0.99, help: 'EMA momentum' },
  emaOverwriteFrequency: {
    kind: 'nullable-count',
    min: 1,
    fallback: null,
    help: 'overwrite the weights with their EMA every n iterations',
  },
  lossScaleFactor: { kind: 'nullable-number', fallback: null, help: 'gradients are divided by it' },
  gradientAccumulationSteps: {
    kind: 'nullable-count',
    min: 2,
    fallback: null,
    help: 'apply the mean gradient every n steps',
  },
  rho: { kind: 'number', fallback: 0.9, help: 'discount of the squared-gradient average' },
  momentum: { kind: 'number', fallback: 0, help: 'momentum' },
  epsilon: { kind: 'number', fallback: 1e-7, help: 'epsilon' },
  centered: { kind: 'boolean', fallback: false, help: 'normalise by the centred second moment' },
  workers: {
    kind: 'auto-or-count',
    fallback: 'auto',
    runtime: true,
    help: "worker threads: 0 (calling thread), n, or 'auto'",
    check(value, what) {
      checkKind('auto-or-count', value, what);
      if (value !== 'auto' && (value as number) > maxWorkers()) {
        const bound = `${maxWorkers()} (maxWorkers(): 4 per core, at least 16)`;
        throw new RangeError(`${what} must be at most ${bound}, got ${quote(value)}`);
      }
    },
  },
  stepTimeoutMs: {
    kind: 'number',
    fallback: 60_000,
    runtime: true,
    help: 'bound on every wait for the threads',
    check(value, what) {
      if (typeof value !== 'number' || !(value > 0 && value <= MAX_TIMER_MS)) {
        const expected = `a number > 0 and at most ${MAX_TIMER_MS} (a timer's limit)`;
        throw new TypeError(`${what} must be ${expected}, got ${quote(value)}`);
      }
    },
  },
  kernels: {
    kind: 'choice',
    choices: ['wasm', 'js'] satisfies BuiltinKernelName[],
    fallback: 'wasm',
    runtime: true,
    help: 'kernel implementation',
    check(value, what) {
      if (!hasKernels(value)) {
        const names = kernelNames()
          .map((k) => `'${k}'`)
          .join(', ');
        throw new TypeError(
          `${what} must be one of ${names}, got ${quote(value)}; ` +
            "a custom set's module must call registerKernels(import.meta.url, set) and be imported first",
        );
      }
    },
  },
  maxSegmentBytes: {
    kind: 'number',
    fallback: MAX_SEGMENT_BYTES,
    runtime: true,
    help: null, // for tests: a model spanning segments without gigabytes
    check(value, what) {
      const whole = typeof value === 'number' && Number.isInteger(value) && value % SEGMENT_GRANULE_BYTES === 0;
      if (!whole || value <= 0 || value > MAX_SEGMENT_BYTES) {
        const expected = `a positive multiple of ${SEGMENT_GRANULE_BYTES} up to ${MAX_SEGMENT_BYTES}`;
        throw new TypeError(`${what} must be ${expected}, got ${quote(value)}`);
      }
    },
  },
  threadIdleMs: {
    kind: 'number',
    fallback: 10_000,
    runtime: true,
    help: 'how long an idle worker thread stays before it ends',
    check(value, what) {
      if (typeof value !== 'number' || !(value >= 0 && value <= MAX_TIMER_MS)) {
        throw new TypeError(`${what} must be a number from 0 to ${MAX_TIMER_MS}, got ${quote(value)}`);
      }
    },
  },
  microBatches: {
    kind: 'number',
    fallback: 1,
    runtime: true,
    help: null, // the train command has its own --micro-batches
    check: (value, what) => checkCount(value, what, 1, MAX_MICRO_BATCHES),
  },
  world: {
    kind: 'nullable-object',
    fallback: null,
    runtime: true,
    help: null, // the train command has its own --world
    check(value, what) {
      if (value !== null && !isWorld(value))
        throw new TypeError(
          `${what} must be a World (await mpiWorld(), or localWorld(size)[rank]) or null, got ${quote(value)}`,
        );
    },
  },
} as const satisfies {
  readonly [K in keyof RMSpropOptions]-?: OptionSpec<Value<K>> &
    (K extends keyof RuntimeOptions ? { readonly runtime: true } : { readonly runtime?: never });
};

type OptionName = keyof RMSpropOptions;
/** The table's rows, in its order, each with its spec seen through the common interface. */
export const OPTION_SPECS = Object.entries(OPTIONS) as ReadonlyArray<[OptionName, OptionSpec<unknown>]>;
/** Every option's name, in the table's order. */
export const OPTION_NAMES: readonly OptionName[] = OPTION_SPECS.map(([name]) => name);

export const RUNTIME_OPTIONS = OPTION_SPECS.filter(([, spec]) => spec.runtime).map(
  ([name]) => name as keyof RuntimeOptions,
);
export const isRuntimeOption = (key: string): boolean => (RUNTIME_OPTIONS as readonly string[]).includes(key);

/**
 * Keras's arguments but `learning_rate` (whose config is the schedule's or the value's: see
 * learning-rate.ts), in `get_config()` order; each one's config key is camelToSnake of its name.
 */
export const KERAS_OPTIONS = OPTION_SPECS.filter(([name, spec]) => !spec.runtime && name !== 'learningRate').map(
  ([name]) => ({ option: name as Exclude<OptionName, keyof RuntimeOptions> }),
);

/** Options after validation and defaults: what the optimizer runs with. */
export type ResolvedOptions = { readonly [K in OptionName]-?: Value<K> };

/** A finite number, a schedule or a function (a LearningRateSchedule is a function too). */
export function isLearningRate(x: unknown): x is LearningRate {
  return (typeof x === 'number' && Number.isFinite(Math.fround(x))) || typeof x === 'function';
}

const CONSTRUCTOR_NAMING: OptionNaming = { caller: 'RMSprop', key: (option) => option };

/** Validates every option (naming the culprit) and fills in the defaults. Throws; never partial. */
export function resolveOptions(
  options: RMSpropOptions = {},
  naming: OptionNaming = CONSTRUCTOR_NAMING,
): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${naming.caller}: options must be an object`);
  }
  refuseUnknownKeys(options, {
    caller: 'RMSprop',
    known: OPTION_NAMES,
    spelling: 'camelCase',
    kerasForm: true,
    // a Keras (snake_case) name passed as an option: say where it belongs
    hintTail: ': for a Keras config (snake_case keys), use RMSprop.fromConfig(config)',
  });
  const resolved: Record<string, unknown> = {};
  for (const [name, spec] of OPTION_SPECS) {
    // only undefined means the default: null is a value ("off" where the option allows it)
    const value = options[name] === undefined ? spec.fallback : options[name];
    const what = `${naming.caller}: \`${naming.key(name)}\``;
    if (spec.check) spec.check(value, what);
    else checkKind(spec.kind, value, what, spec.choices);
    resolved[name] = value;
  }
  checkKerasRules(resolved as ResolvedOptions, naming);
  checkWorldShards(resolved as ResolvedOptions, naming);
  return Object.freeze(resolved as ResolvedOptions);
}

/**
 * A world of N ranks deals the micro-batches in blocks of M/N, and a block must be a subtree of
 * their sum's tree (memory/shard-tree.ts) for the bytes to be one process's: M/N a power of two.
 */
function checkWorldShards({ world, microBatches }: ResolvedOptions, naming: OptionNaming): void {
  if (world === null || world.size === 1) return;
  const block = microBatches / world.size;
  if (!Number.isInteger(block) || (block & (block - 1)) !== 0)
    throw new RangeError(
      `${naming.caller}: \`${naming.key('microBatches')}\` must be the world's size (${world.size}) times a power of ` +
        `two (each rank's block of micro-batches a subtree of their sum's fixed tree), got ${quote(microBatches)}`,
    );
}

/** Micro-batches of this process: its block of the world's. */
export function localMicroBatches({ world, microBatches }: Pick<ResolvedOptions, 'world' | 'microBatches'>): number {
  return microBatches / (world?.size ?? 1);
}

/** The runtime argument of fromConfig/load: runtime options only. */
export function checkRuntimeOptions(runtime: RuntimeOptions, what: string): RuntimeOptions {
  if (runtime === null || typeof runtime !== 'object')
    throw new TypeError(`${what}: \`runtime\` must be an object, got ${quote(runtime)}`);
  const other = Object.keys(runtime).filter((key) => !isRuntimeOption(key));
  if (other.length > 0) {
    const got = other.map((k) => `'${k}'`).join(', ');
    throw new TypeError(`${what}: \`runtime\` takes only ${RUNTIME_OPTIONS.join(', ')}; got ${got}`);
  }
  return runtime;
}
