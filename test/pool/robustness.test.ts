/** Failures in the pool: every step settles with its cause, nothing hangs, idle pools let the process exit. */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RMSprop, StepError, Variable } from '../../dist/src/index.js';
import { randomValues, snapshot } from '../helpers/state.js';
import { failNext, faultyKernels } from '../modules/faulty-kernels.mjs';

const SIZE = 20000; // several numpy buffers (8192 elements), so both lanes have norm-phase and update work
const gradient = (seed: number): Float32Array[] => [randomValues(SIZE, seed)];

async function trained(options: ConstructorParameters<typeof RMSprop>[0]) {
  const vars = [new Variable(randomValues(SIZE, 7), { name: 'w' })];
  const opt = new RMSprop({ workers: 2, ...options });
  await opt.apply(gradient(1), vars);
  return { opt, vars };
}

describe('a failing worker', () => {
  it('in the norm phase: the step rejects with the cause, nothing changed, the optimizer keeps working', async () => {
    const { opt, vars } = await trained({ clipnorm: 1, kernels: faultyKernels });
    const before = snapshot(opt, vars);
    failNext({ lane: 1, phase: 'norm', kind: 'throw' });
    const failure = await opt.apply(gradient(2), vars).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StepError);
    expect((failure as StepError).message).toMatch(
      /norm phase: worker lane 1 failed: injected fault in lane 1; nothing was changed/,
    );
    expect((failure as StepError).stateCorrupted).toBe(false);
    expect(snapshot(opt, vars).equals(before)).toBe(true);

    await opt.apply(gradient(2), vars);
    const reference = await trained({ clipnorm: 1, workers: 0 });
    await reference.opt.apply(gradient(2), reference.vars);
    expect(snapshot(opt, vars).equals(snapshot(reference.opt, reference.vars))).toBe(true);
    await opt.close();
  });

  it('in the update phase: the step rejects, and the optimizer says it must be rebuilt', async () => {
    const { opt, vars } = await trained({ kernels: faultyKernels });
    failNext({ lane: 0, phase: 'update', kind: 'throw' });
    const failure = (await opt.apply(gradient(2), vars).catch((e: unknown) => e)) as StepError;
    expect(failure.stateCorrupted).toBe(true);
    expect(failure.message).toMatch(
      /update phase: worker lane 0 failed: injected fault in lane 0; its state may be partly updated/,
    );
    await expect(opt.apply(gradient(3), vars)).rejects.toThrow(/must be rebuilt/);
    await expect(opt.step()).rejects.toThrow(/must be rebuilt/);
    await opt.close();
    // the variables can move to a fresh optimizer
    const fresh = new RMSprop({ workers: 2 });
    await fresh.apply(gradient(3), vars);
    expect(fresh.iterations).toBe(1);
    await fresh.close();
  });

  it('whose thread exits: the step rejects instead of hanging', async () => {
    const { opt, vars } = await trained({ kernels: faultyKernels });
    failNext({ lane: 1, phase: 'update', kind: 'exit' });
    await expect(opt.apply(gradient(2), vars)).rejects.toThrow(/worker lane 1 failed/);
    await opt.close();
  });

  it('that hangs: the wait is bounded by stepTimeoutMs and the threads are terminated', async () => {
    // generous: the first step also starts the threads
    const { opt, vars } = await trained({ stepTimeoutMs: 2000, kernels: faultyKernels });
    failNext({ lane: 0, phase: 'update', kind: 'hang' });
    await expect(opt.apply(gradient(2), vars)).rejects.toThrow(/timed out after 2000 ms \(1 of 2 lanes finished\)/);
    await expect(opt.apply(gradient(3), vars)).rejects.toThrow(/must be rebuilt/);
    await opt.close();
  });

  it('on the calling thread (workers=0) a failure is reported the same way', async () => {
    const { opt, vars } = await trained({ workers: 0, globalClipnorm: 1, kernels: faultyKernels });
    const before = snapshot(opt, vars);
    failNext({ phase: 'norm', kind: 'throw' });
    await expect(opt.apply(gradient(2), vars)).rejects.toThrow(/norm phase: injected fault; nothing was changed/);
    expect(snapshot(opt, vars).equals(before)).toBe(true);
  });
});

describe('lanes that retired while idle', () => {
  it('are relaunched by the next step, which gives the same bytes as never pausing', async () => {
    const paused = await trained({ momentum: 0.9 });
    await new Promise((resolve) => setTimeout(resolve, 600)); // past the 250 ms linger: every lane retires
    await paused.opt.apply(gradient(2), paused.vars);
    await paused.opt.step();
    const steady = await trained({ momentum: 0.9, workers: 0 });
    await steady.opt.apply(gradient(2), steady.vars);
    await steady.opt.step();
    expect(snapshot(paused.opt, paused.vars).equals(snapshot(steady.opt, steady.vars))).toBe(true);
    await paused.opt.close();
  });
});

describe('process lifetime', () => {
  const dist = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));
  const script = (close: boolean) => `
    import { RMSprop, Variable } from ${JSON.stringify(dist)};
    const v = new Variable(new Float32Array(300000).fill(1), { name: 'w' });
    const opt = new RMSprop({ workers: 2 });
    await opt.apply([new Float32Array(300000).fill(0.5)], [v]);
    await opt.step();
    ${close ? 'await opt.close();' : ''}
    console.log('stepped', opt.iterations, opt.workers);
  `;
  it.each([false, true])('a script that steps with workers=2 exits by itself (close() called: %s)', (close) => {
    // the bound only catches a hang: an idle pool must not keep the event loop alive
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script(close)], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.error).toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('stepped 2 2');
    expect(child.status).toBe(0);
  });
});

describe('a broken install', () => {
  it('without the WebAssembly binary, build fails naming the fix and changes nothing; the JS kernels still work', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const copy = mkdtempSync(join(tmpdir(), 'rmsprop-pool-'));
    try {
      cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
      rmSync(join(copy, 'dist/src/kernels/wasm/kernels.wasm'));
      symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
      const script = `
        import { RMSprop, Variable } from './dist/src/index.js';
        const w = new Variable([1, 2, 3], { name: 'w' });
        try { new RMSprop({ workers: 0 }).build([w]); console.log('built'); }
        catch (e) { console.log('error: ' + e.message); console.log('still a plain array: ' + !(w.value.buffer instanceof SharedArrayBuffer)); }
        const js = new RMSprop({ workers: 0, kernels: 'js' });
        await js.apply([[0.5, 0.5, 0.5]], [w]);
        console.log('js step: ' + (w.value[0] !== 1));`;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: copy,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(
        /error: rmsprop-pool: the WebAssembly kernels \(.*kernels\.wasm\) are missing: run `npm run build`, or pass kernels: 'js'/,
      );
      expect(run.stdout).toContain('still a plain array: true');
      expect(run.stdout).toContain('js step: true');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
