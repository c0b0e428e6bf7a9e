/**
 * Chaos: pool threads terminated from outside the library (`process.on('worker')` and
 * `worker.terminate()`) at random moments of a training run. Every step settles — done, or a
 * StepError that says whether the state changed — and nothing hangs. A norm-phase failure
 * changes nothing; after an update-phase failure the optimizer is rebuilt from a mirror. At the
 * end the bytes are those of a reference that applied exactly the steps that succeeded.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  LossScaleOptimizer,
  RMSprop,
  StepError,
  toHalfBits,
  Variable,
  type RMSpropOptions,
} from '../../dist/src/index.js';
import { randomValues, snapshot } from '../helpers/state.js';

const SIZES = [200_000, 50_000, 777];
const OPTIONS: RMSpropOptions = { clipnorm: 1, momentum: 0.9, centered: true };
const STEPS = 300;

const model = (values?: readonly Float32Array[]) =>
  SIZES.map((n, i) => new Variable(values?.[i] ?? randomValues(n, 1 + i), { name: `v${i}` }));
const gradients = (step: number) => SIZES.map((n, i) => randomValues(n, 1000 * step + i));

/** Deterministic pseudo-random integers (LCG): the kill schedule is the same every run. */
function lcg(seed: number) {
  let state = seed >>> 0;
  return (below: number) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % below;
  };
}

/**
 * Terminates pool threads from outside the library: tracks every worker thread from now on
 * (`process.on('worker')`); once started, terminates a random live one every 30-200 ms (a thread
 * takes ~100 ms to start here: faster kills would keep every lane from ever starting) until stopped.
 */
function threadKiller(random: (below: number) => number) {
  const live: Worker[] = [];
  const track = (worker: Worker) => {
    live.push(worker);
    worker.once('exit', () => live.splice(live.indexOf(worker), 1));
  };
  process.on('worker', track);
  let running = true;
  let loop: Promise<void> = Promise.resolve();
  const killer = {
    kills: 0,
    start() {
      loop = (async () => {
        while (running) {
          await new Promise((resolve) => setTimeout(resolve, 30 + random(170)));
          const victim = live[random(Math.max(1, live.length))];
          if (victim !== undefined && running) {
            killer.kills++;
            void victim.terminate();
          }
        }
      })();
    },
    async stop() {
      running = false;
      await loop;
      process.off('worker', track);
    },
  };
  return killer;
}

