/**
 * Data-parallel training on every core: replicas (long-lived worker threads, each holding the
 * model through a replica module, see replica.ts) compute the gradients of the batch's M
 * micro-batches, each into its own gradient shard of the optimizer's arena; then the
 * optimizer's `step()` applies their mean, summed in shard order inside its one fused pass.
 * Micro-batch j's gradient depends only on the values and its rows, never on which replica
 * computed it, so the bytes after a step are the same for any number of replicas and lanes.
 *
 * A step: the batch is copied once into shared memory; each replica computes its micro-batches
 * (j, j + R, ...) in turn; when all are in, the optimizer steps. A replica that throws, dies or
 * overruns `stepTimeoutMs` fails the step before the optimizer runs: nothing has changed.
 */
import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CallQueue } from '../common/call-queue.js';
import { isHalf } from '../memory/dtype.js';
import { quote } from '../common/quote.js';
import { RMSprop } from '../optimizer/optimizer.js';
import { checkCount } from '../optimizer/option-checks.js';
import type { Variable } from '../optimizer/variable.js';
import { StepError } from '../pool/step-error.js';
import { microBatchSeed } from './randomness.js';
import { checkedReplicaOptions } from './replica-options.js';
import { ReplicaThread } from './replica-thread.js';
import type { ReplicaStart, RowShape, VariablePlacement } from './replica.js';

/** What a {@link DataParallelTrainer} trains, and with what. */
export interface TrainerOptions {
  /** The optimizer; built over `variables` here if it is not yet. Its `microBatches` is M. */
  readonly optimizer: RMSprop;
  readonly variables: readonly Variable[];
  /** The replica module (an ESM file exporting `createReplica`): a file URL or an absolute path. */
  readonly replica: string | URL;
  /** Passed to `createReplica` (structured-cloned to each thread). */
  readonly replicaOptions?: unknown;
  /** Replica threads: a number (at most M), or 'auto' (default): one per core, at most M. */
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

/** What a batch's rows may be: integers (token ids, class indices) reach the replicas as float32, exact up to 2^24. */
export type BatchArray = Float32Array | Int32Array;

/** One training batch: `rows` rows, row-major. M must divide `rows`. */
export interface Batch<Inputs extends BatchArray = Float32Array, Targets extends BatchArray = Float32Array> {
  readonly inputs: Inputs;
  readonly targets: Targets;
  readonly rows: number;
}

/** The largest integer magnitude a float32 holds exactly. */
const EXACT_INTEGER = 2 ** 24;

/** The least time a replica thread is given to start: import its module and create the replica. */
const START_TIMEOUT_MS = 60_000;

/**
 * Data-parallel training: replica threads compute the gradients of a batch's micro-batches into
 * the optimizer's gradient shards, then the optimizer steps with their mean. The optimizer's
 * `microBatches` is the number of micro-batches per step.
 *
 * @example
 * ```ts
 * const optimizer = new RMSprop({ microBatches: 4 });
 * const trainer = new DataParallelTrainer({ optimizer, variables, replica: new URL('./replica.mjs', import.meta.url) });
 * const loss = await trainer.step({ inputs, targets, rows: 128 });
 * await trainer.close(); // the replica threads; then optimizer.close()
 * ```
 */
export class DataParallelTrainer {
  readonly optimizer: RMSprop;
  readonly microBatches: number;
  /** Replica threads used per step. */
  readonly replicas: number;
  /** The replica module's options as its threads receive them (for the tfjs replica: checked, defaults filled in). */
  readonly replicaOptions: unknown;
  /** The last step's parts, in ms: the replicas' gradients (batch staging included), the optimizer's update. */
  readonly timings = { gradientsMs: 0, updateMs: 0 };
  readonly #start: Omit<ReplicaStart, 'replica'>;
  readonly #timeoutMs: number;
  readonly #seed: number;
  readonly #threads: Array<ReplicaThread | null>;
  readonly #queue = new CallQueue();
  /** The batch in shared memory: grown when a larger batch comes, else reused. */
  #inputs = new Float32Array(new SharedArrayBuffer(4));
  #targets = new Float32Array(new SharedArrayBuffer(4));
  /** Per micro-batch: its rows of the staged batch (views, remade only when the batch's shape changes). */
  #slices: Array<{ inputs: Float32Array; targets: Float32Array }> = [];
  #rowsPerMicroBatch = 0;
  /** What a row holds for the replicas' model: as the options check could tell, then as a replica says. */
  #rowShape: RowShape | null;
  /** The micro-batches' losses of the step in flight. */
  readonly #losses: Float64Array;
  #steps = 0;
  #closed = false;

