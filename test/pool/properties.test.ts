/**
 * Property tests: for random models, options and gradients, the WebAssembly kernels on any
 * worker count and segment size give the bytes of the JS reference kernels on the calling thread.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { RMSprop, Variable, type Gradient, type RMSpropOptions } from '../../dist/src/index.js';
import { bytesPerElement } from '../../dist/src/memory/dtype.js';
import { Chunk, CHUNK_STRIDE, chunkCount, planGroups, BLOCK_BYTES } from '../../dist/src/memory/layout.js';
import { NUMPY_BUFFER } from '../../dist/src/memory/numpy-sum.js';
import { shardTree } from '../helpers/shard-tree.js';
import { randomValues, snapshot } from '../helpers/state.js';

const variableArb = fc.record({
  size: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 900, max: 5000 })),
  dtype: fc.constantFrom('float32' as const, 'float32' as const, 'float64' as const),
});

const optionsArb: fc.Arbitrary<RMSpropOptions> = fc
  .record({
    learningRate: fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
    rho: fc.double({ min: 0.5, max: 0.999, noNaN: true }),
    momentum: fc.constantFrom(0, 0.5, 0.9),
    centered: fc.boolean(),
    weightDecay: fc.constantFrom(null, 0.01),
    clip: fc.constantFrom('none', 'clipnorm', 'clipvalue', 'globalClipnorm'),
    useEma: fc.boolean(),
    emaOverwriteFrequency: fc.constantFrom(null, 2),
    lossScaleFactor: fc.constantFrom(null, 16),
    gradientAccumulationSteps: fc.constantFrom(null, 2, 3),
  })
  .map(({ clip, ...o }) => ({ ...o, ...(clip === 'none' ? {} : { [clip]: 0.5 }) }));

const scenarioArb = fc.record({
  variables: fc.array(variableArb, { minLength: 1, maxLength: 4 }),
  options: optionsArb,
  steps: fc.integer({ min: 1, max: 4 }),
  workers: fc.integer({ min: 0, max: 3 }),
  /** 8 pages hold the largest generated variable with every slot; smaller models span several. */
  maxSegmentBytes: fc.constantFrom(undefined, 8 * 65536),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  dropped: fc.integer({ min: -1, max: 3 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** The scenario's variables under its options and `runtime`; `step` does step k. Returns every byte the optimizer owns. */
async function runScenario(
  s: Scenario,
  runtime: RMSpropOptions,
  step: (opt: RMSprop, vars: Variable[], k: number) => Promise<void>,
): Promise<Buffer> {
  const vars = s.variables.map(
    (v, i) => new Variable(randomValues(v.size, s.seed + i), { name: `v${i}`, dtype: v.dtype }),
  );
  const opt = new RMSprop({ ...s.options, ...runtime });
  try {
    for (let k = 0; k < s.steps; k++) await step(opt, vars, k);
    return snapshot(opt, vars);
  } finally {
    await opt.close();
  }
}

/** The scenario's steps through apply(), a variable's gradient dropped every other step when asked. */
function run(s: Scenario, runtime: RMSpropOptions): Promise<Buffer> {
  return runScenario(s, runtime, (opt, vars, step) => {
    const grads: Gradient[] = vars.map((v, i) =>
      i === s.dropped && step % 2 === 1 && vars.length > 1 ? null : randomValues(v.size, s.seed * 31 + step * 7 + i),
    );
    return opt.apply(grads, vars);
  });
}

describe('determinism across kernels, worker counts and segments', () => {
  it('wasm kernels on any workers and segment size give the bytes of the JS kernels on one thread', async () => {
    const quiet = vi.spyOn(process, 'emitWarning').mockImplementation(() => {}); // the dropped gradients' warnings
    try {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (s) => {
          const single = await run(s, { kernels: 'js', workers: 0 });
          const parallel = await run(s, { kernels: 'wasm', workers: s.workers, maxSegmentBytes: s.maxSegmentBytes });
          expect(parallel.equals(single)).toBe(true);
        }),
        { numRuns: 60 },
      );
    } finally {
      quiet.mockRestore();
    }
  });
});

