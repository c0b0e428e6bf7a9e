/**
 * Data-parallel training on every core: replicas (long-lived worker threads, each holding the
 * model through a replica module, see replica.ts) compute the gradients of the batch's M
 * micro-batches, each into its own gradient shard of the optimizer's arena; then the
 * optimizer's `step()` applies their mean, summed in the shards' tree (memory/shard-tree.ts) inside
 * its one fused pass.
 * Micro-batch j's gradient depends only on the values and its rows, never on which replica
 * computed it, so the bytes after a step are the same for any number of replicas and lanes.
 *
 * A step: the batch is copied once into shared memory; each replica computes its micro-batches
 * (j, j + R, ...) in turn; when all are in, the optimizer steps. A replica that throws, dies or
 * overruns `stepTimeoutMs` fails the step before the optimizer runs: nothing has changed.
 *
 * With an optimizer over a world of N ranks, each rank runs a trainer over the same batches and
 * computes its own block of M/N micro-batches (rank r: r·M/N, ...); the optimizer's step takes
 * the mean over every rank's, and the micro-batches' losses and metrics are gathered, so every
 * rank returns the same loss. A rank whose replicas fail says so to the others, which fail the
 * step naming it.
 */
import { bounded } from '../common/bounded.js';
import { CallQueue } from '../common/call-queue.js';
import type { RMSprop } from '../optimizer/optimizer.js';
import { checkCount } from '../common/option-rules.js';
import type { Variable } from '../optimizer/variable.js';
import { StepError } from '../pool/step-error.js';
import { checkSameBatch, waitedTooLong } from './same-batch.js';
import { RanksWord } from '../distributed/ranks-word.js';
import { chunkShare, settleEvaluation } from './world-evaluation.js';
import { microBatchSeed } from './randomness.js';
import { ReplicaThread } from './replica-thread.js';
import type { ReplicaStart, ReplicaTraits, RowShape } from './replica.js';
import { checkTrainerOptions, placement, type TrainerOptions } from './trainer-options.js';
import { meanOverParts, weighShards } from './micro-batch-means.js';
import {
  checkBatch,
  checkRowShape,
  chunksOf,
  evenParts,
  SharedRows,
  type Batch,
  type BatchArray,
  type RowPart,
} from './shared-rows.js';

export type { Batch, BatchArray } from './shared-rows.js';
export type { TrainerOptions } from './trainer-options.js';

/** The least time a replica thread is given to start: import its module and create the replica. */
const START_TIMEOUT_MS = 60_000;

