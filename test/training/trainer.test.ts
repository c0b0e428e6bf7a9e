/**
 * The data-parallel trainer: replicas compute micro-batch gradients into the arena's shards,
 * the optimizer applies their mean. The bytes do not depend on how many replicas or lanes run;
 * a replica that throws, dies or overruns fails the step before anything changes.
 */
import { spawnSync } from 'node:child_process';
import type { Worker } from 'node:worker_threads';
import type * as TF from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { DataParallelTrainer, RMSprop, StepError, Variable, type RMSpropOptions } from '../../dist/src/index.js';
import { shardTree } from '../helpers/shard-tree.js';
import { randomValues, snapshot } from '../helpers/state.js';
import { createReplica } from '../modules/linear-replica.mjs';

const REPLICA = new URL('../modules/linear-replica.mjs', import.meta.url);

interface Model {
  inputs: number;
  outputs: number;
  rows: number;
  seed: number;
}

const variablesOf = (m: Model) => [
  new Variable(randomValues(m.inputs * m.outputs, m.seed), { name: 'w', shape: [m.inputs, m.outputs] }),
  new Variable(randomValues(m.outputs, m.seed + 1), { name: 'b', shape: [m.outputs] }),
];

const batchOf = (m: Model, step: number) => ({
  inputs: randomValues(m.rows * m.inputs, m.seed * 7 + step),
  targets: randomValues(m.rows * m.outputs, m.seed * 13 + step),
  rows: m.rows,
});

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

function trainer(
  m: Model,
  options: RMSpropOptions,
  replicas: number,
  replicaOptions?: unknown,
  stepTimeoutMs?: number,
) {
  const variables = variablesOf(m);
  const optimizer = new RMSprop(options);
  const t = new DataParallelTrainer({
    optimizer,
    variables,
    replica: REPLICA,
    replicas,
    replicaOptions,
    stepTimeoutMs,
  });
  open.push(t, optimizer);
  return { t, optimizer, variables };
}

/** What the trainer must compute: each micro-batch's gradient on this thread, their mean, apply(). */
async function reference(m: Model, options: RMSpropOptions, steps: number): Promise<Buffer> {
  const variables = variablesOf(m);
  const optimizer = new RMSprop({ ...options, microBatches: 1, workers: 0, kernels: 'js' });
  open.push(optimizer);
  const M = options.microBatches!;
  const replica = createReplica({ variables, options: {} });
  for (let step = 0; step < steps; step++) {
    const batch = batchOf(m, step);
    // micro-batch j: rows as even as can be, the first ones a row larger; its gradient weighed by its rows
    const sizes = Array.from({ length: M }, (_, j) => Math.floor(m.rows / M) + (j < m.rows % M ? 1 : 0));
    const weighted: Float32Array[][] = [];
    let from = 0;
    for (let j = 0; j < M; j++) {
      const rows = sizes[j]!;
      const grads = variables.map((v) => new Float32Array(v.size));
      if (rows > 0) {
        await replica.gradients(
          {
            index: j,
            step,
            seed: 0,
            rows,
            inputs: batch.inputs.subarray(from * m.inputs, (from + rows) * m.inputs),
            targets: batch.targets.subarray(from * m.outputs, (from + rows) * m.outputs),
          },
          grads,
        );
      }
      from += rows;
      const weight = (rows * M) / m.rows;
      if (weight !== 1) for (const g of grads) g.forEach((x, e) => (g[e] = x * weight));
      weighted.push(grads);
    }
    // the micro-batches summed in their tree (src/memory/shard-tree.ts), in float32
    const sums = variables.map((v, k) =>
      Float32Array.from({ length: v.size }, (_, e) =>
        shardTree(
          weighted.map((grads) => grads[k]![e]!),
          (a, b) => Math.fround(a + b),
        ),
      ),
    );
    await optimizer.apply(
      sums.map((s) => s.map((x) => x / M)),
      variables,
    );
  }
  return snapshot(optimizer, variables);
}