/** Micro-batch j's gradient for variable i at step `step`. */
const shardValues = (s: Scenario, size: number, step: number, i: number, j: number): Float32Array =>
  randomValues(size, s.seed * 31 + step * 7 + i + 1009 * j);

/** The scenario's steps with `shards` gradient shards per variable, written in place, then step(). */
function runSharded(s: Scenario, shards: number, runtime: RMSpropOptions): Promise<Buffer> {
  return runScenario(s, { ...runtime, microBatches: shards }, (opt, vars, step) => {
    if (step === 0) opt.build(vars);
    vars.forEach((v, i) => v.gradShards.forEach((g, j) => g.set(shardValues(s, v.size, step, i, j))));
    return opt.step();
  });
}

/** The same steps with one gradient: the shards' mean, summed in their tree and divided, rounded to the dtype at each operation. */
function runMean(s: Scenario, shards: number): Promise<Buffer> {
  return runScenario(s, { kernels: 'js', workers: 0 }, (opt, vars, step) => {
    const grads = vars.map((v, i) => {
      const round = v.dtype === 'float32' ? Math.fround : (x: number) => x;
      const each = Array.from({ length: shards }, (_, j) => shardValues(s, v.size, step, i, j));
      return Float64Array.from({ length: v.size }, (_, k) =>
        round(
          shardTree(
            each.map((g) => g[k]!),
            (a, b) => round(a + b),
          ) / shards,
        ),
      );
    });
    return opt.apply(grads, vars);
  });
}

