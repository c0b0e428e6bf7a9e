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
import type { CreateReplica, Replica, ReplicaHost, ReplicaStart, RowShape } from '../src/training/replica.js';

/** What the trainer calls, through comlink. */
class ReplicaThreadHost implements ReplicaHost {
  #replica: Replica | null = null;
  /** Per micro-batch: the variables' gradient shards. */
  #shards: FloatArray[][] = [];

  async start(start: ReplicaStart): Promise<RowShape | null> {
    const module = (await import(start.module)) as { createReplica?: CreateReplica };
    if (typeof module.createReplica !== 'function') {
      throw new TypeError(`replica module ${start.module} does not export a function createReplica(context)`);
    }
    const microBatches = start.variables[0]?.shardOffsets.length ?? 0;
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
    return rowShape
      ? { inputs: [...rowShape.inputs], ...(rowShape.targets && { targets: [...rowShape.targets] }) }
      : null;
  }

  async gradients(
    step: number,
    index: number,
    seed: number,
    inputs: Float32Array,
    targets: Float32Array,
    rows: number,
  ): Promise<number> {
    if (this.#replica === null) throw new Error('replica not started');
    const loss = await this.#replica.gradients({ index, step, seed, rows, inputs, targets }, this.#shards[index]!);
    if (typeof loss !== 'number')
      throw new TypeError(`gradients() must return the loss as a number, got ${typeof loss}`);
    return loss;
  }

  async close(): Promise<void> {
    await this.#replica?.close?.();
    this.#replica = null;
  }
}

expose(new ReplicaThreadHost(), nodeEndpoint(parentPort!));