const optionsArb: fc.Arbitrary<RMSpropOptions> = fc
  .record({
    learningRate: fc.constantFrom(0.001, 0.01, 0.1),
    momentum: fc.constantFrom(0, 0.9),
    centered: fc.boolean(),
    clip: fc.constantFrom('none', 'clipnorm', 'globalClipnorm', 'clipvalue'),
    useEma: fc.boolean(),
    gradientAccumulationSteps: fc.constantFrom(null, 2),
    microBatches: fc.constantFrom(3, 6),
  })
  .map(({ clip, ...o }) => ({ ...o, ...(clip === 'none' ? {} : { [clip]: 0.5 }) }));

describe('data-parallel trainer', () => {
  it('bytes identical for replicas 1, 2, 3 and lanes 0, 2 at fixed micro-batches: those of the mean gradient applied on one thread (uneven micro-batches weighed by their rows)', async () => {
    const modelArb = fc.record({
      inputs: fc.integer({ min: 1, max: 40 }),
      outputs: fc.integer({ min: 1, max: 9 }),
      rows: fc.constantFrom(6, 12, 18, 7, 2), // 7 and 2: uneven micro-batches, and with 6 some empty
      seed: fc.integer({ min: 1, max: 1 << 20 }),
    });
    await fc.assert(
      fc.asyncProperty(modelArb, optionsArb, async (m, options) => {
        const steps = 3;
        const expected = await reference(m, options, steps);
        for (const workers of [0, 2]) {
          for (const replicas of [1, 2, 3]) {
            const { t, optimizer, variables } = trainer(m, { ...options, workers }, replicas);
            for (let step = 0; step < steps; step++) await t.step(batchOf(m, step));
            expect(snapshot(optimizer, variables).equals(expected), `workers ${workers}, replicas ${replicas}`).toBe(
              true,
            );
            await t.close();
            await optimizer.close();
          }
        }
      }),
      { numRuns: 6 },
    );
  });

  it("an uneven batch: the micro-batches' losses and metrics weighed by their rows; evaluate's chunks in order, the same for 1 and 2 replicas", async () => {
    const m = { inputs: 3, outputs: 2, rows: 5, seed: 9 };
    const batch = batchOf(m, 0);
    const replica = createReplica({ variables: variablesOf(m), options: { metrics: true } as never });
    const rowsOf = (from: number, rows: number) => ({
      index: 0,
      step: 0,
      seed: 0,
      rows,
      inputs: batch.inputs.subarray(from * 3, (from + rows) * 3),
      targets: batch.targets.subarray(from * 2, (from + rows) * 2),
    });
    const grads = variablesOf(m).map((v) => new Float32Array(v.size));
    const [first, second] = [rowsOf(0, 3), rowsOf(3, 2)].map((r) => replica.gradients(r, grads) as number[]) as [
      number[],
      number[],
    ];
    const chunks = [0, 2, 4].map((from) => replica.evaluate!(rowsOf(from, Math.min(2, 5 - from))));
    const results = [];
    for (const replicas of [1, 2]) {
      const { t } = trainer(m, { microBatches: 2, workers: 0 }, replicas, { metrics: true });
      const loss = await t.step(batch);
      expect(loss).toBe((3 * first[0]! + 2 * second[0]!) / 5);
      expect(t.metricNames).toEqual(['mae']);
      expect([...t.metrics]).toEqual([(3 * first[1]! + 2 * second[1]!) / 5]);
      const before = await t.evaluate(batch, 2); // after the step: the values it changed
      results.push(before);
      expect(before.rows).toEqual([2, 2, 1]);
      expect(before.values).not.toEqual(chunks); // the values before the step
    }
    expect(results[1]).toEqual(results[0]);
    const { t } = trainer(m, { microBatches: 2, workers: 0 }, 2, { metrics: true });
    expect((await t.evaluate(batch, 2)).values).toEqual(chunks); // before any step: the initial values
    const { t: without } = trainer(m, { microBatches: 2, workers: 0 }, 1, { noEvaluate: true });
    await expect(without.evaluate(batch, 2)).rejects.toThrow('the replica module does not implement evaluate()');
  });

  it("resolves to the mean of the micro-batches' losses", async () => {
    const m = { inputs: 3, outputs: 2, rows: 4, seed: 5 };
    const { t, variables } = trainer(m, { microBatches: 2, workers: 0 }, 2);
    const batch = batchOf(m, 0);
    const replica = createReplica({ variables: variablesOf(m), options: {} });
    const loss = async (j: number) =>
      (await replica.gradients(
        {
          index: j,
          step: 0,
          seed: 0,
          rows: 2,
          inputs: batch.inputs.subarray(j * 6, j * 6 + 6),
          targets: batch.targets.subarray(j * 4, j * 4 + 4),
        },
        variables.map((v) => new Float32Array(v.size)),
      )) as number;
    const expected = ((await loss(0)) + (await loss(1))) / 2;
    expect(await t.step(batch)).toBe(expected);
    expect(t.steps).toBe(1);
  });

  it('a replica that throws fails the step naming the replica and micro-batch; nothing changes; the next step goes on', async () => {
    const m = { inputs: 5, outputs: 3, rows: 6, seed: 9 };
    const options = { microBatches: 3, momentum: 0.9, workers: 2 };
    const fail = new Int32Array(new SharedArrayBuffer(4));
    const { t, optimizer, variables } = trainer(m, options, 2, { fail });
    await t.step(batchOf(m, 0));
    const before = snapshot(optimizer, variables);
    fail[0] = 2; // micro-batch 1, which replica 1 computes
    const failure = await t.step(batchOf(m, 1)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StepError);
    expect((failure as StepError).message).toMatch(
      /^step 2 of the trainer failed: replica 1 on micro-batch 1: micro-batch 1 refused on purpose; nothing was changed$/,
    );
    expect((failure as StepError).stateCorrupted).toBe(false);
    expect(snapshot(optimizer, variables).equals(before)).toBe(true);
    expect(optimizer.iterations).toBe(1);
    fail[0] = 0;
    await t.step(batchOf(m, 1));
    expect(snapshot(optimizer, variables).equals(await reference(m, options, 2))).toBe(true);
  });

  it('a replica thread terminated from outside mid-step fails that step, changes nothing, and is started again', async () => {
    const m = { inputs: 4, outputs: 2, rows: 4, seed: 3 };
    const options = { microBatches: 2, workers: 0 };
    const { t, optimizer, variables } = trainer(m, options, 2, { slowMs: 300 });
    const threads: Worker[] = [];
    const seen = (w: Worker) => threads.push(w);
    process.on('worker', seen);
    try {
      await t.step(batchOf(m, 0));
      expect(threads).toHaveLength(2);
      const before = snapshot(optimizer, variables);
      const step = t.step(batchOf(m, 1));
      setTimeout(() => void threads[1]!.terminate(), 100); // replica 1, inside micro-batch 1
      const failure = await step.catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(StepError);
      expect((failure as Error).message).toMatch(/replica 1 on micro-batch 1: its thread ended .*nothing was changed/);
      expect(snapshot(optimizer, variables).equals(before)).toBe(true);
      await t.step(batchOf(m, 1));
      expect(threads).toHaveLength(3); // replica 1 started again
      expect(snapshot(optimizer, variables).equals(await reference(m, options, 2))).toBe(true);
    } finally {
      process.off('worker', seen);
    }
  });

  it('a replica that overruns stepTimeoutMs fails the step, its threads are ended, nothing changes', async () => {
    const m = { inputs: 2, outputs: 1, rows: 2, seed: 4 };
    const { t, optimizer, variables } = trainer(m, { microBatches: 2, workers: 0 }, 2, { slowMs: 2000 }, 300);
    const before = snapshot(optimizer, variables);
    const started = performance.now();
    await expect(t.step(batchOf(m, 0))).rejects.toThrow(/replica 0 on micro-batch 0: timed out after 300 ms/);
    expect(performance.now() - started).toBeLessThan(1500);
    expect(snapshot(optimizer, variables).equals(before)).toBe(true);
  });

  it('steps for over three stepTimeoutMs: every step completes (a finished step leaves no timer armed)', async () => {
    const m = { inputs: 3, outputs: 2, rows: 4, seed: 6 };
    // workers 0: only the replicas start threads
    const { t, optimizer } = trainer(m, { microBatches: 2, workers: 0 }, 2, undefined, 300);
    let started = 0;
    const count = () => started++;
    process.on('worker', count);
    try {
      const begin = performance.now();
      let steps = 0;
      while (performance.now() - begin < 3 * 300 || steps < 10) {
        await t.step(batchOf(m, 0));
        steps++;
      }
      expect(t.steps).toBe(steps);
      expect(optimizer.iterations).toBe(steps);
      expect(started).toBe(2); // each replica's thread started once, never failed by a stale timer
    } finally {
      process.off('worker', count);
    }
  });

  it('a replica slower to start than stepTimeoutMs: its start is no gradient, the steps run', async () => {
    const m = { inputs: 3, outputs: 2, rows: 4, seed: 7 };
    // building the model takes three step timeouts
    const { t } = trainer(m, { microBatches: 2, workers: 0 }, 2, { startMs: 600 }, 200);
    for (let step = 0; step < 3; step++) await t.step(batchOf(m, step));
    expect(t.steps).toBe(3);
  });

  it('refuses bad arguments, naming them', async () => {
    const m = { inputs: 2, outputs: 1, rows: 4, seed: 1 };
    const { t } = trainer(m, { microBatches: 2, workers: 0 }, 1);
    await expect(t.step({ ...batchOf(m, 0), rows: 0 })).rejects.toThrow(
      '`rows` must be a positive integer, got 0 (number)',
    );
    await expect(t.step({ ...batchOf(m, 0), sampleWeights: new Float32Array(3) })).rejects.toThrow(
      '`sampleWeights` must be a Float32Array of one weight per row (4), got Float32Array(3)',
    );
    const optimizer = new RMSprop({ microBatches: 2 });
    open.push(optimizer);
    const variables = variablesOf(m);
    expect(() => new DataParallelTrainer({ optimizer, variables, replica: REPLICA, replicas: 3 })).toThrow(
      '`replicas` must be an integer from 1 to 2, got 3 (number)',
    );
    expect(() => new DataParallelTrainer({ optimizer, variables, replica: 'linear-replica.mjs' })).toThrow(
      '`replica` must be the module\'s URL or absolute path, got "linear-replica.mjs" (string)',
    );
    expect(() => new DataParallelTrainer(null as never)).toThrow(
      'DataParallelTrainer: options must be an object, got null',
    );
    const typo = { optimizer, variables, replica: REPLICA, step_timeout_ms: 10, replicaOption: {} };
    expect(() => new DataParallelTrainer(typo as never)).toThrow(
      "DataParallelTrainer: unknown option(s) 'step_timeout_ms', 'replicaOption'; options are camelCase ('stepTimeoutMs'); " +
        'it takes optimizer, variables, replica, replicaOptions, replicas, stepTimeoutMs, seed',
    );
    // refused before anything was built: the variables are free, the optimizer holds no threads
    expect(variables.map((v) => v.owner)).toEqual([null, null]);
    expect(optimizer.workers).toBeNull();
    expect(() => new RMSprop({ microBatches: 0 })).toThrow('`microBatches` must be an integer from 1 to 1024, got 0');
    const sharded = new RMSprop({ microBatches: 2, workers: 0 });
    open.push(sharded);
    const w = new Variable([1, 2], { name: 'w' });
    sharded.build([w]);
    await expect(sharded.apply([[0.1, 0.2]], [w])).rejects.toThrow(
      "with microBatches 2 the gradients are shards: write micro-batch j's into each variable's gradShards[j]",
    );
  });

  it('takes Int32Array rows as their float32 values; refuses an integer float32 cannot hold, naming it, nothing changed', async () => {
    const m = { inputs: 3, outputs: 1, rows: 4, seed: 5 };
    const ints = {
      inputs: Int32Array.of(1, -2, 3, 4, 5, -6, 7, 8, 9, 10, -11, 12),
      targets: Int32Array.of(1, 0, 2, 1),
      rows: 4,
    };
    const floats = { inputs: Float32Array.from(ints.inputs), targets: Float32Array.from(ints.targets), rows: 4 };
    const a = trainer(m, { microBatches: 2, workers: 0 }, 2);
    const b = trainer(m, { microBatches: 2, workers: 0 }, 2);
    expect(await a.t.step(ints)).toBe(await b.t.step(floats));
    expect(snapshot(a.optimizer, a.variables).equals(snapshot(b.optimizer, b.variables))).toBe(true);
    const before = snapshot(a.optimizer, a.variables);
    const huge = { ...ints, inputs: Int32Array.of(1, 2, 3, 4, 5, 6, 7, 2 ** 24 + 1, 9, 10, 11, 12) };
    await expect(a.t.step(huge)).rejects.toThrow(
      'DataParallelTrainer.step: `inputs`[7] is 16777217: integers reach the replicas as float32, exact up to 2^24',
    );
    expect(a.optimizer.iterations).toBe(1);
    expect(snapshot(a.optimizer, a.variables).equals(before)).toBe(true);
  });

  it('a replica module without createReplica fails the first step, naming the module', async () => {
    const optimizer = new RMSprop({ microBatches: 2, workers: 0 });
    const t = new DataParallelTrainer({
      optimizer,
      variables: [new Variable([1], { name: 'w' })],
      replica: new URL('../modules/not-a-replica.mjs', import.meta.url),
      replicas: 1,
    });
    open.push(t, optimizer);
    await expect(t.step({ inputs: new Float32Array(2), targets: new Float32Array(2), rows: 2 })).rejects.toThrow(
      /does not export a function createReplica\(context\)/,
    );
  });
});

