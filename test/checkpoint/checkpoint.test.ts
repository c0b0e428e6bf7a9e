/**
 * Checkpoints and state dicts: resuming gives the bytes of never having stopped, the file is the
 * safetensors layout, writes are atomic, and a damaged or mismatched file is refused with a
 * clear error before anything changes.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  readCheckpoint,
  RMSprop,
  SafetensorsError,
  schedules,
  Variable,
  type RMSpropOptions,
} from '../../dist/src/index.js';
import { decodeSafetensors, encodeSafetensors } from '../helpers/safetensors-codec.js';
import { bytesOf, expectExact } from '../helpers/compare.js';
import { loadCase, setUp } from '../helpers/keras-cases.js';
import { randomValues, snapshot } from '../helpers/state.js';
import { checkpointDirectory, headerOf, tensorNames } from '../helpers/files.js';
import { grads, model } from '../helpers/checkpoint-model.js';

const { dir, fresh } = checkpointDirectory('checkpoint');

const OPTIONS: Array<[string, RMSpropOptions]> = [
  ['defaults', {}],
  [
    'everything',
    {
      centered: true,
      momentum: 0.9,
      weightDecay: 0.01,
      globalClipnorm: 2,
      useEma: true,
      emaOverwriteFrequency: 3,
      lossScaleFactor: 4,
      gradientAccumulationSteps: 2,
    },
  ],
  [
    'schedule + clipnorm',
    {
      learningRate: new schedules.ExponentialDecay({ initialLearningRate: 0.01, decaySteps: 2, decayRate: 0.5 }),
      clipnorm: 0.5,
    },
  ],
];

describe('save and load', () => {
  it.each(OPTIONS)('resuming continues bit-identically (%s)', async (_label, options) => {
    for (const workers of [0, 2]) {
      const vars = model();
      const opt = new RMSprop({ ...options, workers });
      for (let s = 0; s < 5; s++) await opt.apply(grads(s), vars);
      const path = fresh();
      await opt.save(path, { variables: true });
      for (let s = 5; s < 9; s++) await opt.apply(grads(s), vars);
      const uninterrupted = snapshot(opt, vars);
      await opt.close();

      const restoredVars = model(999); // other values: the checkpoint's must win
      const restored = await RMSprop.load(path, restoredVars, { workers });
      expect(restored.iterations).toBe(options.gradientAccumulationSteps ? 2 : 5);
      for (let s = 5; s < 9; s++) await restored.apply(grads(s), restoredVars);
      expect(snapshot(restored, restoredVars).equals(uninterrupted)).toBe(true);
      await restored.close();
    }
  });

  it('restores the learning rate assigned during training', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 0 });
    await opt.apply(grads(0), vars);
    opt.learningRate = 0.25;
    const path = fresh();
    await opt.save(path);
    const restored = await RMSprop.load(path, model());
    expect(restored.learningRate).toBe(Math.fround(0.25));
    expect(restored.iterations).toBe(1);
  });

  it('writes the safetensors layout: u64 header length, JSON header, aligned little-endian tensors', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 0, momentum: 0.5 });
    await opt.apply(grads(0), vars);
    const path = fresh();
    await opt.save(path, { variables: true });
    const bytes = readFileSync(path);
    const parsed = headerOf(bytes);
    const { headerLength, json: header } = parsed;
    expect((8 + headerLength) % 8).toBe(0);
    expect(header.__metadata__.format).toBe('rmsprop-pool/checkpoint');
    expect(JSON.parse(header.__metadata__.config!)).toEqual(opt.getConfig());
    const data = bytes.subarray(8 + headerLength);
    const tensor = (name: string) => {
      const {
        dtype,
        shape,
        data_offsets: [begin, end],
      } = header[name]!;
      return { dtype, shape, bytes: data.subarray(begin, end) };
    };
    expect(tensor('iteration')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(tensor('iteration').bytes.readBigInt64LE(0)).toBe(1n);
    expect(tensor('learning_rate').dtype).toBe('F32');
    for (const state of opt.variables.slice(2)) {
      const t = tensor(state.name);
      expect(t.shape).toEqual([...state.shape]);
      expect(t.bytes.equals(bytesOf([state.value]))).toBe(true);
    }
    const head = tensor('variables/head');
    expect(head.dtype).toBe('F64');
    expect(head.bytes.equals(bytesOf([vars[2]!.value]))).toBe(true);
    const sum = tensorNames(parsed).reduce((n, name) => {
      const [begin, end] = header[name]!.data_offsets;
      return n + end - begin;
    }, 0);
    expect(sum).toBe(data.length);
  });

  it('readCheckpoint gives the config, the state and the variables, enough to rebuild a model', async () => {
    const vars = model();
    const opt = new RMSprop({ workers: 0 });
    await opt.apply(grads(0), vars);
    const path = fresh();
    await opt.save(path, { variables: true });
    const checkpoint = await readCheckpoint(path);
    expect(checkpoint.state.map((a) => a.name)).toEqual(opt.variables.map((v) => v.name));
    const rebuilt = checkpoint.variables!.map(
      (v) => new Variable(v.data as Float32Array, { name: v.name, shape: v.shape }),
    );
    expect(rebuilt.map((v) => v.name)).toEqual(vars.map((v) => v.name));
    expectExact(rebuilt[0]!.value, Array.from(vars[0]!.value), 'restored value');
  });

  it('replaces the file atomically and leaves no temporary files', async () => {
    const path = fresh();
    writeFileSync(path, 'old contents');
    const opt = new RMSprop({ workers: 0 });
    opt.build(model());
    await opt.save(path);
    await opt.save(path);
    expect((await readCheckpoint(path)).state[0]!.name).toBe('iteration');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // the error names the file asked for (not the temporary one) and keeps Node's code
    const missing = join(dir, 'no-such-dir', 'x.safetensors');
    const refusal = (await opt.save(missing).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(refusal.message).toMatch(new RegExp(`^cannot write '${missing.replace(/[.]/g, '\\.')}': ENOENT`));
    expect(refusal.message).not.toMatch(/\.tmp/);
    expect(refusal.code).toBe('ENOENT');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('refusing a damaged or mismatched checkpoint, changing nothing', () => {
  async function saved(options: RMSpropOptions = {}): Promise<string> {
    const opt = new RMSprop({ workers: 0, ...options });
    await opt.apply(grads(0), model());
    const path = fresh();
    await opt.save(path, { variables: true });
    return path;
  }

  it('a truncated file', async () => {
    const path = await saved();
    const bytes = readFileSync(path);
    for (const keep of [4, 20, bytes.length - 3]) {
      const cut = fresh();
      writeFileSync(cut, bytes.subarray(0, keep));
      await expect(RMSprop.load(cut, model())).rejects.toThrow(/truncated/);
    }
  });

  it('a file that is not a checkpoint', async () => {
    const path = fresh();
    writeFileSync(path, Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}')]));
    await expect(RMSprop.load(path, model())).rejects.toThrow(/not an rmsprop-pool checkpoint/);
    const garbage = fresh();
    writeFileSync(garbage, Buffer.concat([Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{x}')]));
    await expect(RMSprop.load(garbage, model())).rejects.toThrow(/header is not valid JSON/);
  });

  it('variables with other names, shapes or dtypes; missing variables', async () => {
    const path = await saved({ momentum: 0.9 });
    const renamed = model().map((v, i) => (i === 1 ? new Variable(v.value, { name: 'other' }) : v));
    await expect(RMSprop.load(path, renamed)).rejects.toThrow(/expected 'other', found 'dense\/bias'/);
    const reshaped = model().map((v, i) => (i === 0 ? new Variable(v.value, { name: v.name, shape: [40, 30] }) : v));
    await expect(RMSprop.load(path, reshaped)).rejects.toThrow(
      /'dense\/kernel' has shape \[30,40\], expected \[40,30\]/,
    );
    const retyped = model().map((v, i) => (i === 2 ? new Variable(v.value, { name: v.name, dtype: 'float32' }) : v));
    await expect(RMSprop.load(path, retyped)).rejects.toThrow(/'head' is not float32/);
    await expect(RMSprop.load(path)).rejects.toThrow(/pass the model variables/);
    for (const vars of [renamed, reshaped, retyped])
      for (const v of vars) expect(v.value.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });
});

describe('saveOwnVariables / loadOwnVariables (Keras state dicts)', () => {
  it('round-trips: an optimizer loaded from the store continues like the original', async () => {
    const options: RMSpropOptions = {
      centered: true,
      momentum: 0.5,
      useEma: true,
      gradientAccumulationSteps: 3,
      workers: 0,
    };
    const varsA = model();
    const a = new RMSprop(options);
    for (let s = 0; s < 4; s++) await a.apply(grads(s), varsA);
    const store = a.saveOwnVariables();
    expect(Object.keys(store)).toEqual(a.variables.map((_, i) => String(i)));
    const varsB = varsA.map((v) => new Variable(v.value.slice(), { name: v.name, shape: v.shape, dtype: v.dtype }));
    const b = new RMSprop(options);
    b.build(varsB);
    b.loadOwnVariables(store);
    for (let s = 4; s < 7; s++) {
      await a.apply(grads(s), varsA);
      await b.apply(grads(s), varsB);
    }
    expect(snapshot(b, varsB).equals(snapshot(a, varsA))).toBe(true);
  });

  it("loads Keras's own state, in Keras's order", () => {
    const c = loadCase('large_all_features');
    const run = setUp(c, 0);
    run.optimizer.build(run.variables);
    run.optimizer.loadOwnVariables(Object.fromEntries(c.expected_state.map((x, i) => [String(i), x.value])));
    run.optimizer.variables.forEach((x, i) => {
      expect(x.name).toBe(c.expected_state[i]!.name);
      if (x.name !== 'learning_rate') expectExact(x.value, c.expected_state[i]!.value, x.name);
    });
  });

  it('refuses a store that does not fit, assigning nothing', () => {
    const opt = new RMSprop({ workers: 0, momentum: 0.5 });
    opt.build(model());
    const store = opt.saveOwnVariables();
    const before = opt.saveOwnVariables();
    expect(() => opt.loadOwnVariables({ ...store, extra: [1] })).toThrow(
      /holds 9 arrays, optimizer 'rm_sprop(_\d+)?' has 8 variables/,
    );
    const short = { ...store, '3': new Float32Array(3) };
    const long = { ...store, '0': [5], '2': new Float32Array(store['2']!.length + 1) };
    expect(() => opt.loadOwnVariables(short)).toThrow(/'dense_bias_velocity' has 3 values, expected 40/);
    expect(() => opt.loadOwnVariables(long)).toThrow(/has 1201 values, expected 1200/);
    expect(opt.iterations).toBe(0);
    expect(opt.saveOwnVariables()).toEqual(before);
    expect(() => new RMSprop().loadOwnVariables({ '0': [1], '1': [0.1], '2': [3] })).toThrow(/not built yet/);
  });
});

describe('safetensors codec', () => {
  const tensorArb = fc
    .record({
      dtype: fc.constantFrom('F32' as const, 'F64' as const, 'I64' as const),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      seed: fc.integer({ min: 1, max: 1000 }),
    })
    .map(({ dtype, shape, seed }) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const values = randomValues(n, seed);
      const data =
        dtype === 'F32'
          ? values
          : dtype === 'F64'
            ? Float64Array.from(values)
            : BigInt64Array.from(values, (x) => BigInt(Math.round(x * 1e6)));
      return { dtype, shape, data };
    });
  const fileArb = fc
    .uniqueArray(
      fc.tuple(
        fc
          .oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constantFrom('__proto__', 'toString', 'constructor'))
          .filter((s) => s !== '__metadata__'),
        tensorArb,
      ),
      { selector: ([name]) => name, maxLength: 5 },
    )
    .map((entries) => ({ metadata: { note: 'x' }, tensors: entries.map(([name, t]) => ({ name, ...t })) }));

  it('decode(encode(file)) gives the file back', () => {
    fc.assert(
      fc.property(fileArb, (file) => {
        const decoded = decodeSafetensors(encodeSafetensors(file));
        expect(decoded.metadata).toEqual(file.metadata);
        const byName = new Map(decoded.tensors.map((t) => [t.name, t]));
        for (const t of file.tensors) {
          const got = byName.get(t.name)!;
          expect(got.dtype).toBe(t.dtype);
          expect(got.shape).toEqual(t.shape);
          expect(bytesOf([got.data]).equals(bytesOf([t.data]))).toBe(true);
        }
      }),
    );
  });

  it('a damaged file is refused with a SafetensorsError, never another failure', () => {
    fc.assert(
      fc.property(
        fileArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (file, flips, cut) => {
          const bytes = encodeSafetensors(file);
          const damaged = bytes.slice(0, bytes.length - (cut % 4 === 0 ? cut % bytes.length : 0));
          for (const [at, value] of flips) damaged[at % damaged.length] = value;
          try {
            decodeSafetensors(damaged);
          } catch (e) {
            expect(e).toBeInstanceOf(SafetensorsError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