  constructor(options: TrainerOptions) {
    const { optimizer, variables } = options;
    // every argument checked before the optimizer is built over the variables
    if (!(optimizer instanceof RMSprop)) {
      const scaler = optimizer !== null && typeof optimizer === 'object' && 'innerOptimizer' in optimizer;
      throw new TypeError(
        `DataParallelTrainer: \`optimizer\` must be an RMSprop, got ${quote(optimizer)}` +
          (scaler
            ? ' (a LossScaleOptimizer: the replicas compute the loss unscaled, so loss scaling cannot apply)'
            : ''),
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
    this.replicaOptions = checked.options;
    this.#rowShape = checked.rowShape;
    const replicas = options.replicas ?? 'auto';
    this.#timeoutMs = options.stepTimeoutMs ?? 60_000;
    checkCount(this.#timeoutMs, 'DataParallelTrainer: `stepTimeoutMs`', 1, 2 ** 31 - 1);
    this.#seed = options.seed ?? 0;
    checkCount(this.#seed, 'DataParallelTrainer: `seed`', 0, 2 ** 32 - 1);
    this.microBatches = optimizer.microBatches;
    if (replicas !== 'auto') checkCount(replicas, 'DataParallelTrainer: `replicas`', 1, this.microBatches);
    this.replicas = replicas === 'auto' ? Math.min(availableParallelism(), this.microBatches) : replicas;
    optimizer.build([...variables]);
    this.optimizer = optimizer;
    this.#start = { module, options: this.replicaOptions, variables: variables.map(placement) };
    this.#threads = Array.from({ length: this.replicas }, () => null);
    this.#losses = new Float64Array(this.microBatches);
  }

  /** Steps taken. */
  get steps(): number {
    return this.#steps;
  }

  /**
   * One training step: the gradients of the batch's micro-batches on the replicas, then the
   * optimizer's step with their mean. Resolves to the mean of the micro-batches' losses.
   */
  step(batch: Batch<BatchArray, BatchArray>): Promise<number> {
    let loss = NaN;
    const done = this.#queue.run(async () => {
      loss = await this.#step(batch);
    });
    return done.then(() => loss);
  }

  async #step(batch: Batch<BatchArray, BatchArray>): Promise<number> {
    if (this.#closed) throw new Error('DataParallelTrainer: step() after close()');
    const started = performance.now();
    checkBatch(batch, this.microBatches);
    this.#checkRows(batch); // where the shape is known already: before any thread starts
    if (await this.#ready()) this.#checkRows(batch); // as the replicas' model says
    this.#stage(batch);
    for (const t of this.#threads) t?.hold(true); // a step in flight keeps the process alive
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      for (const t of this.#threads) t?.fail(new Error(`timed out after ${this.#timeoutMs} ms`));
    }, this.#timeoutMs);
    try {
      // every replica's calls settle before the step fails: none is left writing a shard
      const outcomes = await Promise.allSettled(this.#threads.map((_, r) => this.#replicaShare(r)));
      const failed = outcomes.find((o) => o.status === 'rejected');
      if (failed) {
        if (timedOut) await this.#endAll(); // a stuck replica: end them all
        throw failed.reason;
      }
    } finally {
      clearTimeout(timer);
      for (const t of this.#threads) t?.hold(false); // idle replicas do not keep it alive
    }
    const updating = performance.now();
    await this.optimizer.step();
    this.timings.gradientsMs = updating - started;
    this.timings.updateMs = performance.now() - updating;
    this.#steps++;
    let sum = 0;
    for (const loss of this.#losses) sum += loss;
    return sum / this.microBatches;
  }

  /** Replica `r`'s micro-batches of the step, r, r + R, ..., one after another. */
  async #replicaShare(r: number): Promise<void> {
    for (let j = r; j < this.microBatches; j += this.replicas) {
      try {
        const thread = this.#threads[r]!; // started by #ready; a death since fails this call
        const { inputs, targets } = this.#slices[j]!;
        const seed = microBatchSeed(this.#seed, this.optimizer.calls, j);
        this.#losses[j] = await thread.gradients(this.#steps, j, seed, inputs, targets, this.#rowsPerMicroBatch);
      } catch (cause) {
        throw new StepError(
          `step ${this.#steps + 1} of the trainer failed: replica ${r} on micro-batch ${j}: ` +
            `${cause instanceof Error ? cause.message : String(cause)}; nothing was changed`,
          { cause, stateCorrupted: false },
        );
      }
    }
  }

  /** Copies the batch (checked) into the shared buffers, growing them only for a larger batch, and cuts it into micro-batches. */
  #stage({ inputs, targets, rows }: Batch<BatchArray, BatchArray>): void {
    const [inputWidth, targetWidth] = [inputs.length / rows, targets.length / rows];
    const perMicroBatch = rows / this.microBatches;
    const first = this.#slices[0];
    if (first?.inputs.length !== perMicroBatch * inputWidth || first.targets.length !== perMicroBatch * targetWidth) {
      if (this.#inputs.length < inputs.length)
        this.#inputs = new Float32Array(new SharedArrayBuffer(inputs.byteLength));
      if (this.#targets.length < targets.length) {
        this.#targets = new Float32Array(new SharedArrayBuffer(targets.byteLength));
      }
      const cut = (array: Float32Array, width: number, j: number) =>
        array.subarray(j * perMicroBatch * width, (j + 1) * perMicroBatch * width);
      this.#slices = Array.from({ length: this.microBatches }, (_, j) => ({
        inputs: cut(this.#inputs, inputWidth, j),
        targets: cut(this.#targets, targetWidth, j),
      }));
      this.#rowsPerMicroBatch = perMicroBatch;
    }
    this.#inputs.set(inputs);
    this.#targets.set(targets);
  }

  /** Throws, naming both shapes, unless the batch's rows are what the replicas' model takes. */
  #checkRows({ inputs, targets, rows }: Batch<BatchArray, BatchArray>): void {
    if (this.#rowShape === null) return;
    const parts = [
      ['input', inputs.length / rows, this.#rowShape.inputs],
      ['target', targets.length / rows, this.#rowShape.targets],
    ] as const;
    for (const [what, width, shape] of parts) {
      if (shape === undefined) continue;
      const expected = shape.reduce((n, d) => n * d, 1);
      if (width !== expected) {
        throw new RangeError(
          `DataParallelTrainer.step: each of the batch's ${rows} rows holds ${width} ${what} values; ` +
            `the replicas' model takes ${what}s of shape [${shape.join(', ')}], ${expected} values a row`,
        );
      }
    }
  }

  /**
   * Starts the replica threads that are not running (the first step, or after one ended), before
   * the step's clock starts: loading a module and building a model is no gradient and may take
   * longer than a step. Bounded on its own; a replica that fails to start fails the step.
   * Resolves to whether it started any.
   */
  async #ready(): Promise<boolean> {
    let cold = false;
    for (const t of this.#threads) cold ||= t?.alive !== true;
    if (!cold) return false; // the steady state: nothing to start, nothing allocated
    const bound = Math.max(this.#timeoutMs, START_TIMEOUT_MS);
    const starting = this.#threads.map((t) => (t?.alive === true ? null : new ReplicaThread()));
    const timer = setTimeout(() => {
      for (const t of starting) t?.fail(new Error(`its thread did not start within ${bound} ms`));
    }, bound);
    const outcomes = await Promise.allSettled(
      starting.map(async (thread, r) => {
        if (thread === null) return;
        this.#threads[r] = thread;
        try {
          this.#rowShape = (await thread.start({ ...this.#start, replica: r })) ?? this.#rowShape;
        } catch (cause) {
          this.#threads[r] = null;
          await thread.terminate();
          throw new StepError(
            `step ${this.#steps + 1} of the trainer failed: replica ${r} did not start: ` +
              `${cause instanceof Error ? cause.message : String(cause)}; nothing was changed`,
            { cause, stateCorrupted: false },
          );
        }
      }),
    );
    clearTimeout(timer);
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) {
      await this.#endAll(); // the timer may have failed threads that had started: none is left half-held
      throw failed.reason;
    }
    return true;
  }

  async #endAll(): Promise<void> {
    const threads = this.#threads.splice(0, this.#threads.length, ...this.#threads.map(() => null));
    await Promise.all(threads.map(async (t) => await t?.terminate()));
  }

  /** Ends the replica threads (after the steps queued before it). The optimizer stays open: it is the caller's. */
  close(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#closed) return;
      this.#closed = true;
      for (const t of this.#threads) t?.hold(true); // awaited: keeps the process alive until the replicas answer
      await Promise.all(this.#threads.map(async (t) => await t?.close()));
      await this.#endAll();
    });
  }
}

/** Throws unless the batch's arrays, rows and lengths make whole micro-batches of exact values. */
function checkBatch({ inputs, targets, rows }: Batch<BatchArray, BatchArray>, microBatches: number): void {
  const isRows = (a: unknown) => a instanceof Float32Array || a instanceof Int32Array;
  if (!isRows(inputs) || !isRows(targets)) {
    throw new TypeError(
      `DataParallelTrainer.step: \`inputs\` and \`targets\` must be Float32Arrays or Int32Arrays, got ${quote(inputs)} and ${quote(targets)}`,
    );
  }
  if (!Number.isInteger(rows) || rows <= 0 || rows % microBatches !== 0) {
    throw new RangeError(
      `DataParallelTrainer.step: \`rows\` must be a positive multiple of microBatches (${microBatches}), got ${quote(rows)}`,
    );
  }
  if (inputs.length % rows !== 0 || targets.length % rows !== 0) {
    throw new RangeError(
      `DataParallelTrainer.step: inputs (${inputs.length}) and targets (${targets.length}) must be whole rows of ${rows}`,
    );
  }
  if (inputs instanceof Int32Array) checkExact(inputs, 'inputs');
  if (targets instanceof Int32Array) checkExact(targets, 'targets');
}

/** Throws unless every integer reaches the replicas unchanged as float32 (a plain loop: nothing allocated per step). */
function checkExact(array: Int32Array, what: string): void {
  for (let i = 0; i < array.length; i++) {
    if (Math.abs(array[i]!) > EXACT_INTEGER) {
      throw new RangeError(
        `DataParallelTrainer.step: \`${what}\`[${i}] is ${array[i]}: integers reach the replicas as float32, exact up to 2^24`,
      );
    }
  }
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
function placement(v: Variable): VariablePlacement {
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
