/**
 * float16 and bfloat16 variables: the optimizer against real Keras 3.16 float16 runs
 * (test/fixtures/keras-float16, keras-float16-more), bit for bit on both kernel sets at 0, 1, 2
 * and 4 workers; bfloat16 against the independent oracle (test/helpers/keras-float16.ts with
 * bfloat16 rounding), element by element; and what a half variable refuses.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DataParallelTrainer,
  fromHalfBits,
  LossScaleOptimizer,
  readCheckpoint,
  RMSprop,
  schedules,
  toHalfBits,
  Variable,
  type DType,
  type RMSpropOptions,
} from '../../dist/src/index.js';
import { snakeToCamel } from '../../dist/src/common/keras-names.js';
import { readCases, valuesOf } from '../helpers/keras-cases.js';
import { shardTree } from '../helpers/shard-tree.js';
import { bf16, kerasFloat16, type Float16Options } from '../helpers/keras-float16.js';

interface HalfCase {
  readonly id: string;
  readonly dtype: 'float16' | 'mixed';
  readonly options: Record<string, unknown>;
  readonly variables: ReadonlyArray<{ name: string; shape: number[]; init: number[]; dtype?: DType }>;
  readonly steps: ReadonlyArray<{ grads: number[][] }>;
  readonly expected: ReadonlyArray<{ variables: number[][] }>;
  readonly expected_finalized: number[][] | null;
}

const cases = ['keras-float16', 'keras-float16-more'].flatMap((folder) => readCases<HalfCase>(folder));

function optionsOf(c: HalfCase): RMSpropOptions {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(c.options)) {
    const spec = value as { schedule: string; config: Record<string, unknown> };
    options[snakeToCamel(key)] =
      key === 'learning_rate' && typeof value !== 'number'
        ? new (schedules as unknown as Record<string, new (o: unknown) => unknown>)[spec.schedule]!(
            Object.fromEntries(Object.entries(spec.config).map(([k, v]) => [snakeToCamel(k), v])),
          )
        : value;
  }
  return options;
}

/** A variable's values as numbers (half precision: its bits widened). */
const open: RMSprop[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** Runs a case; returns each step's values and the finalized ones (when EMA is on). */
async function run(
  c: HalfCase,
  extra: RMSpropOptions,
  dtype?: DType,
): Promise<{ steps: number[][][]; finalized: number[][] | null }> {
  const optimizer = new RMSprop({ ...optionsOf(c), ...extra });
  open.push(optimizer);
  const variables = c.variables.map(
    (v) => new Variable(v.init, { shape: v.shape, name: v.name, dtype: dtype ?? v.dtype ?? 'float16' }),
  );
  const steps: number[][][] = [];
  for (const step of c.steps) {
    await optimizer.apply(step.grads, variables);
    steps.push(variables.map(valuesOf));
  }
  if (c.expected_finalized === null) return { steps, finalized: null };
  optimizer.finalizeVariableValues(variables);
  return { steps, finalized: variables.map(valuesOf) };
}

const settings = ['js', 'wasm'].flatMap((kernels) => [0, 1, 2, 4].map((workers) => ({ kernels, workers }) as const));

describe('float16 variables, against real Keras 3.16 float16 runs', () => {
  it('has every vendored case', () => {
    expect(cases.map((c) => c.id)).toEqual([
      'f16_defaults',
      'f16_centered_momentum',
      'f16_clipnorm_ema',
      'f16_weight_decay_accum',
      'f16_schedule',
      'f16_ema_overwrite',
      'f16_clipvalue',
      'f16_global_clipnorm',
      'f16_accum_ema_clipnorm',
      'f16_loss_scale_factor',
      'mixed_f16_f32',
      'mixed_f16_f32_global',
    ]);
  });

  for (const c of cases) {
    it.each(settings)(`${c.id}: every step bit for bit (kernels $kernels, workers $workers)`, async (setting) => {
      const { steps, finalized } = await run(c, setting);
      steps.forEach((values, s) =>
        values.forEach((got, k) => {
          expect(got, `step ${s + 1}, ${c.variables[k]!.name}`).toEqual(c.expected[s]!.variables[k]!);
        }),
      );
      if (c.expected_finalized !== null) expect(finalized).toEqual(c.expected_finalized);
    });
  }
});

describe('micro-batches over half-precision variables', () => {
  // the wasm kernels once summed half shards with a rounding bound outside their loop
  it.each(['float16', 'bfloat16'] as const)(
    "%s: step() applies the shards' mean, summed in their tree and rounded to the format, on both kernel sets",
    async (dtype) => {
      const shards = 5;
      const n = 37;
      // numpy's half arithmetic: the float32 result, rounded to the format
      const round = (x: number) => fromHalfBits(toHalfBits([Math.fround(x)], dtype), dtype)[0]!;
      const grads = Array.from({ length: shards }, (_, j) =>
        Array.from({ length: n }, (_, i) => round(Math.sin(i * 3.7 + j) * (j + 1))),
      );
      const mean = Array.from({ length: n }, (_, i) =>
        round(
          shardTree(
            grads.map((g) => g[i]!),
            (a, b) => round(a + b),
          ) / shards,
        ),
      );
      const init = Array.from({ length: n }, (_, i) => i / 7);
      const reference = new RMSprop({ kernels: 'js', workers: 0 });
      open.push(reference);
      const expected = new Variable(init, { dtype, name: 'w' });
      await reference.apply([mean], [expected]);
      for (const kernels of ['js', 'wasm'] as const) {
        for (const workers of [0, 2]) {
          const optimizer = new RMSprop({ kernels, workers, microBatches: shards });
          open.push(optimizer);
          const v = new Variable(init, { dtype, name: 'w' });
          optimizer.build([v]);
          v.gradShards.forEach((g, j) => g.set(toHalfBits(grads[j]!, dtype)));
          await optimizer.step();
          expect(Array.from(v.value), `${kernels}, workers ${workers}`).toEqual(Array.from(expected.value));
        }
      }
    },
  );
});

describe('bfloat16 variables, against the independent oracle', () => {
  // the cases whose options the oracle states (no schedule, clipvalue, global norm, EMA overwrite; EMA not with accumulation)
  const stated = [
    'learning_rate',
    'rho',
    'momentum',
    'epsilon',
    'centered',
    'weight_decay',
    'clipnorm',
    'use_ema',
    'ema_momentum',
  ];
  const oracleCases = cases.filter(
    (c) =>
      c.dtype === 'float16' &&
      typeof c.options.learning_rate === 'number' &&
      Object.keys(c.options).every(
        (k) => stated.includes(k) || k === 'gradient_accumulation_steps' || k === 'loss_scale_factor',
      ) &&
      !(c.options.use_ema && c.options.gradient_accumulation_steps),
  );
  it('covers the options the oracle states', () => {
    expect(oracleCases.map((c) => c.id)).toEqual([
      'f16_defaults',
      'f16_centered_momentum',
      'f16_clipnorm_ema',
      'f16_weight_decay_accum',
      'f16_loss_scale_factor',
    ]);
  });
  it.each(oracleCases.map((c) => c.id))('%s in bfloat16: every element of every step', async (id) => {
    const c = oracleCases.find((x) => x.id === id)!;
    const initial = c.variables.map((v) => v.init.map(bf16));
    const grads = c.steps.map((s) => s.grads.map((g) => g.map(bf16)));
    const expected = kerasFloat16(c.options as unknown as Float16Options, initial, grads, bf16);
    for (const setting of [
      { kernels: 'js', workers: 0 },
      { kernels: 'wasm', workers: 2 },
    ] as const) {
      const bcase = {
        ...c,
        variables: c.variables.map((v, k) => ({ ...v, init: initial[k]! })),
        steps: grads.map((g) => ({ grads: g })),
      };
      const { steps, finalized } = await run(bcase, setting, 'bfloat16');
      steps.forEach((values, s) =>
        expect(values, `${setting.kernels} step ${s + 1}`).toEqual(expected.afterEachStep[s]),
      );
      if (c.expected_finalized !== null) expect(finalized).toEqual(expected.finalized);
    }
  });
});

describe('half-precision variables', () => {
  it('store bits: a number[] is rounded to nearest even, a Uint16Array is taken as bits, a float array refused', () => {
    const v = new Variable([0.1, 1 + 2 ** -11, 65520], { dtype: 'float16' });
    expect(v.value).toBeInstanceOf(Uint16Array);
    expect(Array.from(v.value)).toEqual([0x2e66, 0x3c00, 0x7c00]); // 0.1, a tie to even, infinity
    const b = new Variable(toHalfBits([1, -2], 'bfloat16'), { dtype: 'bfloat16' });
    expect(Array.from(b.value)).toEqual([0x3f80, 0xc000]);
    expect(Array.from(new Variable('ones', { shape: [2], dtype: 'bfloat16' }).value)).toEqual([0x3f80, 0x3f80]);
    expect(() => new Variable(new Float32Array([1]), { dtype: 'float16' })).toThrow(
      "a float16 variable stores bits: `init` must be a number[] of values or a Uint16Array of float16 bits (toHalfBits(values, 'float16'))",
    );
    expect(() => new Variable(new Uint16Array([1]))).toThrow(
      'a Uint16Array holds half-precision bits, but the variable is float32',
    );
    expect(() => v.assign(new Float64Array(3))).toThrow('a float16 variable stores bits');
    expect(Array.from(v.value)).toEqual([0x2e66, 0x3c00, 0x7c00]); // unchanged
    v.assign([1, 2, 3]);
    expect(Array.from(v.value)).toEqual([0x3c00, 0x4000, 0x4200]);
  });

  it('apply refuses a Float32Array gradient for a half variable, naming it, and changes nothing', async () => {
    const v = new Variable([1, 2], { dtype: 'float16', name: 'w' });
    const optimizer = new RMSprop({ workers: 0 });
    open.push(optimizer);
    await optimizer.apply([[0.5, 0.5]], [v]);
    const before = Array.from(v.value);
    await expect(optimizer.apply([new Float32Array([1, 1])], [v])).rejects.toThrow(
      "the gradient for 'w' (float16) must be a Uint16Array of float16 bits (toHalfBits(values, 'float16')) or a number[]",
    );
    expect(Array.from(v.value)).toEqual(before);
    expect(optimizer.iterations).toBe(1);
  });

  it('one optimizer mixes dtypes; bytes are the same for any number of workers', async () => {
    const make = () => [
      new Variable('ones', { shape: [3000], dtype: 'float16', name: 'h' }),
      new Variable('ones', { shape: [2000], dtype: 'bfloat16', name: 'b' }),
      new Variable('ones', { shape: [1000], dtype: 'float32', name: 'f' }),
    ];
    const grads = [3000, 2000, 1000].map((n) => Array.from({ length: n }, (_, i) => Math.sin(i) * 1e-3));
    const results: number[][][] = [];
    for (const workers of [0, 1, 2, 4]) {
      const variables = make();
      const optimizer = new RMSprop({ workers, momentum: 0.9, clipnorm: 0.01, microBatches: 1 });
      open.push(optimizer);
      for (let s = 0; s < 3; s++) await optimizer.apply(grads, variables);
      results.push(variables.map((v) => Array.from(v.value)));
    }
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
    expect(results[0]![0]!.some((b) => b !== 0x3c00)).toBe(true);
  });

  it('DataParallelTrainer refuses a half-precision variable before anything starts', () => {
    const optimizer = new RMSprop({ workers: 0 });
    open.push(optimizer);
    const variables = [new Variable('ones', { shape: [4], dtype: 'bfloat16', name: 'h' })];
    expect(
      () => new DataParallelTrainer({ optimizer, variables, replica: new URL('file:///nowhere/replica.mjs') }),
    ).toThrow("variable 'h' is bfloat16; replicas write float32 gradients");
    expect(variables[0]!.owner).toBe(null);
    // and a LossScaleOptimizer, whose scale the replicas' loss would not carry
    const scaled = new LossScaleOptimizer(new RMSprop({ workers: 0 }));
    open.push(scaled.innerOptimizer);
    const floats = [new Variable('ones', { shape: [4], name: 'f' })];
    expect(
      () =>
        new DataParallelTrainer({
          optimizer: scaled as never,
          variables: floats,
          replica: new URL('file:///nowhere/replica.mjs'),
        }),
    ).toThrow('`optimizer` must be an RMSprop, got');
    expect(floats[0]!.owner).toBe(null);
  });

  it('checkpoints hold F16 and BF16 arrays under Keras names; a load continues bit for bit; a dtype mismatch is refused', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'half-')), 'h.safetensors');
    const make = () => [
      new Variable([0.5, -1, 2], { dtype: 'float16', name: 'h' }),
      new Variable([0.25, 4], { dtype: 'bfloat16', name: 'b' }),
    ];
    const grads = [
      [0.125, 0.25, -0.5],
      [1, -1],
    ];
    const variables = make();
    const optimizer = new RMSprop({ workers: 0, momentum: 0.9 });
    open.push(optimizer);
    await optimizer.apply(grads, variables);
    await optimizer.save(path, { variables: true });
    const file = await readCheckpoint(path);
    expect(file.state.map((a) => a.name)).toEqual([
      'iteration',
      'learning_rate',
      'h_velocity',
      'b_velocity',
      'h_momentum',
      'b_momentum',
    ]);
    expect(file.state[2]!.data).toBeInstanceOf(Uint16Array);
    await optimizer.apply(grads, variables);
    const restoredVariables = make();
    const restored = await RMSprop.load(path, restoredVariables, { workers: 2 });
    open.push(restored);
    await restored.apply(grads, restoredVariables);
    expect(restoredVariables.map((v) => Array.from(v.value))).toEqual(variables.map((v) => Array.from(v.value)));
    const wrong = [new Variable([0.5, -1, 2], { dtype: 'float32', name: 'h' }), make()[1]!];
    await expect(RMSprop.load(path, wrong)).rejects.toThrow("'h' is not float32");
  });

  it('float16 variables offer a Float16Array view of their bits where the runtime has Float16Array (Node 24), else null', () => {
    const v = new Variable([0.1, -2, 65504], { dtype: 'float16', name: 'f' });
    const view = v.float16Array;
    expect(new Variable([1], { dtype: 'bfloat16' }).float16Array).toBeNull();
    if (typeof (globalThis as { Float16Array?: unknown }).Float16Array !== 'function') {
      expect(view).toBeNull();
      return;
    }
    expect(Array.from(view!)).toEqual(Array.from(fromHalfBits(v.value, 'float16')));
    view![1] = 3; // the same bits: a write shows in .value
    expect(v.value[1]).toBe(0x4200);
  });
});
