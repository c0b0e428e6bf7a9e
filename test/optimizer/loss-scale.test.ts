/**
 * LossScaleOptimizer against real Keras 3.16 runs (test/fixtures/keras-loss-scale): skipped steps
 * (inf, NaN, float16 overflow) change nothing and halve the scale, growth doubles it, an inner
 * optimizer clips in float32 as Keras does; bit for bit at several worker counts on both kernel
 * sets; its config, state listing, checkpoints and refusals.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  fromHalfBits,
  LossScaleOptimizer,
  readCheckpoint,
  RMSprop,
  Variable,
  type DType,
} from '../../dist/src/index.js';
import { snakeToCamel } from '../../dist/src/common/keras-names.js';
import { readCases, valuesOf } from '../helpers/keras-cases.js';

interface LossScaleCase {
  readonly id: string;
  readonly inner_optimizer: { options: Record<string, unknown> };
  readonly options: Record<string, number>;
  readonly variables: ReadonlyArray<{ name: string; shape: number[]; init: number[]; dtype?: DType }>;
  readonly steps: ReadonlyArray<{ grads: number[][]; finite: boolean }>;
  readonly expected: ReadonlyArray<{
    applied: boolean;
    dynamic_scale: number;
    step_counter: number;
    iterations: number;
    variables: number[][];
  }>;
  readonly expected_state: ReadonlyArray<{ name: string; dtype: string; value: number[] }>;
  readonly expected_finalized: number[][] | null;
  readonly expected_config: Record<string, unknown> & { inner_optimizer: { config: Record<string, unknown> } };
}

const cases = readCases<LossScaleCase>('keras-loss-scale');

const open: LossScaleOptimizer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

const camel = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [snakeToCamel(k), v]));

function setUp(c: LossScaleCase, runtime: { workers: number; kernels: 'js' | 'wasm' }) {
  const optimizer = new LossScaleOptimizer(
    new RMSprop({ ...camel(c.inner_optimizer.options), ...runtime }),
    camel(c.options),
  );
  open.push(optimizer);
  const variables = c.variables.map(
    (v) => new Variable(v.init, { shape: v.shape, name: v.name, dtype: v.dtype ?? 'float16' }),
  );
  return { optimizer, variables };
}

const settings = [
  { kernels: 'wasm', workers: 0 },
  { kernels: 'wasm', workers: 2 },
  { kernels: 'js', workers: 1 },
  { kernels: 'js', workers: 4 },
] as const;

describe('LossScaleOptimizer, against real Keras 3.16 runs', () => {
  it('has the cases this test knows about, with skipped steps among them', () => {
    expect(cases.map((c) => c.id)).toEqual([
      'lso_defaults',
      'lso_growth',
      'lso_inner_options',
      'lso_mixed',
      'lso_global_accum',
      'lso_clipvalue_mixed',
    ]);
    expect(cases.flatMap((c) => c.steps.filter((s) => !s.finite)).length).toBeGreaterThanOrEqual(5);
  });

  for (const c of cases) {
    it.each(settings)(
      `${c.id}: scale, counter, iterations and variables after every step (kernels $kernels, workers $workers)`,
      async (setting) => {
        const { optimizer, variables } = setUp(c, setting);
        for (const [s, step] of c.steps.entries()) {
          const before = variables.map(valuesOf);
          await optimizer.apply(step.grads, variables);
          const e = c.expected[s]!;
          expect([optimizer.dynamicScale, optimizer.stepCounter, optimizer.iterations], `step ${s + 1}`).toEqual([
            e.dynamic_scale,
            e.step_counter,
            e.iterations,
          ]);
          if (!e.applied) expect(variables.map(valuesOf)).toEqual(before); // a skipped step changes nothing
          // bit for bit, also lso_inner_options: Keras's float32 scale makes the gradient float32, so its
          // clipping runs in float32 before update_step casts it (the kernels' float32 gradient stage)
          expect(variables.map(valuesOf), `step ${s + 1}`).toEqual(e.variables);
        }
        if (c.expected_finalized !== null) {
          optimizer.finalizeVariableValues(variables);
          expect(variables.map(valuesOf)).toEqual(c.expected_finalized);
        }
        const state = optimizer.variables;
        expect(state.map((v) => [v.name, v.dtype === 'int64' ? 'int32' : v.dtype])).toEqual(
          c.expected_state.map((v) => [v.name, v.dtype]),
        );
        expect(state.slice(0, 4).map((v) => v.value[0])).toEqual(c.expected_state.slice(0, 4).map((v) => v.value[0]));
      },
    );
  }

  it('getConfig is Keras’s, the inner optimizer nested; fromConfig gives it back', () => {
    for (const c of cases) {
      const { optimizer } = setUp(c, { workers: 0, kernels: 'wasm' });
      const config = optimizer.getConfig();
      const { name: _a, inner_optimizer: inner, ...rest } = c.expected_config;
      const { name: _b, ...innerConfig } = inner.config;
      expect({
        ...config,
        name: undefined,
        inner_optimizer: { ...config.inner_optimizer, config: { ...config.inner_optimizer.config, name: undefined } },
      }).toEqual({
        ...rest,
        name: undefined,
        inner_optimizer: { ...inner, config: { ...innerConfig, name: undefined } },
      });
      const again = LossScaleOptimizer.fromConfig(config, { workers: 0 });
      open.push(again);
      expect(again.getConfig()).toEqual(config);
    }
  });

  it('scaleLoss multiplies by the current scale in float32', async () => {
    const c = cases.find((x) => x.id === 'lso_growth')!;
    const { optimizer, variables } = setUp(c, { workers: 0, kernels: 'wasm' });
    expect(optimizer.scaleLoss(1.5)).toBe(6);
    for (const step of c.steps) await optimizer.apply(step.grads, variables);
    expect(optimizer.scaleLoss(0.1)).toBe(Math.fround(0.1 * c.expected.at(-1)!.dynamic_scale));
  });

  it('refuses what would go wrong (Keras accepts these and then diverges), naming the argument, changing nothing', () => {
    const inner = new RMSprop({ workers: 0 });
    expect(() => new LossScaleOptimizer(inner, { initialScale: -1 })).toThrow(
      '`initialScale` must be a positive, finite float32, got -1 (number)',
    );
    expect(() => new LossScaleOptimizer(inner, { initialScale: 0 })).toThrow('`initialScale` must be a positive');
    expect(() => new LossScaleOptimizer(inner, { dynamicGrowthSteps: 0 })).toThrow(
      '`dynamicGrowthSteps` must be an integer of at least 1, got 0 (number)',
    );
    expect(() => new LossScaleOptimizer('RMSprop' as never)).toThrow(
      '`innerOptimizer` must be an RMSprop, got "RMSprop" (string)',
    );
    expect(() => new LossScaleOptimizer(new RMSprop({ lossScaleFactor: 8 }))).toThrow('has a lossScaleFactor');
    // a Keras user's first try: snake_case, and an option of the inner optimizer
    expect(() => new LossScaleOptimizer(inner, { initial_scale: 1024 } as never)).toThrow(
      "unknown option(s) 'initial_scale'; options are camelCase ('initialScale')",
    );
    expect(() => new LossScaleOptimizer(inner, { learningRate: 0.1 } as never)).toThrow(
      "unknown option(s) 'learningRate'; it takes initialScale, dynamicGrowthSteps, name, and the inner optimizer takes the rest",
    );
    const lso = new LossScaleOptimizer(inner);
    open.push(lso);
    expect(() => new LossScaleOptimizer(inner)).toThrow('is already inside a LossScaleOptimizer');
    expect(() => LossScaleOptimizer.fromConfig({ ...lso.getConfig(), learning_rate: 0.1 } as never)).toThrow(
      'LossScaleOptimizer does not support arguments: learning_rate',
    );
  });

  it('save and load carry the scale and the counter: a run resumed from a checkpoint has the bytes of one never stopped', async () => {
    const c = cases.find((x) => x.id === 'lso_growth')!;
    const path = join(mkdtempSync(join(tmpdir(), 'lso-')), 'lso.safetensors');
    const { optimizer, variables } = setUp(c, { workers: 2, kernels: 'wasm' });
    const half = 6; // after the skipped step (step 6) and some growth
    for (const step of c.steps.slice(0, half)) await optimizer.apply(step.grads, variables);
    await optimizer.save(path, { variables: true });
    const file = await readCheckpoint(path);
    expect(file.state.slice(0, 4).map((a) => a.name)).toEqual([
      'iteration',
      'learning_rate',
      'step_counter',
      'dynamic_scale',
    ]);
    expect((file.config as { initial_scale: number }).initial_scale).toBe(4);
    for (const step of c.steps.slice(half)) await optimizer.apply(step.grads, variables);

    const resumedVariables = c.variables.map(
      (v) => new Variable(v.init, { shape: v.shape, name: v.name, dtype: 'float16' }),
    );
    const resumed = await LossScaleOptimizer.load(path, resumedVariables, { workers: 1 });
    open.push(resumed);
    expect([resumed.dynamicScale, resumed.stepCounter, resumed.iterations]).toEqual([
      c.expected[half - 1]!.dynamic_scale,
      c.expected[half - 1]!.step_counter,
      c.expected[half - 1]!.iterations,
    ]);
    for (const step of c.steps.slice(half)) await resumed.apply(step.grads, resumedVariables);
    expect(resumedVariables.map(valuesOf)).toEqual(variables.map(valuesOf));
    expect([resumed.dynamicScale, resumed.stepCounter]).toEqual([optimizer.dynamicScale, optimizer.stepCounter]);
    // a plain RMSprop checkpoint is not a LossScaleOptimizer's, and the other way round
    await expect(
      RMSprop.load(
        path,
        resumedVariables.map(
          (v) =>
            new Variable(Array.from(fromHalfBits(v.value, 'float16')), {
              name: v.name,
              shape: v.shape,
              dtype: 'float16',
            }),
        ),
      ),
    ).rejects.toThrow("checkpoint '");
  });

  it('a scale beyond float16’s range (2^20) unscales in float32: both kernel sets, the same bytes as unscaled gradients', async () => {
    const grads = [[0.5, -0.25, 3, 1e-3]];
    const results: number[][] = [];
    for (const kernels of ['js', 'wasm'] as const) {
      const w = new Variable([1, 2, 3, 4], { dtype: 'float16', name: 'w' });
      const optimizer = new LossScaleOptimizer(new RMSprop({ workers: 0, kernels }), { initialScale: 2 ** 20 });
      open.push(optimizer);
      await optimizer.apply([grads[0]!.map((g) => g * 2 ** 20)], [w]); // float16 holds up to 65504: bits of inf
      results.push(valuesOf(w));
      expect(optimizer.iterations).toBe(0); // 0.5 * 2^20 overflows float16: skipped
      await optimizer.apply([grads[0]!.map((g) => g * 2 ** 13)], [w]); // finite in float16, scale now 2^19
      expect(optimizer.dynamicScale).toBe(2 ** 19);
      results.push(valuesOf(w));
    }
    const plain = new Variable([1, 2, 3, 4], { dtype: 'float16', name: 'p' });
    const reference = new RMSprop({ workers: 0 }); // the unscaled gradients, applied directly
    await reference.apply([grads[0]!.map((g) => (g * 2 ** 13) / 2 ** 19)], [plain]);
    await reference.close();
    expect(results[1]).toEqual(valuesOf(plain));
    expect(results[3]).toEqual(results[1]);
    expect(results[0]).toEqual([1, 2, 3, 4]);
  });
});

describe('the finiteness test is on the gradients, as Keras’s check_finite is, not on their squares', () => {
  /** A LossScaleOptimizer and a plain RMSprop dividing by the same scale, over one float32 variable of `n`. */
  function pair(n: number, microBatches?: number) {
    const scaled = new LossScaleOptimizer(new RMSprop({ learningRate: 0.01, microBatches }), { initialScale: 2 ** 15 });
    const plain = new RMSprop({ learningRate: 0.01, lossScaleFactor: 2 ** 15, microBatches });
    const [a, b] = [0, 1].map(() => new Variable(new Float32Array(n).fill(1), { name: 'w' }));
    scaled.build([a!]);
    plain.build([b!]);
    return { scaled, plain, a: a!, b: b! };
  }

  it('finite gradients whose squares sum past float32 (10,000 of 2e17) are applied, as Keras applies them', async () => {
    const { scaled, plain, a, b } = pair(10000);
    try {
      a.grad.fill(2e17); // each square 4e34 is finite; their float32 sum is not
      b.grad.fill(2e17);
      await scaled.step();
      await plain.step();
      expect(scaled.iterations).toBe(1);
      expect(scaled.dynamicScale).toBe(2 ** 15); // not halved: nothing was skipped
      expect(
        Buffer.from(a.value.buffer, a.value.byteOffset, a.value.byteLength).equals(
          Buffer.from(b.value.buffer, b.value.byteOffset, b.value.byteLength),
        ),
      ).toBe(true);
      expect(a.value[0]).not.toBe(1);
      a.grad[9999] = Infinity; // one gradient not finite: skipped, the scale halved
      await scaled.step();
      expect(scaled.iterations).toBe(1);
      expect(scaled.dynamicScale).toBe(2 ** 14);
    } finally {
      await Promise.all([scaled.close(), plain.close()]);
    }
  });

  it('with micro-batches, the test is on their mean: finite shards whose mean overflows are not finite', async () => {
    const { scaled, plain, a, b } = pair(10000, 2);
    try {
      for (const v of [a, b]) for (const shard of v.gradShards) shard.fill(2e17);
      await scaled.step();
      await plain.step();
      expect(scaled.dynamicScale).toBe(2 ** 15);
      expect(
        Buffer.from(a.value.buffer, a.value.byteOffset, a.value.byteLength).equals(
          Buffer.from(b.value.buffer, b.value.byteOffset, b.value.byteLength),
        ),
      ).toBe(true);
      a.gradShards[0]![5] = 3e38;
      a.gradShards[1]![5] = 3e38; // float32 sum 6e38: the mean the kernels take is infinite
      await scaled.step();
      expect(scaled.iterations).toBe(1);
      expect(scaled.dynamicScale).toBe(2 ** 14);
    } finally {
      await Promise.all([scaled.close(), plain.close()]);
    }
  });
});
