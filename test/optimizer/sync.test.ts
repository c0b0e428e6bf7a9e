/**
 * Synchronous steps (for callers that cannot await, such as a tfjs optimizer): the same bytes
 * as asynchronous ones, the pool used once its threads are up, failures and hangs still bounded.
 */
import { describe, expect, it } from 'vitest';
import { RMSprop, StepError, Variable, type RMSpropOptions } from '../../dist/src/index.js';
import { randomValues, snapshot } from '../helpers/state.js';
import { failNext, faultyKernels } from '../modules/faulty-kernels.mjs';

const SIZES = [5000, 1234, 3];
const model = () => SIZES.map((n, i) => new Variable(randomValues(n, 10 + i), { name: `v${i}` }));
const grads = (step: number) => SIZES.map((n, i) => randomValues(n, 1000 * step + i));
const OPTIONS: RMSpropOptions = {
  centered: true,
  momentum: 0.9,
  globalClipnorm: 1,
  useEma: true,
  emaOverwriteFrequency: 2,
};

describe('stepSync / applySync', () => {
  it('give the bytes of apply(), on the calling thread and on the pool, cold or warm', async () => {
    const reference = model();
    const async = new RMSprop({ ...OPTIONS, workers: 0 });
    for (let s = 0; s < 6; s++) await async.apply(grads(s), reference);

    for (const workers of [0, 2]) {
      const vars = model();
      const opt = new RMSprop({ ...OPTIONS, workers });
      opt.applySync(grads(0), vars); // builds; the pool is cold, so the calling thread does it
      opt.applySync(grads(1), vars);
      await opt.apply(grads(2), vars); // waits for the warm-up the cold calls started: the threads are up
      for (let s = 3; s < 5; s++) opt.applySync(grads(s), vars);
      vars.forEach((v, i) => v.grad.set(grads(5)[i]!));
      opt.stepSync();
      expect(opt.iterations).toBe(6);
      expect(snapshot(opt, vars).equals(snapshot(async, reference))).toBe(true);
      await opt.close();
    }
  });

  it('run on the pool once its threads are up (a lane failure shows it), and report that failure', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 2, kernels: faultyKernels });
    opt.applySync(grads(0), vars); // cold: the calling thread, and a warm-up starts
    await opt.apply(grads(0), vars); // waits for the warm-up, runs on the lanes: they are up and idle now
    const before = snapshot(opt, vars);
    failNext({ lane: 1, phase: 'update', kind: 'throw' });
    let failure: unknown;
    try {
      opt.applySync(grads(1), vars);
    } catch (e) {
      failure = e;
    }
    expect(failure).toBeInstanceOf(StepError);
    expect((failure as StepError).message).toMatch(
      /update phase: worker lane 1 threw in the update phase; its state may be partly updated/,
    );
    expect(() => opt.applySync(grads(2), vars)).toThrow(/must be rebuilt/);
    expect(snapshot(opt, vars).equals(before)).toBe(false); // lane 0 did its half
    await opt.close();
  });

  it('a hanging lane: the synchronous wait is bounded by stepTimeoutMs', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 2, stepTimeoutMs: 500, kernels: faultyKernels });
    await opt.apply(grads(0), vars); // the lanes are up and idle
    failNext({ lane: 0, phase: 'update', kind: 'hang' });
    const started = performance.now();
    expect(() => opt.applySync(grads(1), vars)).toThrow(/timed out after 500 ms \(1 of 2 lanes finished\)/);
    // ended by the 500 ms bound, not the 60 s default (no tighter limit: the machine is shared)
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(450);
    expect(waited).toBeLessThan(30_000);
    await opt.close();
  });

  it('refuse to overtake pending asynchronous calls, changing nothing', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 0 });
    opt.build(vars);
    const pending = opt.apply(grads(0), vars);
    const before = snapshot(opt, vars);
    expect(() => opt.applySync(grads(1), vars)).toThrow(/cannot overtake pending/);
    expect(() => opt.stepSync()).toThrow(/cannot overtake pending/);
    expect(snapshot(opt, vars).equals(before)).toBe(true);
    await pending;
    expect(opt.iterations).toBe(1);
    opt.stepSync();
    expect(opt.iterations).toBe(2);
  });

  it('asynchronous calls after synchronous ones wait for the warm-up, and agree', async () => {
    const vars = model();
    const opt = new RMSprop({ ...OPTIONS, workers: 2 });
    opt.applySync(grads(0), vars); // starts a warm-up
    await opt.apply(grads(1), vars); // must not interleave with it
    opt.applySync(grads(2), vars);
    const reference = model();
    const single = new RMSprop({ ...OPTIONS, workers: 0 });
    for (let s = 0; s < 3; s++) await single.apply(grads(s), reference);
    expect(snapshot(opt, vars).equals(snapshot(single, reference))).toBe(true);
    await opt.close();
  });
});
