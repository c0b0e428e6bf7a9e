/** Property tests: for random models, options and gradients, every worker count gives the workers=0 bytes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RMSprop, Variable, type Gradient, type RMSpropOptions } from '../dist/src/index.js';
import { planGroups, BLOCK_BYTES } from '../dist/src/layout.js';
import { randomValues, snapshot } from './helpers/state.js';

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
  workers: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  dropped: fc.integer({ min: -1, max: 3 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

async function run(s: Scenario, workers: number): Promise<Buffer> {
  const vars = s.variables.map(
    (v, i) => new Variable(randomValues(v.size, s.seed + i), { name: `v${i}`, dtype: v.dtype }),
  );
  const opt = new RMSprop({ ...s.options, workers });
  try {
    for (let step = 0; step < s.steps; step++) {
      const grads: Gradient[] = vars.map((v, i) =>
        i === s.dropped && step % 2 === 1 && vars.length > 1 ? null : randomValues(v.size, s.seed * 31 + step * 7 + i),
      );
      await opt.apply(grads, vars);
    }
    return snapshot(opt, vars);
  } finally {
    await opt.close();
  }
}

describe('determinism across worker counts', () => {
  it('any workers value gives the workers=0 bytes', async () => {
    const quiet = process.emitWarning;
    process.emitWarning = () => {};
    try {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (s) => {
          const single = await run(s, 0);
          const parallel = await run(s, s.workers);
          expect(parallel.equals(single)).toBe(true);
        }),
        { numRuns: 60 },
      );
    } finally {
      process.emitWarning = quiet;
    }
  });
});

describe('layout', () => {
  it('chunks tile every variable exactly, lanes tile the chunks, cuts fall on block boundaries', () => {
    fc.assert(
      fc.property(fc.array(variableArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 8 }), (vars, lanes) => {
        for (const plan of planGroups(vars, lanes)) {
          const block = BLOCK_BYTES / (plan.dtype === 'float32' ? 4 : 8);
          const count = plan.chunks.length / 3;
          const covered = new Map<number, number>();
          for (let c = 0; c < count; c++) {
            const [start, end, v] = [plan.chunks[3 * c]!, plan.chunks[3 * c + 1]!, plan.chunks[3 * c + 2]!];
            expect(end).toBeGreaterThan(start);
            expect(Math.floor(start / block)).toBe(Math.floor((end - 1) / block)); // one block per chunk
            covered.set(v, (covered.get(v) ?? 0) + end - start);
          }
          plan.variables.forEach((v, k) => {
            expect(covered.get(v)).toBe(vars[v]!.size);
            expect((plan.offsets[k]! * (plan.dtype === 'float32' ? 4 : 8)) % 64).toBe(0);
            expect(plan.offsets[k]! + vars[v]!.size).toBeLessThanOrEqual(plan.fieldLength);
          });
          let cursor = 0;
          for (let lane = 0; lane < lanes; lane++) {
            const [begin, end] = [plan.laneRanges[2 * lane]!, plan.laneRanges[2 * lane + 1]!];
            expect(begin).toBe(cursor);
            expect(end).toBeGreaterThanOrEqual(begin);
            if (begin > 0 && begin < count) {
              // a lane starts where a new block starts
              expect(Math.floor(plan.chunks[3 * begin]! / block)).not.toBe(Math.floor(plan.chunks[3 * (begin - 1)]! / block));
            }
            cursor = end;
          }
          expect(cursor).toBe(count);
        }
      }),
    );
  });
});
