/**
 * RMSprop's options: one table gives each Keras argument its camelCase option, snake_case
 * config key, default and type, so validation, defaults and `getConfig()` cannot drift apart.
 * Validation happens up front and mirrors what Keras refuses, plus non-numbers and NaN.
 */
import { availableParallelism } from 'node:os';
import { quote } from './errors.js';
import { hasKernels, isBuiltinKernels, kernelNames, type BuiltinKernelName, type KernelName } from './kernels/index.js';
import { MAX_SEGMENT_BYTES, SEGMENT_GRANULE_BYTES } from './layout.js';
import { deserializeSchedule, LearningRateSchedule, snakeToCamel } from './schedules.js';

export type LearningRate = number | LearningRateSchedule | (() => number);

/** A Keras optimizer config: `get_config()`'s snake_case keys. */
export type KerasConfig = Record<string, unknown>;

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
  /** Default 'rmsprop'. */
  name?: string;
  /**
   * 0 = the calling thread, n = n worker threads (at most `maxWorkers()`), 'auto' (default) = all
   * cores when the model is big enough.
   */
  workers?: number | 'auto';
  /** Bound on every wait for the worker threads, in milliseconds. Default 60000. */
  stepTimeoutMs?: number;
  /**
   * Kernel implementation: 'wasm' (default: WebAssembly SIMD), 'js' (the reference kernels), or
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
}

type Kind = 'number' | 'nullable-number' | 'boolean' | 'nullable-count' | 'string';

interface OptionSpec {
  readonly option: keyof RMSpropOptions;
  readonly fallback: unknown;
  readonly kind: Kind;
}

/** Keras's arguments (without learning_rate) in `get_config()` order. */
export const KERAS_OPTIONS: readonly OptionSpec[] = [
  { option: 'name', fallback: 'rmsprop', kind: 'string' },
  { option: 'weightDecay', fallback: null, kind: 'nullable-number' },
  { option: 'clipnorm', fallback: null, kind: 'nullable-number' },
  { option: 'globalClipnorm', fallback: null, kind: 'nullable-number' },
  { option: 'clipvalue', fallback: null, kind: 'nullable-number' },
  { option: 'useEma', fallback: false, kind: 'boolean' },
  { option: 'emaMomentum', fallback: 0.99, kind: 'number' },
  { option: 'emaOverwriteFrequency', fallback: null, kind: 'nullable-count' },
  { option: 'lossScaleFactor', fallback: null, kind: 'nullable-number' },
  { option: 'gradientAccumulationSteps', fallback: null, kind: 'nullable-count' },
  { option: 'rho', fallback: 0.9, kind: 'number' },
  { option: 'momentum', fallback: 0.0, kind: 'number' },
  { option: 'epsilon', fallback: 1e-7, kind: 'number' },
  { option: 'centered', fallback: false, kind: 'boolean' },
];

export const DEFAULT_LEARNING_RATE = 0.001;
export const DEFAULT_STEP_TIMEOUT_MS = 60_000;
export const DEFAULT_THREAD_IDLE_MS = 10_000;
/** The longest delay Node's timers take (2^31 - 1 ms); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
export const DEFAULT_KERNELS: KernelName = 'wasm';
/**
 * Options of this library (not Keras's): how the update runs, never what it computes. They
 * belong to the caller: a Keras config or a checkpoint never sets them.
 */
export type RuntimeOptions = Pick<
  RMSpropOptions,
  'workers' | 'stepTimeoutMs' | 'kernels' | 'maxSegmentBytes' | 'threadIdleMs'
>;
export const RUNTIME_OPTIONS: ReadonlyArray<keyof RuntimeOptions> = [
  'workers',
  'stepTimeoutMs',
  'kernels',
  'maxSegmentBytes',
  'threadIdleMs',
];
const isRuntimeOption = (key: string): boolean => (RUNTIME_OPTIONS as readonly string[]).includes(key);

/**
 * The most worker threads an optimizer may start: 4 per core, at least 16. More threads than
 * cores only add switching, and a typo such as `workers: 100000` must not start thousands.
 */
export function maxWorkers(): number {
  return Math.max(16, 4 * availableParallelism());
}

/** Options after validation and defaults: what the optimizer runs with. */
export interface ResolvedOptions {
  readonly learningRate: LearningRate;
  readonly name: string;
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly centered: boolean;
  readonly weightDecay: number | null;
  readonly clipnorm: number | null;
  readonly clipvalue: number | null;
  readonly globalClipnorm: number | null;
  readonly useEma: boolean;
  readonly emaMomentum: number;
  readonly emaOverwriteFrequency: number | null;
  readonly lossScaleFactor: number | null;
  readonly gradientAccumulationSteps: number | null;
  readonly workers: number | 'auto';
  readonly stepTimeoutMs: number;
  readonly kernels: KernelName;
  readonly maxSegmentBytes: number;
  readonly threadIdleMs: number;
}

