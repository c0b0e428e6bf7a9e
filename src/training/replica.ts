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
}

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
   * any number of replicas gives the same bytes.
   */
  gradients(batch: MicroBatch, grads: readonly FloatArray[]): number | Promise<number>;
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
}

/** What a replica thread exposes to the trainer, through comlink (workers/replica.ts implements it). */
export interface ReplicaHost {
  /** Imports the replica module and creates the replica over views of the shared arrays; resolves to its row shape. */
  start(start: ReplicaStart): Promise<RowShape | null>;
  /** Micro-batch `index` of step `step`, its random seed `seed`: `rows` rows, views of the shared batch; returns its loss. */
  gradients(
    step: number,
    index: number,
    seed: number,
    inputs: Float32Array,
    targets: Float32Array,
    rows: number,
  ): Promise<number>;
  close(): Promise<void>;
}
