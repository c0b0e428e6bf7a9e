/** The public API: zero-copy step, Keras-style apply, configs, state, and input errors that change nothing. */
import { describe, expect, it, vi } from 'vitest';
import { RMSprop, Variable, rmsprop, schedules, type Gradient, type RMSpropOptions } from '../../dist/src/index.js';
import { bytesOf } from '../helpers/compare.js';
import { loadCase } from '../helpers/keras-cases.js';
import { randomValues, snapshot } from '../helpers/state.js';

function model(): Variable[] {
  return [
    new Variable(randomValues(40, 1), { shape: [5, 8], name: 'kernel' }),
    new Variable(randomValues(8, 2), { name: 'bias' }),
  ];
}

const grads = (seed: number): Float32Array[] => [randomValues(40, seed), randomValues(8, seed + 100)];

describe('Variable', () => {
  it('holds shape, name, dtype and a live value', () => {
    const v = new Variable([1, 2, 3, 4, 5, 6], { shape: [2, 3], name: 'w' });
    expect([v.shape, v.name, v.dtype, v.size, Array.from(v.value)]).toEqual([
      [2, 3],
      'w',
      'float32',
      6,
      [1, 2, 3, 4, 5, 6],
    ]);
    expect(() => v.grad).toThrow(/'w' has no gradient buffer yet/);
    expect(new Variable(new Float64Array(2)).dtype).toBe('float64');
  });
  it('refuses inconsistent input, naming the variable', () => {
    expect(() => new Variable([1, 2, 3], { shape: [2, 2], name: 'w' })).toThrow(/'w'.*holds 4 values but init has 3/);
    expect(() => new Variable([1, 'x'] as never, { name: 'w' })).toThrow(/'w'.*number/);
    expect(() => new Variable([1], { dtype: 'int8' as never })).toThrow(/dtype/);
  });
  it('becomes a view into shared memory when built, keeping its values', () => {
    const [w] = model();
    const before = Array.from(w!.value);
    const opt = new RMSprop({ workers: 0 });
    opt.build([w!]);
    expect(w!.value.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(w!.grad.buffer).toBe(w!.value.buffer);
    expect(Array.from(w!.value)).toEqual(before);
  });
  it('spans several memory segments when the model is bigger than one, every view still zero-copy', async () => {
    const sizes = [9000, 3000, 12000, 5];
    const make = () => sizes.map((n, i) => new Variable(new Float32Array(n).fill(0.5), { name: `w${i}` }));
    const small = make();
    const whole = make();
    const split = new RMSprop({ workers: 2, momentum: 0.9, maxSegmentBytes: 4 * 65536 });
    const single = new RMSprop({ workers: 0, momentum: 0.9 });
    split.build(small);
    single.build(whole);
    const buffers = new Set(small.map((v) => v.value.buffer));
    expect(buffers.size).toBeGreaterThan(1); // 4 arrays x 4 bytes x 24k elements > 256 KiB
    for (const v of small) expect(v.grad.buffer).toBe(v.value.buffer);
    for (const vars of [small, whole]) vars.forEach((v, i) => v.grad.fill(0.01 * (i + 1)));
    await split.step();
    await single.step();
    expect(snapshot(split, small).equals(snapshot(single, whole))).toBe(true);
    expect(small[0]!.value[0]).not.toBe(0.5);
    await split.close();
  });
  it("runs the WebAssembly SIMD kernels unless told kernels: 'js'", async () => {
    expect(new RMSprop().kernels).toBe('wasm');
    expect(new RMSprop({ kernels: 'js' }).kernels).toBe('js');
    expect(RMSprop.fromConfig(new RMSprop().getConfig(), { kernels: 'js' }).kernels).toBe('js');
    // with workers: 0 the kernels run on this thread, where the wasm ones must instantiate their module
    const { Instance } = WebAssembly;
    const instantiated = vi.spyOn(WebAssembly, 'Instance').mockImplementation(function (module, imports) {
      return new Instance(module, imports);
    });
    const stepWith = async (options: RMSpropOptions) => {
      instantiated.mockClear();
      const vars = model();
      const opt = new RMSprop({ workers: 0, momentum: 0.9, centered: true, ...options });
      opt.build(vars);
      const before = bytesOf(vars.map((v) => v.value));
      vars.forEach((v, i) => v.grad.set(grads(1)[i]!));
      await opt.step();
      expect(bytesOf(vars.map((v) => v.value)).equals(before), 'the step changed the values').toBe(false);
      return { state: snapshot(opt, vars), instances: instantiated.mock.calls.length };
    };
    try {
      const wasm = await stepWith({});
      const js = await stepWith({ kernels: 'js' });
      expect(wasm.instances).toBeGreaterThan(0);
      expect(js.instances).toBe(0);
      expect(wasm.state.equals(js.state)).toBe(true); // the kernels agree bytewise (kernels.test.ts)
    } finally {
      instantiated.mockRestore();
    }
  });
  it('holds 4 bytes a parameter for the value, the gradient and each slot the options need, no more', async () => {
    const sizes = [300_000, 123_457, 1000, 7];
    const total = sizes.reduce((a, b) => a + b, 0);
    const cases: Array<[RMSpropOptions, number]> = [
      [{}, 3], // value, grad, velocity
      [{ momentum: 0.9 }, 4],
      [{ centered: true, momentum: 0.9, useEma: true, globalClipnorm: 1 }, 6],
      [{ gradientAccumulationSteps: 2 }, 4],
    ];
    for (const [options, arrays] of cases) {
      const vars = sizes.map((n, i) => new Variable(new Float32Array(n), { name: `w${i}` }));
      const opt = new RMSprop({ ...options, workers: 0 });
      expect(opt.memoryBytes).toBe(0);
      opt.build(vars);
      const exact = 4 * arrays * total;
      expect(opt.memoryBytes).toBeGreaterThanOrEqual(exact);
      // padding: 64-byte alignment per variable, whole 4 KiB blocks per array, whole 64 KiB pages
      expect(opt.memoryBytes).toBeLessThanOrEqual(exact + arrays * (sizes.length * 64 + 4096) + 65536);
      await opt.step();
      expect(opt.memoryBytes).toBeLessThanOrEqual(exact + arrays * (sizes.length * 64 + 4096) + 65536);
      await opt.close();
    }
  });
  it('refuses, by name, a variable too big for one memory segment, and stays unbuilt', () => {
    const opt = new RMSprop({ workers: 0, maxSegmentBytes: 65536 });
    const big = new Variable(new Float32Array(8000), { name: 'embedding' });
    expect(() => opt.build([big])).toThrow(/variable 'embedding' \(8000 float32 elements\) needs 98304 bytes/);
    expect(big.value.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    const fine = new Variable(new Float32Array(100), { name: 'fine' });
    opt.build([fine]);
    expect(fine.value.buffer).toBeInstanceOf(SharedArrayBuffer);
  });
});

describe('apply and step', () => {
  it('step() on .grad gives the same bytes as apply(grads) and applyGradients(), awaited or not', async () => {
    const runs = await Promise.all(
      (['step', 'apply', 'pairs', 'unawaited'] as const).map(async (how) => {
        const vars = model();
        const opt = rmsprop({ workers: 0, momentum: 0.9, centered: true, learningRate: 0.01 });
        opt.build(vars);
        if (how === 'unawaited') {
          // queued in call order, although applyGradients is async
          const calls = [0, 1, 2, 3].map((s) =>
            opt.applyGradients(vars.map((v, i) => [grads(10 + s)[i]!, v] as const)),
          );
          await Promise.all(calls);
        }
        for (let s = 0; s < 4 && how !== 'unawaited'; s++) {
          const g = grads(10 + s);
          if (how === 'step') {
            vars.forEach((v, i) => v.grad.set(g[i]!));
            await opt.step();
          } else if (how === 'apply') {
            await opt.apply(g, vars);
          } else {
            await opt.applyGradients(vars.map((v, i) => [g[i]!, v] as const));
          }
        }
        expect(opt.iterations).toBe(4);
        return snapshot(opt, vars);
      }),
    );
    expect(runs[1]!.equals(runs[0]!)).toBe(true);
    expect(runs[2]!.equals(runs[0]!)).toBe(true);
    expect(runs[3]!.equals(runs[0]!)).toBe(true);
  });

  it('apply() builds implicitly and accepts number[] and Float64Array gradients', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 0 });
    await opt.apply([Array.from(grads(1)[0]!), Float64Array.from(grads(1)[1]!)], vars);
    const reference = model();
    const ref = new RMSprop({ workers: 0 });
    await ref.apply(grads(1), reference);
    expect(snapshot(opt, vars).equals(snapshot(ref, reference))).toBe(true);
  });

  it('overlapping apply() calls are serialized, never interleaved', async () => {
    const run = async (concurrent: boolean): Promise<Buffer> => {
      const vars = model();
      const opt = new RMSprop({ workers: 2, learningRate: 0.05, globalClipnorm: 1 });
      opt.build(vars);
      if (concurrent) await Promise.all([0, 1, 2, 3, 4].map((s) => opt.apply(grads(s), vars)));
      else for (const s of [0, 1, 2, 3, 4]) await opt.apply(grads(s), vars);
      const bytes = snapshot(opt, vars);
      await opt.close();
      return bytes;
    };
    expect((await run(true)).equals(await run(false))).toBe(true);
  });

  it('skips variables without a gradient, warning once by name', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 0 });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const bias = Array.from(vars[1]!.value);
    await opt.apply([grads(1)[0]!, null], vars);
    await opt.apply([grads(2)[0]!, null], vars);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toContain("'bias'");
    warn.mockRestore();
    expect(Array.from(vars[1]!.value)).toEqual(bias);
    expect(opt.iterations).toBe(2);
  });

  it('an empty apply() does nothing, as in Keras', async () => {
    const opt = new RMSprop({ workers: 0 });
    await opt.apply([], []);
    expect(opt.iterations).toBe(0);
  });
});