/** A finite number, a schedule or a function (a LearningRateSchedule is a function too). */
export function isLearningRate(x: unknown): x is LearningRate {
  return (typeof x === 'number' && Number.isFinite(Math.fround(x))) || typeof x === 'function';
}

/** Validates every option (naming the culprit) and fills in Keras's defaults. Throws; never partial. */
export function resolveOptions(options: RMSpropOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('RMSprop: options must be an object');
  }
  const known = new Set<string>(['learningRate', ...RUNTIME_OPTIONS, ...KERAS_OPTIONS.map((s) => s.option)]);
  const unknown = Object.entries(options).filter(([k]) => !known.has(k));
  if (unknown.length > 0) {
    throw new TypeError(
      `RMSprop: Argument(s) not recognized: {${unknown.map(([k, v]) => `'${k}': ${String(v)}`).join(', ')}}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const spec of KERAS_OPTIONS) out[spec.option] = checkOption(spec, options[spec.option]);

  const learningRate = options.learningRate ?? DEFAULT_LEARNING_RATE;
  if (!isLearningRate(learningRate)) {
    throw new TypeError(
      `RMSprop: \`learningRate\` must be a finite float32 number, a LearningRateSchedule or a function, got ${quote(learningRate)}`,
    );
  }
  const workers = options.workers ?? 'auto';
  if (workers !== 'auto' && !(Number.isInteger(workers) && workers >= 0)) {
    throw new TypeError(`RMSprop: \`workers\` must be 'auto' or an integer >= 0, got ${quote(workers)}`);
  }
  if (workers !== 'auto' && workers > maxWorkers()) {
    throw new RangeError(
      `RMSprop: \`workers\` must be at most ${maxWorkers()} (maxWorkers(): 4 per core, at least 16), got ${quote(workers)}`,
    );
  }
  const stepTimeoutMs = options.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  if (typeof stepTimeoutMs !== 'number' || !(stepTimeoutMs > 0 && stepTimeoutMs <= MAX_TIMER_MS)) {
    throw new TypeError(
      `RMSprop: \`stepTimeoutMs\` must be a number > 0 and at most ${MAX_TIMER_MS} (a timer's limit), got ${quote(stepTimeoutMs)}`,
    );
  }
  const kernels = options.kernels ?? DEFAULT_KERNELS;
  if (!hasKernels(kernels)) {
    throw new TypeError(
      `RMSprop: \`kernels\` must be one of ${kernelNames()
        .map((k) => `'${k}'`)
        .join(', ')}, got ${quote(kernels)}; ` +
        "a custom set's module must call registerKernels(import.meta.url, set) and be imported first",
    );
  }
  const maxSegmentBytes = options.maxSegmentBytes ?? MAX_SEGMENT_BYTES;
  if (
    !Number.isInteger(maxSegmentBytes) ||
    maxSegmentBytes <= 0 ||
    maxSegmentBytes > MAX_SEGMENT_BYTES ||
    maxSegmentBytes % SEGMENT_GRANULE_BYTES !== 0
  ) {
    throw new TypeError(
      `RMSprop: \`maxSegmentBytes\` must be a positive multiple of ${SEGMENT_GRANULE_BYTES} up to ${MAX_SEGMENT_BYTES}, got ${quote(maxSegmentBytes)}`,
    );
  }
  const threadIdleMs = options.threadIdleMs ?? DEFAULT_THREAD_IDLE_MS;
  if (typeof threadIdleMs !== 'number' || !(threadIdleMs >= 0 && threadIdleMs <= MAX_TIMER_MS)) {
    throw new TypeError(
      `RMSprop: \`threadIdleMs\` must be a number from 0 to ${MAX_TIMER_MS}, got ${quote(threadIdleMs)}`,
    );
  }
  const resolved = {
    ...out,
    learningRate,
    workers,
    stepTimeoutMs,
    kernels,
    maxSegmentBytes,
    threadIdleMs,
  } as unknown as ResolvedOptions;
  checkKerasRules(resolved);
  return Object.freeze(resolved);
}

