/**
 * Variables created in place: from 'zeros', 'ones' or a fill function nothing is allocated
 * before build, and the values are written straight into the optimizer's shared memory; an
 * initial array is not copied until build, and then only into the arena.
 */
import { describe, expect, it } from 'vitest';
import { RMSprop, Variable, type FloatArray } from '../../dist/src/index.js';
import { newMapping, smapsAvailable } from '../helpers/mappings.js';

const MIB = 2 ** 20;

describe('initializers', () => {
  it("'zeros', 'ones' and a fill function give their values at build, in shared memory", () => {
    const calls: Array<{ shared: boolean; shape: readonly number[]; length: number }> = [];
    const fill = (values: FloatArray, shape: readonly number[]) => {
      calls.push({ shared: values.buffer instanceof SharedArrayBuffer, shape, length: values.length });
      for (let i = 0; i < values.length; i++) values[i] = i * 0.5;
    };
    const zeros = new Variable('zeros', { shape: [2, 3], name: 'zeros' });
    const ones = new Variable('ones', { shape: [5], name: 'ones', dtype: 'float64' });
    const filled = new Variable(fill, { shape: [2, 2], name: 'filled' });
    expect(calls).toEqual([]); // nothing runs before build
    const opt = new RMSprop({ workers: 0 });
    opt.build([zeros, ones, filled]);
    expect(calls).toEqual([{ shared: true, shape: [2, 2], length: 4 }]);
    expect(Array.from(zeros.value)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(ones.value).toBeInstanceOf(Float64Array);
    expect(Array.from(ones.value)).toEqual([1, 1, 1, 1, 1]);
    expect(Array.from(filled.value)).toEqual([0, 0.5, 1, 1.5]);
    for (const v of [zeros, ones, filled]) expect(v.value.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('reading value before build fills a private array once; build then copies it', () => {
    let calls = 0;
    const v = new Variable((values) => ((calls += 1), values.fill(3)), { shape: [3], name: 'v' });
    expect(Array.from(v.value)).toEqual([3, 3, 3]);
    v.value[0] = 7;
    new RMSprop({ workers: 0 }).build([v]);
    expect(calls).toBe(1);
    expect(Array.from(v.value)).toEqual([7, 3, 3]);
  });

  it('an initial array is read at build, not at construction (one copy, into the arena)', () => {
    const init = new Float32Array([1, 2, 3]);
    const v = new Variable(init, { name: 'v' });
    init[0] = 9; // before build: the variable reads it then
    new RMSprop({ workers: 0 }).build([v]);
    expect(Array.from(v.value)).toEqual([9, 2, 3]);
    init[1] = 8; // after build: the variable has its own values in the arena
    expect(Array.from(v.value)).toEqual([9, 2, 3]);
  });

  it('training from an initializer gives the bytes of training from the same values as an array', async () => {
    const run = async (make: () => Variable[]) => {
      const vars = make();
      const opt = new RMSprop({ workers: 2, momentum: 0.9, centered: true, learningRate: 0.01 });
      opt.build(vars);
      for (let s = 0; s < 3; s++) {
        vars.forEach((v, k) => v.grad.forEach((_, i) => (v.grad[i] = Math.sin(i + 7 * k + s))));
        await opt.step();
      }
      await opt.close();
      return vars.map((v) => Array.from(v.value));
    };
    const n = 50_000;
    const fromInitializers = await run(() => [
      new Variable('ones', { shape: [n], name: 'a' }),
      new Variable((x) => x.forEach((_, i) => (x[i] = Math.fround(i / n))), { shape: [n], name: 'b' }),
    ]);
    const fromArrays = await run(() => [
      new Variable(new Float32Array(n).fill(1), { name: 'a' }),
      new Variable(
        Float32Array.from({ length: n }, (_, i) => i / n),
        { name: 'b' },
      ),
    ]);
    expect(fromInitializers).toEqual(fromArrays);
  });

  it('allocates nothing before build: 100 MiB variables from an initializer or an array cost no ArrayBuffer memory', () => {
    const before = process.memoryUsage().arrayBuffers;
    const lazy = Array.from(
      { length: 4 },
      (_, i) => new Variable('zeros', { shape: [(25 * MIB) / 4, 4], name: `z${i}` }),
    );
    const afterInitializers = process.memoryUsage().arrayBuffers;
    const array = new Float32Array(25 * MIB); // 100 MiB, the caller's
    const afterArray = process.memoryUsage().arrayBuffers;
    const fromArray = new Variable(array, { name: 'a' });
    const afterVariable = process.memoryUsage().arrayBuffers;
    expect(afterInitializers - before).toBeLessThan(MIB);
    // The measure sees the caller's allocation (less what a collection it triggers may free).
    expect(afterArray - afterInitializers).toBeGreaterThan(90 * MIB);
    expect(afterVariable - afterArray).toBeLessThan(MIB); // and the variable makes none
    expect(lazy.length + fromArray.size).toBeGreaterThan(0);
  });

  it('a fill function that throws fails build naming the variable; nothing is bound and no thread started', () => {
    const good = new Variable('ones', { shape: [4], name: 'good' });
    const bad = new Variable(
      () => {
        throw new RangeError('no randomness today');
      },
      { shape: [4], name: 'bad' },
    );
    const opt = new RMSprop({ workers: 2 });
    expect(() => opt.build([good, bad])).toThrow("Variable 'bad': its initializer threw: no randomness today");
    expect(good.owner).toBeNull();
    expect(opt.workers).toBeNull();
    opt.build([good]); // the optimizer and the good variable are still usable
    expect(Array.from(good.value)).toEqual([1, 1, 1, 1]);
  });

  it('refuses an initializer without a shape, and an unknown one, quoting it', () => {
    expect(() => new Variable('zeros', { name: 'z' })).toThrow(
      '`shape` is required with an initializer ("zeros" (string))',
    );
    expect(() => new Variable('glorot_uniform' as never, { shape: [2] })).toThrow(
      "`init` must be a number[], Float32Array, Float64Array, Uint16Array (half-precision bits), 'zeros', 'ones' or a fill function, got \"glorot_uniform\" (string)",
    );
  });
});

describe.runIf(smapsAvailable)('committing the arena', () => {
  it('build reserves the arena; the first step commits it (on the lanes), values unchanged', async () => {
    const n = 16 * MIB; // 64 MiB per field: value, grad, velocity
    const w = new Variable((values) => values.fill(0.5), { shape: [n], name: 'w' });
    const optimizer = new RMSprop({ workers: 2 });
    // The arena's own mapping, not process RSS: a GC elsewhere in the process cannot move it.
    const arenaResident = newMapping(3 * 64 * MIB, () => optimizer.build([w])); // writes the values
    const afterBuild = arenaResident();
    expect(afterBuild).toBeGreaterThanOrEqual(64 * MIB); // the values' pages, and only theirs
    expect(afterBuild).toBeLessThan(66 * MIB);
    await optimizer.step(); // zero gradients: the values stay 0.5
    expect(arenaResident()).toBeGreaterThanOrEqual(3 * 64 * MIB); // grad and velocity, committed by the first step
    expect(w.value.every((x) => x === 0.5)).toBe(true);
    await optimizer.close();
  });
});
