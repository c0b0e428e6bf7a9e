/**
 * Worker entry point: one replica of the data-parallel trainer. The control plane is comlink
 * (RPC to this stateful thread: start, then one call per micro-batch); everything the calls
 * touch is shared memory — the variables' values, the gradient shards and the batch rows are
 * views rebuilt here once, so a call carries only its micro-batch's number and row range.
 */
import { parentPort } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { viewOf, type FloatArray } from '../src/memory/dtype.js';
import type {
  CreateReplica,
  Replica,
  ReplicaHost,
  ReplicaStart,
  ReplicaTraits,
  ReplicaValues,
} from '../src/training/replica.js';

/** What the trainer calls, through comlink. */
class ReplicaThreadHost implements ReplicaHost {
  #replica: Replica | null = null;
  /** Per micro-batch: the variables' gradient shards. */
  #shards: FloatArray[][] = [];
  /** How many metrics the replica returns after its loss. */
  #metrics = 0;
  /** The micro-batch the first shard holds. */
  #first = 0;

  async start(start: ReplicaStart): Promise<ReplicaTraits> {
    const module = (await import(start.module)) as { createReplica?: CreateReplica };
    if (typeof module.createReplica !== 'function') {
      throw new TypeError(`replica module ${start.module} does not export a function createReplica(context)`);
    }
    const microBatches = start.variables[0]?.shardOffsets.length ?? 0;
    this.#first = start.firstMicroBatch;
    this.#shards = Array.from({ length: microBatches }, (_, j) =>
      start.variables.map((v) => viewOf(v.dtype, v.buffer, v.shardOffsets[j]!, v.size)),
    );
    const variables = start.variables.map((v) => ({
      name: v.name,
      shape: v.shape,
      dtype: v.dtype,
      value: viewOf(v.dtype, v.buffer, v.valueOffset, v.size),
    }));
    this.#replica = await module.createReplica({ variables, options: start.options, replica: start.replica });
    const { rowShape } = this.#replica;
    const metricNames: unknown = this.#replica.metricNames ?? [];
    if (!Array.isArray(metricNames) || metricNames.some((n) => typeof n !== 'string')) {
      throw new TypeError("the replica's `metricNames` must be an array of strings");
    }
    this.#metrics = metricNames.length;
    return {
      rowShape: rowShape
        ? { inputs: [...rowShape.inputs], ...(rowShape.targets && { targets: [...rowShape.targets] }) }
        : null,
      metricNames: [...(metricNames as string[])],
      evaluates: typeof this.#replica.evaluate === 'function',
    };
  }

  async gradients(
    step: number,
    index: number,
    seed: number,
    rows: number,
    inputs: Float32Array,
    targets: Float32Array,
    sampleWeights: Float32Array | null,
  ): Promise<readonly number[]> {
    const replica = this.#started();
    const batch = { index, step, seed, rows, inputs, targets, ...(sampleWeights && { sampleWeights }) };
    return this.#values(await replica.gradients(batch, this.#shards[index - this.#first]!), 'gradients()');
  }

  async evaluate(step: number, rows: number, inputs: Float32Array, targets: Float32Array): Promise<readonly number[]> {
    const replica = this.#started();
    if (replica.evaluate === undefined) throw new Error('the replica does not implement evaluate()');
    return this.#values(await replica.evaluate({ step, rows, inputs, targets }), 'evaluate()');
  }

  #started(): Replica {
    if (this.#replica === null) throw new Error('replica not started');
    return this.#replica;
  }

  /** The loss and the metrics as numbers, as many as the replica said; throws naming the call otherwise. */
  #values(values: ReplicaValues, call: string): readonly number[] {
    const list: readonly unknown[] = typeof values === 'number' ? [values] : values;
    if (!Array.isArray(list) || list.length !== 1 + this.#metrics || list.some((v) => typeof v !== 'number')) {
      throw new TypeError(
        `${call} must return the loss as a number${this.#metrics > 0 ? `, then its ${this.#metrics} metrics` : ''}, got ${typeof values === 'object' ? JSON.stringify(values) : typeof values}`,
      );
    }
    return list as readonly number[];
  }

  async close(): Promise<void> {
    await this.#replica?.close?.();
    this.#replica = null;
  }
}

expose(new ReplicaThreadHost(), nodeEndpoint(parentPort!));