function checkOption(spec: OptionSpec, raw: unknown): unknown {
  const value = raw === undefined ? spec.fallback : raw;
  const what = `RMSprop: \`${spec.option}\``;
  const nullable = spec.kind.startsWith('nullable');
  if (value === null && nullable) return null;
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string' || value.length === 0)
        throw new TypeError(`${what} must be a non-empty string, got ${quote(value)}`);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw new TypeError(`${what} must be a boolean, got ${quote(value)}`);
      return value;
    case 'nullable-count':
      if (!Number.isInteger(value)) throw new TypeError(`${what} must be an integer or null, got ${quote(value)}`);
      return value;
    default:
      // a non-finite value would be written to a config as null (JSON has no Infinity)
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new TypeError(`${what} must be a finite number${nullable ? ' or null' : ''}, got ${quote(value)}`);
      }
      return value;
  }
}

/** The argument checks of Keras's `BaseOptimizer.__init__`, in its order and wording. */
function checkKerasRules(o: ResolvedOptions): void {
  if (o.gradientAccumulationSteps && !(o.gradientAccumulationSteps >= 2)) {
    throw new RangeError(
      `RMSprop: \`gradientAccumulationSteps\` must be an integer >= 2. Received: gradientAccumulationSteps=${o.gradientAccumulationSteps}`,
    );
  }
  if (o.useEma) {
    if (o.emaMomentum > 1 || o.emaMomentum < 0) {
      throw new RangeError(
        `RMSprop: \`emaMomentum\` must be in the range [0, 1]. Received: emaMomentum=${o.emaMomentum}`,
      );
    }
    if (o.emaOverwriteFrequency && o.emaOverwriteFrequency < 1) {
      throw new RangeError(
        `RMSprop: \`emaOverwriteFrequency\` must be an integer >= 1 or null. Received: emaOverwriteFrequency=${o.emaOverwriteFrequency}`,
      );
    }
  }
  const clips = [o.clipnorm, o.clipvalue, o.globalClipnorm].filter((c) => c !== null).length;
  if (clips > 1) {
    throw new RangeError(
      'RMSprop: Only one of `clipnorm`, `clipvalue` and `globalClipnorm` can be set. ' +
        `Received: clipnorm=${o.clipnorm}, clipvalue=${o.clipvalue}, globalClipnorm=${o.globalClipnorm}`,
    );
  }
}

/**
 * 'auto' uses threads only when each would get at least this many elements. Waking the pool
 * costs tens of microseconds a phase (bench/step.ts measures it); on the 2-core development VM
 * two lanes of SIMD kernels overtake the calling thread at about 500k parameters, the JS
 * kernels (five times slower) much sooner. A custom kernel set counts as 'js' (its speed is unknown).
 */
export const MIN_ELEMENTS_PER_WORKER: Readonly<Record<BuiltinKernelName, number>> = Object.freeze({
  wasm: 1 << 18,
  js: 1 << 15,
});

/** The runtime argument of fromConfig/load: runtime options only. */
export function checkRuntimeOptions(runtime: RuntimeOptions, what: string): RuntimeOptions {
  if (runtime === null || typeof runtime !== 'object')
    throw new TypeError(`${what}: \`runtime\` must be an object, got ${quote(runtime)}`);
  const other = Object.keys(runtime).filter((key) => !isRuntimeOption(key));
  if (other.length > 0) {
    throw new TypeError(
      `${what}: \`runtime\` takes only ${RUNTIME_OPTIONS.join(', ')}; got ${other.map((k) => `'${k}'`).join(', ')}`,
    );
  }
  return runtime;
}

/** 'auto': every core, but only when each thread gets enough elements to pay for itself. */
export function resolveLanes(
  workers: number | 'auto',
  totalElements: number,
  kernels: KernelName = DEFAULT_KERNELS,
): number {
  if (workers !== 'auto') return workers;
  const perWorker = MIN_ELEMENTS_PER_WORKER[isBuiltinKernels(kernels) ? kernels : 'js'];
  const lanes = Math.min(availableParallelism(), Math.floor(totalElements / perWorker));
  return lanes >= 2 ? lanes : 0;
}

/**
 * Keras's snake_case config as camelCase options (a serialized schedule becomes a schedule).
 * Runtime options (threads, kernels, timeouts) are the caller's: a config naming one is refused.
 */
export function optionsFromConfig(config: KerasConfig): RMSpropOptions {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`fromConfig: config must be an object, got ${quote(config)}`);
  }
  const runtime = Object.keys(config).filter((key) => isRuntimeOption(snakeToCamel(key)));
  if (runtime.length > 0) {
    throw new TypeError(
      `fromConfig: ${runtime.map((k) => `'${k}'`).join(', ')} ${runtime.length > 1 ? 'are runtime options' : 'is a runtime option'} of this ` +
        'library, not a Keras argument: a config or a checkpoint never sets it; pass it as the runtime argument',
    );
  }
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    options[snakeToCamel(key)] =
      key === 'learning_rate' && value !== null && typeof value === 'object' ? deserializeSchedule(value) : value;
  }
  return options;
}