describe('bad input is refused with a clear error and changes nothing', () => {
  const stranger = new Variable([1, 2], { name: 'stranger' });
  const bad: Array<[string, (vars: Variable[]) => [Gradient[], Variable[] | undefined], RegExp]> = [
    ['too few gradients', (v) => [[grads(1)[0]!], v], /got 1 gradients for 2 variables/],
    ['wrong length', (v) => [[grads(1)[0]!, new Float32Array(3)], v], /'bias' has 3 values, the variable has 8/],
    ['wrong type', (v) => [[grads(1)[0]!, new Int32Array(8) as never], v], /'bias' must be a Float32Array/],
    ['non-number element', (v) => [[grads(1)[0]!, Array(8).fill('1') as never], v], /'bias' holds a non-number/],
    [
      'unknown variable',
      (v) => [
        [grads(1)[0]!, new Float32Array(2)],
        [v[0]!, stranger],
      ],
      /'stranger' was not built/,
    ],
    ['all gradients null', (v) => [[null, null], v], /No gradients provided for any variable: 'kernel', 'bias'/],
    [
      'same variable twice',
      (v) => [
        [grads(1)[0]!, grads(1)[0]!],
        [v[0]!, v[0]!],
      ],
      /listed twice/,
    ],
  ];
  it.each(bad)('%s', async (_label, make, message) => {
    const vars = model();
    const opt = new RMSprop({ workers: 2, momentum: 0.5, useEma: true });
    await opt.apply(grads(5), vars);
    const before = snapshot(opt, vars);
    const gradBefore = bytesOf([vars[1]!.grad]);
    const [g, v] = make(vars);
    await expect(opt.apply(g, v)).rejects.toThrow(message);
    expect(snapshot(opt, vars).equals(before)).toBe(true);
    expect(bytesOf([vars[1]!.grad]).equals(gradBefore)).toBe(true);
    // and the optimizer keeps working
    await opt.apply(grads(6), vars);
    expect(opt.iterations).toBe(2);
    await opt.close();
  });

  it('refuses use after close, and a variable held by another open optimizer', async () => {
    const vars = model();
    const a = new RMSprop({ workers: 0, name: 'a' });
    a.build(vars);
    expect(() => new RMSprop({ workers: 0 }).build(vars)).toThrow(/already built into optimizer 'a'/);
    await a.close();
    await expect(a.apply(grads(1), vars)).rejects.toThrow(/optimizer 'a' is closed/);
    await expect(a.step()).rejects.toThrow(/closed/);
    const b = new RMSprop({ workers: 0 });
    expect(() => b.build(vars)).not.toThrow();
  });

  it('a learningRate function returning garbage fails the step before anything changes', async () => {
    let value: unknown = 0.1;
    const vars = model();
    const opt = new RMSprop({ workers: 0, learningRate: () => value as number });
    await opt.apply(grads(1), vars);
    const before = snapshot(opt, vars);
    value = 'fast';
    await expect(opt.apply(grads(2), vars)).rejects.toThrow(/learningRate function returned fast/);
    expect(snapshot(opt, vars).equals(before)).toBe(true);
  });
});

