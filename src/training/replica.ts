/**
 * What a replica module is: the contract between the data-parallel trainer and the code that
 * computes a micro-batch's gradients on a worker thread. A replica module (ESM) exports
 * `createReplica(context)`; the thread calls it once, then `gradients(batch, grads)` for each
 * micro-batch it is given. Everything a replica reads and writes is shared memory: the
 * variables' current values and the micro-batch rows are views, and it writes its gradients
 * into the shard views it is handed. No parameter crosses a message.
 */
import type { DType, FloatArray } from '../memory/dtype.js';

/** One variable as a replica sees it: the optimizer's shared values (read them, never write). */
export interface ReplicaVariable {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** The current values: a live view of the optimizer's arena, updated between steps. */
  readonly value: FloatArray;
}

/** One micro-batch: `rows` rows of the batch, views of the shared batch buffers (read-only). */
export interface MicroBatch {
  /** Which micro-batch of the step (0 .. microBatches - 1): its gradients go to shard `index`. */
  readonly index: number;
  /** The trainer's step count: the values are the same for every micro-batch of a step (a copy of them may be reused). */
  readonly step: number;
  /**
   * The micro-batch's random seed (a uint32): a function of the trainer's `seed`, the optimizer's
   * iteration and `index`, never of the thread. Draw every random number of the micro-batch
   * (dropout masks, noise) from it, and the bytes stay the same for any number of replicas.
   */
  readonly seed: number;
  readonly rows: number;
  /** rows x (inputs per row), row-major. */
  readonly inputs: Float32Array;
  /** rows x (targets per row), row-major. */
  readonly targets: Float32Array;
  /** One weight per row for the row's loss (Keras's `sample_weight`), when the batch has them. */
  readonly sampleWeights?: Float32Array;
}

/** Rows to evaluate at the current values: no gradient, no randomness (inference mode). */
export interface EvaluationBatch {
  /** The trainer's step count, as `MicroBatch.step`: the values are those after this many steps. */
  readonly step: number;
  readonly rows: number;
  readonly inputs: Float32Array;
  readonly targets: Float32Array;
}

/**
 * What a replica computes for a micro-batch: its loss, or its loss and then its metrics (as many,
 * and in the order, of `metricNames`), each the mean over the micro-batch's rows.
 */
export type ReplicaValues = number | readonly number[];

/** What `createReplica` receives. */
export interface ReplicaContext {
  /** The trainer's variables, in its order. */
  readonly variables: readonly ReplicaVariable[];
  /** The trainer's `replicaOptions`, as structured clone carried them. */
  readonly options: unknown;
  /** This replica's number (0 .. replicas - 1); gradients must not depend on it. */
  readonly replica: number;
}

/** A replica: computes one micro-batch's gradients at the current values. */
export interface Replica {
  /**
   * Writes the gradient of the micro-batch's loss with respect to `variables[k]` into
   * `grads[k]` (every element: the shard holds the last micro-batch's values otherwise) and
   * returns the loss. Must be a pure function of the values, the rows and `batch.seed`, so that
   * any number of replicas gives the same bytes. With `metricNames`, returns the loss and then
   * the metrics, computed on the same forward pass.
   */
  gradients(batch: MicroBatch, grads: readonly FloatArray[]): ReplicaValues | Promise<ReplicaValues>;
  /**
   * The loss and the metrics of rows at the current values, without gradients (a validation
   * pass): `[loss, ...metrics]`, each the mean over the rows. Needed by `trainer.evaluate`.
   */
  evaluate?(batch: EvaluationBatch): readonly number[] | Promise<readonly number[]>;
  /** The names of the metrics `gradients` and `evaluate` return after the loss (none: only the loss). */
  readonly metricNames?: readonly string[];
  /** Called when the trainer closes. */
  close?(): void | Promise<void>;
  /**
   * What one row of a batch holds for this replica's model, when it knows: the trainer checks
   * every batch against it before any micro-batch runs, and names both shapes when they differ.
   */
  readonly rowShape?: RowShape;
}

/** The shape of one row of a batch: its inputs and its targets (when the replica knows it), each read row-major. */
export interface RowShape {
  readonly inputs: readonly number[];
  readonly targets?: readonly number[];
}

/** The export a replica module must have. */
export type CreateReplica = (context: ReplicaContext) => Replica | Promise<Replica>;

/** Where a variable's arrays are, as the replica thread rebuilds its views (shared buffers, no copy). */
export interface VariablePlacement {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly buffer: SharedArrayBuffer;
  readonly valueOffset: number;
  /** Byte offset of each gradient shard. */
  readonly shardOffsets: readonly number[];
  readonly size: number;
}

/** What a replica thread is started with. */
export interface ReplicaStart {
  readonly module: string;
  readonly options: unknown;
  readonly replica: number;
  readonly variables: readonly VariablePlacement[];
  /** The micro-batch this process's first gradient shard holds (a rank of a world holds a block of them). */
  readonly firstMicroBatch: number;
}

/** What a started replica says of itself. */
export interface ReplicaTraits {
  readonly rowShape: RowShape | null;
  readonly metricNames: readonly string[];
  /** Whether it implements `evaluate`. */
  readonly evaluates: boolean;
}

/** What a replica thread exposes to the trainer, through comlink (workers/replica.ts implements it). */
export interface ReplicaHost {
  /** Imports the replica module and creates the replica over views of the shared arrays. */
  start(start: ReplicaStart): Promise<ReplicaTraits>;
  /**
   * Micro-batch `index` of step `step`, its random seed `seed`: `rows` rows, views of the shared
   * batch (and its rows' weights, or null); returns its loss and metrics.
   */
  gradients(
    step: number,
    index: number,
    seed: number,
    rows: number,
    inputs: Float32Array,
    targets: Float32Array,
    sampleWeights: Float32Array | null,
  ): Promise<readonly number[]>;
  /** Rows evaluated at the current values: `[loss, ...metrics]`. */
  evaluate(step: number, rows: number, inputs: Float32Array, targets: Float32Array): Promise<readonly number[]>;
  close(): Promise<void>;
}