describe('gradient shards (micro-batches)', () => {
  it("step() applies the shards' mean, summed in their tree: the bytes of apply(mean), any kernels and workers", async () => {
    await fc.assert(
      fc.asyncProperty(
        scenarioArb,
        fc.constantFrom(2, 3, 4, 5, 6), // 6: the most the scenarios' segments hold
        fc.constantFrom('js' as const, 'wasm' as const),
        async (s, shards, kernels) => {
          const reference = await runMean(s, shards);
          const sharded = await runSharded(s, shards, {
            kernels,
            workers: s.workers,
            maxSegmentBytes: s.maxSegmentBytes,
          });
          expect(sharded.equals(reference)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("a norm does not depend on where the layout puts a variable (fast-check's counterexample: 5 shards' fields put each variable in its own segment)", async () => {
    const s: Scenario = {
      variables: [
        { size: 4734, dtype: 'float64' },
        { size: 4574, dtype: 'float64' },
      ],
      options: { learningRate: 0.0001, rho: 0.5, momentum: 0, centered: false, globalClipnorm: 0.5 },
      steps: 2,
      workers: 0,
      maxSegmentBytes: 524288,
      seed: 1,
      dropped: 0,
    };
    const sharded = await runSharded(s, 5, { kernels: 'js', workers: 0, maxSegmentBytes: s.maxSegmentBytes });
    expect(sharded.equals(await runMean(s, 5))).toBe(true);
  });
});

describe('layout', () => {
  it('chunks tile each variable, lanes tile the chunks, cuts fall on blocks (norm lanes on numpy buffers), segments hold whole variables', () => {
    const layoutArb = fc.record({
      // past numpy's buffer of 8192 elements too
      vars: fc.array(
        fc.oneof(
          variableArb,
          fc.record({ size: fc.integer({ min: 8000, max: 40000 }), dtype: variableArb.map((v) => v.dtype) }),
        ),
        { minLength: 1, maxLength: 6 },
      ),
      lanes: fc.integer({ min: 1, max: 8 }),
      fieldCount: fc.integer({ min: 3, max: 7 }),
      pages: fc.constantFrom(1, 2, 5, 65536),
    });
    fc.assert(
      fc.property(layoutArb, ({ vars, lanes, fieldCount, pages }) => {
        const shapes = vars.map((v, i) => ({ ...v, name: `v${i}` }));
        const maxSegmentBytes = pages * 65536;
        const blockBytes = (v: { size: number; dtype: 'float32' | 'float64' }): number =>
          Math.ceil((v.size * bytesPerElement(v.dtype)) / BLOCK_BYTES) * BLOCK_BYTES;
        const fits = shapes.every((v) => fieldCount * blockBytes(v) <= maxSegmentBytes);
        if (!fits) {
          expect(() => planGroups(shapes, lanes, fieldCount, maxSegmentBytes)).toThrow(/variable 'v\d+'/);
          return;
        }
        const plans = planGroups(shapes, lanes, fieldCount, maxSegmentBytes);
        // every variable in exactly one segment, in build order within its dtype
        expect(plans.flatMap((p) => p.variables).sort((a, b) => a - b)).toEqual(shapes.map((_, i) => i));
        for (const dtype of ['float32', 'float64'] as const) {
          const order = plans.filter((p) => p.dtype === dtype).flatMap((p) => p.variables);
          expect(order).toEqual([...order].sort((a, b) => a - b));
        }
        for (const plan of plans) {
          expect(fieldCount * plan.fieldLength * bytesPerElement(plan.dtype)).toBeLessThanOrEqual(maxSegmentBytes);
          const block = BLOCK_BYTES / bytesPerElement(plan.dtype);
          const count = chunkCount(plan.chunks);
          const covered = new Map<number, number>();
          for (let c = 0; c < count; c++) {
            const [start, end, v] = [Chunk.Start, Chunk.End, Chunk.Variable].map(
              (f) => plan.chunks[c * CHUNK_STRIDE + f]!,
            ) as [number, number, number];
            expect(end).toBeGreaterThan(start);
            expect(Math.floor(start / block)).toBe(Math.floor((end - 1) / block)); // one block per chunk
            covered.set(v, (covered.get(v) ?? 0) + end - start);
          }
          plan.variables.forEach((v, k) => {
            expect(covered.get(v)).toBe(vars[v]!.size);
            expect((plan.offsets[k]! * bytesPerElement(plan.dtype)) % 64).toBe(0);
            expect(plan.offsets[k]! + vars[v]!.size).toBeLessThanOrEqual(plan.fieldLength);
          });
          let cursor = 0;
          for (let lane = 0; lane < lanes; lane++) {
            const [begin, end] = [plan.laneRanges[2 * lane]!, plan.laneRanges[2 * lane + 1]!];
            expect(begin).toBe(cursor);
            expect(end).toBeGreaterThanOrEqual(begin);
            if (begin > 0 && begin < count) {
              // a lane starts where a new block starts
              expect(Math.floor(plan.chunks[CHUNK_STRIDE * begin]! / block)).not.toBe(
                Math.floor(plan.chunks[CHUNK_STRIDE * (begin - 1)]! / block),
              );
            }
            cursor = end;
          }
          expect(cursor).toBe(count);
          // numpy's buffers: each variable's lengths at its buffers' first chunks, a norm lane starting on one
          const buffered = new Map<number, number>();
          for (let c = 0; c < count; c++) {
            const [start, v, length] = [Chunk.Start, Chunk.Variable, Chunk.SumLength].map(
              (f) => plan.chunks[c * CHUNK_STRIDE + f]!,
            ) as [number, number, number];
            const offset = start - plan.offsets[plan.variables.indexOf(v)]!;
            expect(length, `chunk ${c}`).toBe(
              offset % NUMPY_BUFFER === 0 ? Math.min(NUMPY_BUFFER, vars[v]!.size - offset) : 0,
            );
            buffered.set(v, (buffered.get(v) ?? 0) + length);
          }
          plan.variables.forEach((v) => expect(buffered.get(v)).toBe(vars[v]!.size));
          cursor = 0;
          for (let lane = 0; lane < lanes; lane++) {
            const [begin, end] = [plan.normLaneRanges[2 * lane]!, plan.normLaneRanges[2 * lane + 1]!];
            expect(begin).toBe(cursor);
            expect(end).toBeGreaterThanOrEqual(begin);
            if (begin < count) expect(plan.chunks[CHUNK_STRIDE * begin + Chunk.SumLength]).toBeGreaterThan(0);
            cursor = end;
          }
          expect(cursor).toBe(count);
        }
      }),
    );
  });
});