describe('pool threads terminated from outside', () => {
  it('every step settles, failures say what changed, and the surviving steps give the reference bytes', async () => {
    const random = lcg(42);
    const killer = threadKiller(random);

    const reference = new RMSprop({ ...OPTIONS, workers: 0 });
    const referenceVars = model();
    reference.build(referenceVars);
    let vars = model();
    let opt = new RMSprop({ ...OPTIONS, workers: 2, stepTimeoutMs: 20_000 });
    opt.build(vars);
    const outcomes = { done: 0, unchanged: 0, rebuilt: 0 };
    const settleMs: number[] = [];
    const failedMs: number[] = [];
    killer.start();
    try {
      for (let step = 0; step < STEPS; step++) {
        await new Promise((resolve) => setTimeout(resolve, random(8))); // the forward and backward pass
        const grads = gradients(step);
        vars.forEach((v, i) => v.grad.set(grads[i]!));
        const before = snapshot(opt, vars);
        const started = performance.now();
        const failure = await opt.step().then(
          () => null,
          (error: unknown) => error,
        );
        settleMs.push(performance.now() - started);
        if (failure === null) {
          outcomes.done++;
          await reference.apply(grads, referenceVars);
          continue;
        }
        failedMs.push(settleMs.at(-1)!);
        expect(failure).toBeInstanceOf(StepError);
        expect((failure as StepError).message).not.toMatch(/timed out/);
        if (!(failure as StepError).stateCorrupted) {
          outcomes.unchanged++;
          expect(snapshot(opt, vars).equals(before)).toBe(true);
          continue;
        }
        // the state may be half-updated: rebuild from the reference, as a user would from a checkpoint
        outcomes.rebuilt++;
        await expect(opt.step()).rejects.toThrow(/must be rebuilt/);
        await opt.close();
        vars = model(referenceVars.map((v) => v.value as Float32Array));
        opt = new RMSprop({ ...OPTIONS, workers: 2, stepTimeoutMs: 20_000 });
        opt.build(vars);
        opt.loadOwnVariables(reference.saveOwnVariables());
      }
    } finally {
      await killer.stop();
    }
    expect(snapshot(opt, vars).equals(snapshot(reference, referenceVars))).toBe(true);
    expect(opt.iterations).toBe(reference.iterations);
    expect(killer.kills).toBeGreaterThan(5);
    expect(outcomes.done).toBeGreaterThan(0);
    const ms = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return sorted.length === 0
        ? 'none'
        : `median ${sorted[sorted.length >> 1]!.toFixed(1)} ms, slowest ${sorted.at(-1)!.toFixed(1)} ms`;
    };
    console.log(
      `chaos: ${STEPS} steps, ${killer.kills} threads terminated: ${outcomes.done} done, ${outcomes.unchanged} failed unchanged, ` +
        `${outcomes.rebuilt} rebuilt; every step settled in ${ms(settleMs)}; failed steps in ${ms(failedMs)}`,
    );
    await opt.close();
  }, 240_000); // a bound on a hang, not a speed: 300 steps with ~150 thread deaths take 20-100 s as the machine is loaded

  it('a LossScaleOptimizer over float16: every step settles; a failed one leaves the scale and the counter; the survivors give the reference', async () => {
    const sizes = [150_000, 777];
    const random = lcg(7);
    const killer = threadKiller(random);
    const make = () =>
      sizes.map(
        (n, i) => new Variable(toHalfBits(randomValues(n, 5 + i), 'float16'), { name: `h${i}`, dtype: 'float16' }),
      );
    // the scaled gradients as bits: some steps overflow (an infinity), which the scaler skips
    const gradients = (step: number) =>
      sizes.map((n, i) => {
        const g = randomValues(n, 7000 * step + i).map((x) => x * 64);
        if (step % 9 === 4 && i === 1) g[3] = Infinity;
        return toHalfBits(g, 'float16');
      });
    const inner = { clipnorm: 1, momentum: 0.9 } as const;
    const scaling = { initialScale: 64, dynamicGrowthSteps: 5 };
    const reference = new LossScaleOptimizer(new RMSprop({ ...inner, workers: 0 }), scaling);
    const referenceVars = make();
    reference.build(referenceVars);
    let vars = make();
    let opt = new LossScaleOptimizer(new RMSprop({ ...inner, workers: 2, stepTimeoutMs: 20_000 }), scaling);
    opt.build(vars);
    const state = (o: LossScaleOptimizer, v: readonly Variable[]) =>
      [snapshot(o.innerOptimizer, v).toString('hex'), o.dynamicScale, o.stepCounter, o.iterations].join();
    const checkpoint = join(mkdtempSync(join(tmpdir(), 'chaos-lso-')), 'reference.safetensors');
    const outcomes = { done: 0, unchanged: 0, rebuilt: 0 };
    killer.start();
    try {
      for (let step = 0; step < 120; step++) {
        await new Promise((resolve) => setTimeout(resolve, random(8)));
        const grads = gradients(step);
        vars.forEach((v, i) => v.grad.set(grads[i]!));
        const before = state(opt, vars);
        const failure = await opt.step().then(
          () => null,
          (error: unknown) => error,
        );
        if (failure === null) {
          outcomes.done++;
          await reference.apply(grads, referenceVars);
          continue;
        }
        expect(failure).toBeInstanceOf(StepError);
        if (!(failure as StepError).stateCorrupted) {
          outcomes.unchanged++;
          expect(state(opt, vars)).toBe(before); // the scale and the counter too
          continue;
        }
        // half-updated: resume from the reference's checkpoint, as a user would
        outcomes.rebuilt++;
        await opt.close();
        await reference.save(checkpoint, { variables: true });
        vars = make();
        opt = await LossScaleOptimizer.load(checkpoint, vars, { workers: 2, stepTimeoutMs: 20_000 });
      }
    } finally {
      await killer.stop();
    }
    expect(state(opt, vars)).toBe(state(reference, referenceVars));
    expect(reference.iterations).toBeLessThan(outcomes.done); // some steps were skipped
    expect(killer.kills).toBeGreaterThan(5);
    console.log(
      `chaos with loss scaling: 120 steps, ${killer.kills} threads terminated: ${outcomes.done} done, ` +
        `${outcomes.unchanged} failed unchanged, ${outcomes.rebuilt} resumed from a checkpoint; scale ${opt.dynamicScale}`,
    );
    await opt.close();
    await reference.close();
  }, 240_000);
});