describe('the tfjs replica (rmsprop-pool/tfjs)', () => {
  /**
   * Trains the factory's model on `backend` with 1 and 2 replicas, and on this thread by hand
   * (each micro-batch's gradient by tfjs on the same backend and kernels, their float32 mean,
   * apply()): the bytes must be the same all three ways.
   */
  async function trainsAsThisThread(helper: string, backend: 'cpu' | 'wasm', inputs: number, outputs: number) {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-layers');
    await import(`@tensorflow/tfjs-backend-${backend}`);
    await import('@tensorflow/tfjs-backend-cpu'); // the backend this thread goes back to
    const { tfjsReplica, modelVariables, assignToModel, useWasmTrainingKernels } =
      await import('../../dist/src/tfjs.js');
    // this thread computes the reference as the replica threads do: on wasm, with this library's kernels
    await tf.setBackend(backend);
    const restore = backend === 'wasm' ? useWasmTrainingKernels(tf) : () => {};
    try {
      const { createModel } = (await import(`../modules/${helper}`)) as {
        createModel: () => import('@tensorflow/tfjs-layers').LayersModel;
      };
      const factory = new URL(`../modules/${helper}`, import.meta.url).href;
      const model = createModel();
      const rows = 8;
      const M = 4;
      const batches = [0, 1, 2].map((s) => ({
        inputs: randomValues(rows * inputs, 100 + s),
        targets: randomValues(rows * outputs, 200 + s),
        rows,
      }));
      const options = { learningRate: 0.01, momentum: 0.9, microBatches: M };

      const start = modelVariables(model); // the model's initial weights, copied
      const fromStart = () => start.map((v) => new Variable(v.value.slice(), { name: v.name, shape: v.shape }));

      const local = fromStart();
      const reference = new RMSprop({ ...options, microBatches: 1, workers: 0, kernels: 'js' });
      open.push(reference);
      const weights = model.trainableWeights.map((w) => w.read() as TF.Variable);
      for (const batch of batches) {
        assignToModel(model, local);
        const each: Float32Array[][] = []; // micro-batch j's gradients
        for (let j = 0; j < M; j++) {
          const r = rows / M;
          tf.tidy(() => {
            const x = tf.tensor2d(batch.inputs.subarray(j * r * inputs, (j + 1) * r * inputs), [r, inputs]);
            const y = tf.tensor2d(batch.targets.subarray(j * r * outputs, (j + 1) * r * outputs), [r, outputs]);
            const { grads } = tf.variableGrads(
              () =>
                tf.losses.meanSquaredError<TF.Tensor, TF.Scalar>(y, model.apply(x, { training: true }) as TF.Tensor),
              weights,
            );
            each.push(weights.map((w) => Float32Array.from(grads[w.name]!.dataSync())));
          });
        }
        // summed in the micro-batches' tree (src/memory/shard-tree.ts), in float32
        const sums = local.map((v, k) =>
          Float32Array.from({ length: v.size }, (_, e) =>
            shardTree(
              each.map((grads) => grads[k]![e]!),
              (a, b) => Math.fround(a + b),
            ),
          ),
        );
        await reference.apply(
          sums.map((s) => s.map((x) => x / M)),
          local,
        );
      }
      const expected = snapshot(reference, local);

      const losses: number[][] = [];
      for (const replicas of [1, 2]) {
        const variables = fromStart();
        const optimizer = new RMSprop(options);
        const t = new DataParallelTrainer({
          optimizer,
          variables,
          replica: tfjsReplica,
          replicaOptions: { factory, loss: 'meanSquaredError', backend },
          replicas,
        });
        open.push(t, optimizer);
        losses.push([]);
        for (const batch of batches) losses.at(-1)!.push(await t.step(batch));
        expect(snapshot(optimizer, variables).equals(expected), `replicas ${replicas}`).toBe(true);
      }
      expect(losses[1]).toEqual(losses[0]);
    } finally {
      restore();
      await tf.setBackend('cpu');
    }
  }

  it('trains a tfjs-layers model: the bytes of its micro-batch gradients averaged on this thread, for 1 and 2 replicas', async () => {
    await trainsAsThisThread('tfjs-model.mjs', 'cpu', 6, 3);
  });

  it('trains a CNN on wasm with the training kernels on by default: the same bytes for 1 and 2 replicas', async () => {
    await trainsAsThisThread('tfjs-cnn.mjs', 'wasm', 64, 3);
  });

  it("kernels: 'tfjs' leaves tfjs-wasm's own on the replica threads (which cannot train a CNN)", async () => {
    const { tfjsReplica } = await import('../../dist/src/tfjs.js');
    const variables = [[3, 3, 1, 4], [4], [3, 3, 4, 2], [8], [72, 3], [3]].map(
      (shape, k) => new Variable('zeros', { name: `v${k}`, shape }),
    );
    const optimizer = new RMSprop({ microBatches: 1, workers: 0 });
    const t = new DataParallelTrainer({
      optimizer,
      variables,
      replica: tfjsReplica,
      replicaOptions: {
        factory: new URL('../modules/tfjs-cnn.mjs', import.meta.url).href,
        loss: 'meanSquaredError',
        backend: 'wasm',
        kernels: 'tfjs',
      },
      replicas: 1,
    });
    open.push(t, optimizer);
    await expect(t.step({ inputs: randomValues(64, 1), targets: randomValues(3, 2), rows: 1 })).rejects.toThrow(
      /Kernel '(Conv2DBackpropFilter|DepthwiseConv2dNativeBackpropInput)' not registered for backend 'wasm'; nothing was changed/,
    );
  });
});