/** What `evaluate` resolves to: per chunk of rows, in order, its rows and its `[loss, ...metrics]`. */
export interface Evaluation {
  readonly rows: readonly number[];
  readonly values: ReadonlyArray<readonly number[]>;
}

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
  readonly #variables: readonly Variable[];
  readonly #timeoutMs: number;
  readonly #seed: number;
  readonly #threads: Array<ReplicaThread | null>;
  readonly #queue = new CallQueue();
  /** The step's batch and the evaluated rows, in shared memory. */
  readonly #batch = new SharedRows();
  readonly #evaluated = new SharedRows();
  /** What a row holds for the replicas' model: as the options check could tell, then as a replica says. */
  #rowShape: RowShape | null;
  /** What the replicas compute after the loss, and whether they evaluate: as the first one started says. */
  #metricNames: readonly string[] = [];
  #evaluates = false;
  /** Per micro-batch of the step in flight: its loss, then its metrics. */
  #values = new Float64Array(0);
  /** The last step's metrics, in `metricNames`' order. */
  #metrics = new Float64Array(0);
  #steps = 0;
  #closed = false;
  /** This process's micro-batches: `#own` of them from `#first` (a rank of a world: its block; else all). */
  readonly #first: number;
  readonly #own: number;
  /** A world's ranks' parts of `#values`, and where each goes, in float64s: sized when the metrics are known. */
  #valueCounts = new Int32Array(0);
  #valueAt = new Int32Array(0);
  /** A rank of several: the ranks' word, on each step's batch and on an evaluation's shares. */
  readonly #word: RanksWord | null;

  constructor(options: TrainerOptions) {
    const { optimizer, variables, module, replicaOptions, rowShape, timeoutMs, seed, replicas } =
      checkTrainerOptions(options); // every argument checked before the optimizer is built over the variables
    this.replicaOptions = replicaOptions;
    this.#rowShape = rowShape;
    this.#timeoutMs = timeoutMs;
    this.#seed = seed;
    this.microBatches = optimizer.microBatches;
    this.#own = this.microBatches / (optimizer.world?.size ?? 1);
    this.#first = (optimizer.world?.rank ?? 0) * this.#own;
    this.#word = optimizer.world !== null && optimizer.world.size > 1 ? new RanksWord(optimizer.world) : null;
    this.replicas = replicas;
    optimizer.build([...variables]);
    this.optimizer = optimizer;
    this.#variables = [...variables];
    this.#start = {
      module,
      options: this.replicaOptions,
      variables: variables.map(placement),
      firstMicroBatch: this.#first,
    };
    this.#threads = Array.from({ length: this.replicas }, () => null);
    this.#sizeValues(1);
  }

  /** Steps taken. */
  get steps(): number {
    return this.#steps;
  }

  /** The names of the metrics the replicas compute after the loss (known once they have started: the first step). */
  get metricNames(): readonly string[] {
    return this.#metricNames;
  }

  /** The last step's metrics, in `metricNames`' order: the micro-batches' means, weighted by their rows. */
  get metrics(): Float64Array {
    return this.#metrics;
  }

  /**
   * Starts the replica threads that are not running, as the first step would: their modules
   * imported and their replicas created, so that `metricNames` is known and the first step's
   * clock holds only its gradients. Bounded as a step's start is.
   */
  start(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#closed) throw new Error('DataParallelTrainer: start() after close()');
      await this.#ready();
    });
  }

  /**
   * One training step: the gradients of the batch's micro-batches on the replicas, then the
   * optimizer's step with their mean. Resolves to the batch's loss: the mean of the micro-batches'
   * losses, weighted by their rows. A batch that the micro-batches do not divide evenly (an epoch's
   * last) is cut as evenly as can be, the first micro-batches a row larger; each shard is then
   * weighed by its rows, so the step applies the gradient of the whole batch's mean loss.
   */
  step(batch: Batch<BatchArray, BatchArray>): Promise<number> {
    let loss = NaN;
    const done = this.#queue.run(async () => {
      loss = await this.#step(batch);
    });
    return done.then(() => loss);
  }

  /**
   * The loss and the metrics of `batch`'s rows at the current values, without gradients (a
   * validation pass): the rows cut into chunks of `chunkRows` (the last one smaller), each
   * evaluated by one replica, chunk k by replica k mod R. Resolves to each chunk's rows and values,
   * in order: what they depend on is fixed, whatever the number of replicas. Over a world, every
   * rank calls it with the same batch, evaluates its share of the chunks, and gets every chunk's.
   */
  evaluate(batch: Batch<BatchArray, BatchArray>, chunkRows: number): Promise<Evaluation> {
    let evaluation: Evaluation | null = null;
    const done = this.#queue.run(async () => {
      evaluation = await this.#evaluate(batch, chunkRows);
    });
    return done.then(() => evaluation!);
  }

  async #step(batch: Batch<BatchArray, BatchArray>): Promise<number> {
    if (this.#closed) throw new Error('DataParallelTrainer: step() after close()');
    const started = performance.now();
    checkBatch(batch, 'DataParallelTrainer.step');
    checkRowShape(batch, this.#rowShape); // where the shape is known already: before any thread starts
    if (await this.#ready()) checkRowShape(batch, this.#rowShape); // as the replicas' model says
    const parts = this.#batch.stage(batch, (rows) => evenParts(rows, this.microBatches));
    if (this.#word !== null) await checkSameBatch(this.#word, this.#batch, this.#steps + 1, this.#timeoutMs);
    const first = this.#first;
    await this.#onReplicas(
      this.#own,
      this.#timeoutMs,
      (thread, k) => this.#microBatch(thread, first + k, parts[first + k]!),
      (r, k) => `step ${this.#steps + 1} of the trainer failed: replica ${r} on micro-batch ${first + k}`,
    ).catch(async (error: unknown) => {
      await this.optimizer.abandonStep().catch(() => undefined); // the world's other ranks fail, naming this one
      throw error;
    });
    const even = parts.every((p) => p.rows === parts[0]!.rows);
    if (!even) weighShards(this.#variables, parts, batch.rows, first);
    const updating = performance.now();
    await this.optimizer.step();
    this.timings.gradientsMs = updating - started;
    this.timings.updateMs = performance.now() - updating;
    await this.#gatherValues();
    this.#steps++;
    return meanOverParts(this.#values, this.#metrics, parts, batch.rows, even);
  }

  /** Micro-batch `j` on `thread`: its gradients into shard j, its values into the step's; an empty one has a zero gradient. */
  async #microBatch(thread: ReplicaThread, j: number, part: RowPart): Promise<void> {
    const width = 1 + this.#metricNames.length;
    if (part.rows === 0) {
      for (const v of this.#variables) v.gradShards[j - this.#first]!.fill(0);
      this.#values.fill(0, j * width, (j + 1) * width);
      return;
    }
    const seed = microBatchSeed(this.#seed, this.optimizer.calls, j);
    const { rows, inputs, targets, sampleWeights } = part;
    const values = await thread.gradients(this.#steps, j, seed, rows, inputs, targets, sampleWeights);
    this.#values.set(values, j * width);
  }

  /** A world's ranks' losses and metrics, each rank's micro-batches' to every rank (bounded). */
  async #gatherValues(): Promise<void> {
    const world = this.optimizer.world;
    if (world === null || world.size === 1) return;
    const gathered = world.allgatherv(null, this.#values, this.#valueCounts, this.#valueAt, 8);
    const call = `step ${this.#steps + 1} of the trainer`;
    await bounded(gathered, this.#timeoutMs, () =>
      waitedTooLong(world.rank, call, "the other ranks' losses", this.#timeoutMs),
    );
  }

  async #evaluate(batch: Batch<BatchArray, BatchArray>, chunkRows: number): Promise<Evaluation> {
    if (this.#closed) throw new Error('DataParallelTrainer: evaluate() after close()');
    checkBatch(batch, 'DataParallelTrainer.evaluate');
    checkCount(chunkRows, 'DataParallelTrainer.evaluate: `chunkRows`', 1, 2 ** 31 - 1);
    checkRowShape(batch, this.#rowShape);
    if (await this.#ready()) checkRowShape(batch, this.#rowShape);
    if (!this.#evaluates)
      throw new Error('DataParallelTrainer.evaluate: the replica module does not implement evaluate()');
    const parts = this.#evaluated.stage(batch, (rows) => chunksOf(rows, chunkRows));
    const values: Array<readonly number[]> = parts.map(() => []);
    const world = this.optimizer.world;
    const [first, end] = chunkShare(parts.length, world?.rank ?? 0, world?.size ?? 1); // this rank's share
    const rowsOf = (j: number) => `${j * chunkRows} to ${j * chunkRows + parts[j]!.rows}`;
    const evaluated = this.#onReplicas(
      end - first,
      this.#timeoutMs * Math.ceil((end - first) / this.replicas),
      async (thread, k) => {
        const { rows, inputs, targets } = parts[first + k]!;
        values[first + k] = await thread.evaluate(this.#steps, rows, inputs, targets);
      },
      (r, k) => `evaluate() failed: replica ${r} on rows ${rowsOf(first + k)}`,
    );
    await settleEvaluation(world, this.#word, evaluated, values, 1 + this.#metricNames.length, this.#timeoutMs);
    return { rows: parts.map((p) => p.rows), values };
  }

  /**
   * `units` units of work on the replicas, unit k on replica k mod R, each replica's in turn,
   * bounded by `boundMs` in all. Every replica's calls settle before a failure is thrown: none is
   * left writing a shard. A failure is a `StepError` saying `where` it happened; nothing was changed.
   */
  async #onReplicas(
    units: number,
    boundMs: number,
    run: (thread: ReplicaThread, unit: number) => Promise<void>,
    where: (replica: number, unit: number) => string,
  ): Promise<void> {
    for (const t of this.#threads) t?.hold(true); // work in flight keeps the process alive
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      for (const t of this.#threads) t?.fail(new Error(`timed out after ${boundMs} ms`));
    }, boundMs);
    const share = async (r: number) => {
      for (let unit = r; unit < units; unit += this.replicas) {
        try {
          await run(this.#threads[r]!, unit); // started by #ready; a death since fails this call
        } catch (cause) {
          throw new StepError(
            `${where(r, unit)}: ${cause instanceof Error ? cause.message : String(cause)}; nothing was changed`,
            { cause, stateCorrupted: false },
          );
        }
      }
    };
    try {
      const outcomes = await Promise.allSettled(this.#threads.map((_, r) => share(r)));
      const failed = outcomes.find((o) => o.status === 'rejected');
      if (failed) {
        if (timedOut) await this.#endAll(); // a stuck replica: end them all
        throw failed.reason;
      }
    } finally {
      clearTimeout(timer);
      for (const t of this.#threads) t?.hold(false); // idle replicas do not keep it alive
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
          this.#learn(await thread.start({ ...this.#start, replica: r }));
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

  /** What a started replica says of itself: its rows' shape, its metrics (the step's values sized for them). */
  #learn(traits: ReplicaTraits): void {
    this.#rowShape = traits.rowShape ?? this.#rowShape;
    this.#evaluates = traits.evaluates;
    if (traits.metricNames.join('\n') !== this.#metricNames.join('\n')) {
      this.#metricNames = Object.freeze([...traits.metricNames]);
      this.#sizeValues(1 + this.#metricNames.length);
    }
  }

  /** The step's values: a loss and the metrics per micro-batch, `width` in all; a world's ranks' parts of them. */
  #sizeValues(width: number): void {
    this.#values = new Float64Array(this.microBatches * width);
    this.#metrics = new Float64Array(width - 1);
    const ranks = this.optimizer.world?.size ?? 1;
    this.#valueCounts = Int32Array.from({ length: ranks }, () => this.#own * width);
    this.#valueAt = Int32Array.from({ length: ranks }, (_, r) => r * this.#own * width);
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
