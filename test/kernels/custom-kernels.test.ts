/**
 * Custom kernel sets, registered by module URL: they run on the pool's threads (which import the
 * module) and on the calling thread; names nobody registered are refused, and a module the
 * worker threads cannot use fails the step, saying why.
 */
import { describe, expect, it } from 'vitest';
import { kernelSet, registerKernels, RMSprop, StepError, Variable } from '../../dist/src/index.js';
import { countingKernels, kernelCalls, resetKernelCalls } from '../modules/counting-kernels.mjs';
import { randomValues, snapshot } from '../helpers/state.js';

const SIZES = [6000, 1234]; // several chunks, so both lanes have work
const model = () => SIZES.map((n, i) => new Variable(randomValues(n, 7 + i), { name: `v${i}` }));
const grads = (step: number) => SIZES.map((n, i) => randomValues(n, 100 * step + i));
const OPTIONS = { clipnorm: 1, momentum: 0.9 };

async function reference(steps: number) {
  const vars = model();
  const opt = new RMSprop({ ...OPTIONS, workers: 0, kernels: 'js' });
  for (let s = 0; s < steps; s++) await opt.apply(grads(s), vars);
  return snapshot(opt, vars);
}

describe('a kernel set registered by its module URL', () => {
  it('is named by that URL', () => {
    expect(countingKernels).toBe(new URL('../modules/counting-kernels.mjs', import.meta.url).href);
    expect(new RMSprop({ kernels: countingKernels }).kernels).toBe(countingKernels);
  });

  it('runs on the pool threads, which import it, and gives the bytes of the set it wraps', async () => {
    resetKernelCalls();
    const vars = model();
    const opt = new RMSprop({ ...OPTIONS, workers: 2, kernels: countingKernels });
    for (let s = 0; s < 3; s++) await opt.apply(grads(s), vars);
    expect(kernelCalls().poolThreads).toBeGreaterThan(0);
    expect(snapshot(opt, vars).equals(await reference(3))).toBe(true);
    await opt.close();
  });

  it('runs on the calling thread, with workers: 0 and for a synchronous step on a cold pool', async () => {
    for (const workers of [0, 2]) {
      resetKernelCalls();
      const vars = model();
      const opt = new RMSprop({ ...OPTIONS, workers, kernels: countingKernels });
      opt.applySync(grads(0), vars); // a cold pool: the calling thread does it
      expect(kernelCalls()).toEqual({ callingThread: 2, poolThreads: 0 }); // norm and update, one group
      await opt.apply(grads(1), vars);
      expect(snapshot(opt, vars).equals(await reference(2))).toBe(true);
      await opt.close();
    }
  });
});

describe('names and sets that are refused', () => {
  it('a name nobody registered on this thread, at construction', () => {
    const url = new URL('../modules/never-imported.mjs', import.meta.url).href;
    expect(() => new RMSprop({ kernels: url })).toThrow(
      new RegExp(`\`kernels\` must be one of 'wasm', 'js', .*got "${url}" \\(string\\); .*registerKernels`),
    );
    expect(() => new RMSprop({ kernels: 42 as never })).toThrow(/`kernels` must be one of .*got 42 \(number\)/);
    expect(() => kernelSet(url)).toThrow(/no kernel set is named ".*never-imported\.mjs" \(string\) on this thread/);
  });

  it('registerKernels: a URL that is not absolute, or a set without both kernels for every dtype', () => {
    const js = kernelSet('js');
    expect(() => registerKernels('my-kernels', js)).toThrow(/`moduleUrl` must be an absolute URL.*got "my-kernels"/);
    expect(() => registerKernels(42 as never, js)).toThrow(/`moduleUrl` must be a string or a URL.*got 42 \(number\)/);
    expect(() => registerKernels(import.meta.url, { float32: js.float32 } as never)).toThrow(
      /`set.float64.sumSquares` must be a function, got undefined \(undefined\)/,
    );
    expect(() => registerKernels(import.meta.url, { ...js, float64: { sumSquares: () => {} } } as never)).toThrow(
      /`set.float64.update` must be a function/,
    );
  });
});

describe('a kernel module the worker threads cannot use', () => {
  async function failure(kernels: string): Promise<StepError> {
    const vars = model();
    const opt = new RMSprop({ ...OPTIONS, workers: 2, kernels });
    const error = (await opt.apply(grads(0), vars).catch((e: unknown) => e)) as StepError;
    await opt.close();
    expect(error).toBeInstanceOf(StepError);
    expect(error.stateCorrupted).toBe(false); // the norm phase failed: nothing was changed
    return error;
  }

  it('one that fails to import fails the step, naming the module and the cause', async () => {
    const missing = new URL('../modules/no-such-kernels.mjs', import.meta.url);
    const name = registerKernels(missing, kernelSet('js')); // on this thread only
    expect((await failure(name)).message).toMatch(
      /commit phase: worker lane \d failed: the kernel module file:.*no-such-kernels\.mjs failed to import on a worker thread: .*no-such-kernels\.mjs/,
    );
  });

  it('one that does not register under its URL fails the step, saying what it must do', async () => {
    const name = registerKernels('data:text/javascript,export default 1', kernelSet('js'));
    expect((await failure(name)).message).toMatch(
      /worker lane \d failed: the kernel module data:text\/javascript,export default 1 was imported on a worker thread but registered no kernel set under that URL: it must call registerKernels\(import\.meta\.url, set\)/,
    );
  });
});
