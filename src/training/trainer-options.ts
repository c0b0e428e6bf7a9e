/**
 * A `DataParallelTrainer`'s options, checked on the calling thread before anything is built: a
 * bad one is refused naming it, and the variables and the optimizer stay as they were.
 */
import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { refuseUnknownKeys } from '../common/option-keys.js';
import { quote } from '../common/quote.js';
import { isHalf } from '../memory/dtype.js';
import { RMSprop } from '../optimizer/optimizer.js';
import { checkCount, MAX_TIMER_MS } from '../common/option-rules.js';
import type { Variable } from '../optimizer/variable.js';
import { checkedReplicaOptions } from './replica-options.js';
import type { RowShape, VariablePlacement } from './replica.js';

/** What a {@link DataParallelTrainer} trains, and with what. */
export interface TrainerOptions {
  /** The optimizer; built over `variables` here if it is not yet. Its `microBatches` is M. */
  readonly optimizer: RMSprop;
  readonly variables: readonly Variable[];
  /** The replica module (an ESM file exporting `createReplica`): a file URL or an absolute path. */
  readonly replica: string | URL;
  /** Passed to `createReplica` (structured-cloned to each thread). */
  readonly replicaOptions?: unknown;
  /** Replica threads: a number (at most M; a rank of a world: its M/N), or 'auto' (default): one per core, at most that. */
  readonly replicas?: number | 'auto';
  /**
   * Bound on one step's gradients, in milliseconds: past it the replicas are ended. Default 60000.
   * Starting a replica thread (its module, `createReplica`) is bounded apart, by
   * `max(stepTimeoutMs, 60000)`: it is no gradient, and it may take longer than a step.
   */
  readonly stepTimeoutMs?: number;
  /**
   * Seeds the micro-batches' randomness (Dropout, noise layers): micro-batch j of the optimizer's
   * call t (`optimizer.calls`, restored with a checkpoint) draws from a stream of (seed, t, j),
   * whichever replica runs it. An integer in
   * [0, 2^32); default 0, so a run repeats by default.
   */
  readonly seed?: number;
}

/** Every key of `TrainerOptions` (the compiler holds the record to it: none missing, none extra). */
const TRAINER_KEYS = Object.keys({
  optimizer: true,
  variables: true,
  replica: true,
  replicaOptions: true,
  replicas: true,
  stepTimeoutMs: true,
  seed: true,
} satisfies Record<keyof TrainerOptions, true>);

/** The options, checked, with the defaults filled in. */
export interface CheckedTrainerOptions {
  readonly optimizer: RMSprop;
  readonly variables: readonly Variable[];
  /** The replica module's URL. */
  readonly module: string;
  /** The replica module's options as its threads receive them. */
  readonly replicaOptions: unknown;
  /** What a row holds, where the options check could tell. */
  readonly rowShape: RowShape | null;
  readonly timeoutMs: number;
  readonly seed: number;
  readonly replicas: number;
}

/** Checks a trainer's options; throws naming the first bad one. Builds nothing. */
export function checkTrainerOptions(options: TrainerOptions): CheckedTrainerOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`DataParallelTrainer: options must be an object, got ${quote(options)}`);
  }
  refuseUnknownKeys(options, { caller: 'DataParallelTrainer', known: TRAINER_KEYS, spelling: 'camelCase' });
  const { optimizer, variables } = options;
  if (!(optimizer instanceof RMSprop)) {
    const scaler = optimizer !== null && typeof optimizer === 'object' && 'innerOptimizer' in optimizer;
    throw new TypeError(
      `DataParallelTrainer: \`optimizer\` must be an RMSprop, got ${quote(optimizer)}` +
        (scaler ? ' (a LossScaleOptimizer: the replicas compute the loss unscaled, so loss scaling cannot apply)' : ''),
    );
  }
  const listed: readonly Variable[] = Array.isArray(variables) ? variables : [];
  const half = listed.find((v) => v instanceof Object && isHalf(v.dtype));
  if (half !== undefined)
    throw new TypeError(
      `DataParallelTrainer: variable '${half.name}' is ${half.dtype}; replicas write float32 gradients, so the trainer takes float32 and float64 variables`,
    );
  const module = moduleUrl(options.replica);
  const checked = checkedReplicaOptions(module, options.replicaOptions, variables);
  const replicas = options.replicas ?? 'auto';
  const timeoutMs = options.stepTimeoutMs ?? 60_000;
  checkCount(timeoutMs, 'DataParallelTrainer: `stepTimeoutMs`', 1, MAX_TIMER_MS);
  const seed = options.seed ?? 0;
  checkCount(seed, 'DataParallelTrainer: `seed`', 0, 2 ** 32 - 1);
  // a rank of a world computes its block of the micro-batches
  const microBatches = optimizer.microBatches / (optimizer.world?.size ?? 1);
  if (replicas !== 'auto') checkCount(replicas, 'DataParallelTrainer: `replicas`', 1, microBatches);
  return {
    optimizer,
    variables,
    module,
    replicaOptions: checked.options,
    rowShape: checked.rowShape,
    timeoutMs,
    seed,
    replicas: replicas === 'auto' ? Math.min(availableParallelism(), microBatches) : replicas,
  };
}

/** The replica module's URL: a URL, or an absolute path (a relative one would depend on the working directory). */
function moduleUrl(replica: unknown): string {
  if (replica instanceof URL) return replica.href;
  if (typeof replica === 'string') {
    if (isAbsolute(replica)) return pathToFileURL(replica).href;
    if (URL.canParse(replica)) return replica;
  }
  throw new TypeError(
    `DataParallelTrainer: \`replica\` must be the module's URL or absolute path, got ${quote(replica)}`,
  );
}

/** Where a built variable's value and gradient shards are, for a replica thread. */
export function placement(v: Variable): VariablePlacement {
  return {
    name: v.name,
    shape: v.shape,
    dtype: v.dtype,
    buffer: v.value.buffer as SharedArrayBuffer,
    valueOffset: v.value.byteOffset,
    shardOffsets: v.gradShards.map((g) => g.byteOffset),
    size: v.size,
  };
}