describe('Keras-style state and settings', () => {
  it('learningRate is assignable (float32) unless it is a schedule', () => {
    const opt = new RMSprop({ workers: 0, learningRate: 0.1 });
    opt.learningRate = 0.3;
    expect(opt.learningRate).toBe(Math.fround(0.3));
    const scheduled = new RMSprop({
      workers: 0,
      learningRate: new schedules.ExponentialDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5 }),
    });
    expect(() => (scheduled.learningRate = 0.3)).toThrow(/LearningRateSchedule.*not settable/);
    expect(() => (opt.learningRate = NaN)).toThrow(/learningRate must be/);
  });

  it('excludeFromWeightDecay must come before build', () => {
    const opt = new RMSprop({ workers: 0, weightDecay: 0.1 });
    opt.build(model());
    expect(() => opt.excludeFromWeightDecay({ varNames: ['bias'] })).toThrow(/before the optimizer is built/);
  });

  it('scaleLoss multiplies by lossScaleFactor', () => {
    expect(new RMSprop({ workers: 0, lossScaleFactor: 128 }).scaleLoss(0.5)).toBe(64);
    expect(new RMSprop({ workers: 0 }).scaleLoss(0.5)).toBe(0.5);
  });

  it('fromConfig() loads the config Python Keras printed, and getConfig() round-trips it', () => {
    for (const id of ['large_all_features', 'sched_cosine_warmup', 'weight_decay_exclude_name']) {
      const keras = loadCase(id).expected_config;
      const opt = RMSprop.fromConfig(keras, { workers: 0 });
      expect(opt.getConfig()).toEqual(keras);
      expect(RMSprop.fromConfig(opt.getConfig()).getConfig()).toEqual(keras);
    }
    expect(() => RMSprop.fromConfig({ learning_rate: { class_name: 'Nope', config: {} } })).toThrow(
      /Unknown learning rate schedule/,
    );
    expect(() => RMSprop.fromConfig({ not_an_option: 3 })).toThrow(/not recognized/);
  });

  it('variables lists Keras names, and slots are live views', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 0, momentum: 0.9 });
    await opt.apply(grads(1), vars);
    const state = opt.variables;
    expect(state.map((s) => s.name)).toEqual([
      'iteration',
      'learning_rate',
      'kernel_velocity',
      'bias_velocity',
      'kernel_momentum',
      'bias_momentum',
    ]);
    const velocity = state[2]!.value;
    const first = velocity[0];
    await opt.apply(grads(2), vars);
    expect(velocity[0]).not.toBe(first);
  });

  it('disposes with `await using`-style Symbol.asyncDispose', async () => {
    const opt = new RMSprop({ workers: 1 });
    opt.build(model());
    await opt[Symbol.asyncDispose]();
    expect(opt.closed).toBe(true);
  });
});