describe('the trainer in a process', () => {
  const script = (body: string) =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { DataParallelTrainer, RMSprop, Variable } from ${JSON.stringify(new URL('../../dist/src/index.js', import.meta.url).href)};
const variables = [new Variable([0.5, -0.5], { name: 'w', shape: [2, 1] }), new Variable([0], { name: 'b', shape: [1] })];
const batch = { inputs: new Float32Array([1, 2, 3, 4]), targets: new Float32Array([1, 0]), rows: 2 };
${body}`,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
  const setup = (replicaOptions: string) =>
    `const optimizer = new RMSprop({ microBatches: 2, workers: 2 });
const trainer = new DataParallelTrainer({ optimizer, variables, replica: ${JSON.stringify(REPLICA.href)}, replicas: 2, replicaOptions: ${replicaOptions} });`;

  it('exits by itself after its steps when nobody closes the trainer (idle replicas hold nothing)', () => {
    const run = script(`${setup('{}')}
for (let i = 0; i < 3; i++) await trainer.step(batch);
console.log('stepped', trainer.steps);`);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe('stepped 3\n');
  });

  it('a failing step nobody awaits is an unhandled rejection: Node reports it and exits non-zero', () => {
    const run = script(`const fail = new Int32Array(new SharedArrayBuffer(4)); fail[0] = 1;
${setup('{ fail }')}
trainer.step(batch);`);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(
      'step 1 of the trainer failed: replica 0 on micro-batch 0: micro-batch 0 refused on purpose',
    );
  });
});
