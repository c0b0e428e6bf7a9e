/**
 * tfjs-layers' LSTM and GRU build with the packages the docs name (tfjs-core, a backend,
 * tfjs-layers) once `rmsprop-pool/tfjs` is imported: it adds the tensor methods ("chained ops")
 * tfjs-core's Node bundle lacks, every one tfjs 4.x defines, each computing what its op computes;
 * a recurrent model trains through tfjsReplica with the same bytes on 1 and 2 replicas.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataParallelTrainer, RMSprop, Variable } from '../../dist/src/index.js';
import { modelVariables, tfjsReplica, useChainedOps } from '../../dist/src/tfjs.js';
import { createModel } from '../modules/tfjs-recurrent.mjs';
import { randomValues } from '../helpers/state.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});
beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Runs an ES module body in a fresh Node with tfjs-core, its cpu backend and tfjs-layers; its last stdout line. */
function fresh(body: string): string {
  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import * as tf from '@tensorflow/tfjs-core';\nimport '@tensorflow/tfjs-backend-cpu';\nimport * as tfl from '@tensorflow/tfjs-layers';\n${body}`,
    ],
    { encoding: 'utf8', cwd: new URL('../..', import.meta.url), timeout: 60_000 },
  );
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.trim().split('\n').at(-1)!;
}

const LSTM = `const model = tfl.sequential({ layers: [tfl.layers.lstm({ units: 4, inputShape: [3, 2] }), tfl.layers.gru({ units: 2 })].slice(0, 1) });`;

describe('LSTM and GRU on tfjs-core, a backend and tfjs-layers', () => {
  it("without rmsprop-pool/tfjs an LSTM does not build (tfjs-core's Node bundle has no chained ops)", () => {
    expect(fresh(`try { ${LSTM} console.log('built'); } catch (e) { console.log(e.message); }`)).toBe(
      'rMat.flatten is not a function',
    );
  });

  it('with rmsprop-pool/tfjs imported, an LSTM and a GRU build and train', () => {
    const tfjs = JSON.stringify(new URL('../../dist/src/tfjs.js', import.meta.url).href);
    const out = fresh(
      `await import(${tfjs});
const model = tfl.sequential();
model.add(tfl.layers.lstm({ units: 4, inputShape: [3, 2], returnSequences: true }));
model.add(tfl.layers.gru({ units: 2 }));
model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
const loss = await model.trainOnBatch(tf.ones([2, 3, 2]), tf.zeros([2, 2]));
console.log(model.countParams(), Number.isFinite(loss));`,
    );
    expect(out).toBe(`${4 * (2 * 4 + 4 * 4 + 4) + 3 * (4 * 2 + 2 * 2 + 2)} true`);
  });
});

/** The methods tfjs 4.x's chained ops define, read from the installed tfjs-core's own files. */
function tfjsChainedOps(): string[] {
  const core = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-core/package.json'));
  const folder = join(core, 'dist/public/chained_ops');
  const names = new Set<string>();
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.js') && !f.includes('test'))) {
    for (const [, name] of readFileSync(join(folder, file), 'utf8').matchAll(/prototype\.(\w+) = function/g))
      names.add(name!);
  }
  return [...names].sort();
}

describe('useChainedOps', () => {
  it('adds every method tfjs-core defines as a chained op, and wraps nothing twice', () => {
    const expected = tfjsChainedOps();
    expect(expected.length).toBeGreaterThan(100);
    useChainedOps(tf);
    const prototype = tf.Tensor.prototype as unknown as Record<string, unknown>;
    expect(expected.filter((name) => typeof prototype[name] !== 'function')).toEqual([]);
    expect(useChainedOps(tf)).toEqual([]);
  });

  it('each method computes what its op computes, the special ones too', () => {
    useChainedOps(tf);
    const x = tf.tensor2d([1, -2, 3, -4, 5, -6], [2, 3]);
    const y = tf.tensor2d([6, 5, 4, 3, 2, 1], [2, 3]);
    type Chained = Record<string, (...args: unknown[]) => tf.Tensor>;
    const m = (t: tf.Tensor) => t as unknown as Chained;
    const same = (a: tf.Tensor, b: tf.Tensor) => {
      expect(a.shape).toEqual(b.shape);
      expect(a.dtype).toBe(b.dtype);
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    };
    same(m(x).flatten!(), tf.reshape(x, [6]));
    same(m(x).as1D!(), tf.reshape(x, [6]));
    same(m(x).as3D!(1, 2, 3), tf.reshape(x, [1, 2, 3]));
    same(m(tf.tensor1d([7])).asScalar!(), tf.scalar(7));
    expect(() => m(x).asScalar!()).toThrow('The array must have only 1 element.');
    same(m(x).reshapeAs!(tf.zeros([3, 2])), tf.reshape(x, [3, 2]));
    same(m(x).toInt!(), tf.cast(x, 'int32'));
    same(m(x).toBool!(), tf.cast(x, 'bool'));
    same(m(tf.cast(x, 'int32')).toFloat!(), x);
    same(m(x).asType!('int32'), tf.cast(x, 'int32'));
    same(m(x).concat!(y, 1), tf.concat([x, y], 1));
    same(m(x).concat!([y, x]), tf.concat([x, y, x]));
    same(m(x).stack!(y), tf.stack([x, y]));
    same(m(x).where!(tf.greater(x, 0), y), tf.where(tf.greater(x, 0), x, y));
    same(m(x).stridedSlice!([0], [2], [1]), tf.stridedSlice(x, [0], [2], [1]));
    same(m(x).sign!(), tf.sign(x));
    same(m(x).transpose!(), tf.transpose(x));
    same(m(x).matMul!(y, false, true), tf.matMul(x, y, false, true));
    same(
      m(tf.ones([1, 4, 4, 1])).resizeBilinear!([2, 2]),
      tf.image.resizeBilinear(tf.ones<tf.Rank.R4>([1, 4, 4, 1]), [2, 2]),
    );
    same(m(tf.complex([1, 2], [0, 1])).fft!(), tf.spectral.fft(tf.complex([1, 2], [0, 1])));
    const gone = tf.ones([2]);
    gone.dispose();
    expect(() => m(gone).sign!()).toThrow(/disposed/);
  });
});

describe('a recurrent model through tfjsReplica', () => {
  it('an LSTM into a GRU, with dropouts, trains on wasm: the same bytes on 1 and 2 replicas', async () => {
    const start = modelVariables(createModel());
    const finals: string[] = [];
    for (const replicas of [1, 2]) {
      const variables = start.map((v) => new Variable(v.value.slice(), { name: v.name, shape: v.shape }));
      const optimizer = new RMSprop({ microBatches: 2, workers: 0 });
      const trainer = new DataParallelTrainer({
        optimizer,
        variables,
        replica: tfjsReplica,
        replicaOptions: {
          factory: new URL('../modules/tfjs-recurrent.mjs', import.meta.url),
          loss: 'meanSquaredError',
          backend: 'wasm',
        },
        replicas,
      });
      open.push(trainer, optimizer);
      for (let s = 0; s < 2; s++) {
        const loss = await trainer.step({
          inputs: randomValues(4 * 18, 10 + s),
          targets: randomValues(8, 20 + s),
          rows: 4,
        });
        expect(Number.isFinite(loss)).toBe(true);
      }
      finals.push(
        variables
          .map((v) => Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength).toString('hex'))
          .join(),
      );
    }
    expect(finals[1]).toBe(finals[0]);
    expect(finals[0]).not.toBe(
      start.map((v) => Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength).toString('hex')).join(),
    );
  }, 60_000);
});