describe('workers', () => {
  it("'auto' runs small models on the calling thread and large ones on every core", async () => {
    const { resolveLanes, MIN_ELEMENTS_PER_WORKER } = await import('../../dist/src/pool/threads.js');
    const { availableParallelism } = await import('node:os');
    expect(resolveLanes('auto', 4096)).toBe(0);
    for (const kernels of ['wasm', 'js'] as const) {
      const all = availableParallelism() >= 2 ? Math.min(64, availableParallelism()) : 0;
      expect(resolveLanes('auto', MIN_ELEMENTS_PER_WORKER[kernels] * 64, kernels)).toBe(all);
      expect(resolveLanes('auto', MIN_ELEMENTS_PER_WORKER[kernels] * 2 - 1, kernels)).toBe(0);
    }
    // slower kernels pay for threads sooner
    expect(MIN_ELEMENTS_PER_WORKER.js).toBeLessThan(MIN_ELEMENTS_PER_WORKER.wasm);
    expect(resolveLanes(3, 10)).toBe(3);
    const opt = new RMSprop();
    opt.build(model());
    expect(opt.workers).toBe(0);
  });

  it('more workers than chunks, and empty variables, still give the workers=0 bytes', async () => {
    const run = async (workers: number): Promise<Buffer> => {
      const vars = [
        new Variable([], { name: 'empty', shape: [0] }),
        new Variable(randomValues(5, 3), { name: 'tiny' }),
      ];
      const opt = new RMSprop({ workers, centered: true, clipnorm: 0.1 });
      await opt.apply([[], randomValues(5, 4)], vars);
      await opt.apply([[], randomValues(5, 5)], vars);
      const bytes = snapshot(opt, vars);
      await opt.close();
      return bytes;
    };
    expect((await run(4)).equals(await run(0))).toBe(true);
  });
});

describe('a failed first apply()', () => {
  it('does not build the optimizer when the gradients are wrong', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 0 });
    await expect(opt.apply([grads(1)[0]!, new Float32Array(1)], vars)).rejects.toThrow(/'bias' has 1 values/);
    expect(opt.workers).toBeNull();
    expect(() => vars[0]!.grad).toThrow(/no gradient buffer yet/);
    await opt.apply(grads(1), vars);
    expect(opt.iterations).toBe(1);
  });
});
