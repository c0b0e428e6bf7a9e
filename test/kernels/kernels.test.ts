/**
 * The kernel sets, element by element, for every specialisation (every combination of slots,
 * loss scaling, accumulation mode, clipping, weight decay and EMA overwrite) on random data
 * with awkward lengths (SIMD tails, runs over several chunks), special values and a variable
 * without a gradient: the WebAssembly kernels against the JS kernels bytewise, and both against
 * an independent per-element reference of Keras's formulas (test/helpers/reference-rmsprop.ts).
 */
import { describe, expect, it } from 'vitest';
import { allocateArena, groupViews, type GroupViews } from '../../dist/src/memory/arena.js';
import type { DType } from '../../dist/src/memory/dtype.js';
import { roundToHalf, toHalfBits } from '../../dist/src/memory/half.js';
import { jsKernels } from '../../dist/src/kernels/js.js';
import type { Kernels } from '../../dist/src/kernels/types.js';
import { wasmKernels } from '../../dist/src/kernels/wasm/index.js';
import { chunkKernels, KernelTable, MAX_CHUNKS_PER_CALL } from '../../dist/src/kernels/run.js';
import {
  BLOCK_BYTES,
  Chunk,
  CHUNK_STRIDE,
  chunkCount,
  planGroups,
  MAX_SEGMENT_BYTES,
} from '../../dist/src/memory/layout.js';
import { fieldsFor } from '../../dist/src/memory/slots.js';
import { AccumulationMode, ClipMode, STEP_WORDS, VARIABLE_WORDS } from '../../dist/src/kernels/rmsprop-words.js';
import { controlLength } from '../../dist/src/pool/protocol.js';

const S = STEP_WORDS.index;
const V = VARIABLE_WORDS.index;
const V_STRIDE = VARIABLE_WORDS.length;
import { randomValues } from '../helpers/state.js';
import {
  referenceApply,
  referenceSumOfSquares,
  type ReferenceElement,
  type ReferenceSettings,
} from '../helpers/reference-rmsprop.js';
import { kernelSet } from '../../dist/src/kernels/index.js';

const KERNEL_SETS = (['wasm', 'js'] as const).map((name) => [name, kernelSet(name)] as const);

const SIZES = [1, 3, 5, 17, 1023, 1029, 2050];
/** Index of the variable that has no gradient this step (the fallback path). */
const NO_GRAD = 3;
const SPECIALS = [0, -0, 1e-42, -3e-39, 1e30, -1e30, Infinity, -Infinity, NaN];

interface Setup {
  momentum: boolean;
  centered: boolean;
  ema: boolean;
}

/**
 * One arena per dtype and setup, filled once and restored from that fill by each `arena` call: a
 * new WebAssembly.Memory has the wasm kernels instantiate their 10 MB module again, and filling
 * half precision's fields converts every element, which together took most of this file's time.
 */
const arenas = new Map<string, ReturnType<typeof allocate>>();

function allocate(dtype: DType, { momentum, centered, ema }: Setup) {
  const fields = fieldsFor({ momentum: momentum ? 0.9 : 0, centered, useEma: ema, gradientAccumulationSteps: 2 });
  const shapes = SIZES.map((size, i) => ({ name: `v${i}`, size, dtype }));
  const plans = planGroups(shapes, 1, fields.length, MAX_SEGMENT_BYTES);
  const built = allocateArena(plans, fields, 1, {
    control: controlLength(1),
    scalars: STEP_WORDS.length,
    varParams: SIZES.length * VARIABLE_WORDS.length,
  });
  const views = groupViews(built.groups[0]!);
  const seedBase = 1000 * fields.length;
  const half = dtype === 'float16' || dtype === 'bfloat16' ? dtype : null;
  const stored = (values: ArrayLike<number>) => (half === null ? values : toHalfBits(values, half));
  const filled = fields.map((field, f) => {
    const view = views[field]!;
    view.set(stored(randomValues(view.length, seedBase + f)));
    if (field === 'velocity') {
      // a second moment: non-negative (a half value's sign is its top bit)
      for (let i = 0; i < view.length; i++) view[i] = half === null ? Math.abs(view[i]!) : view[i]! & 0x7fff;
    }
    if (field === 'grad' || field === 'value') SPECIALS.forEach((x, k) => (view[17 + 97 * k] = stored([x])[0]!));
    return [view, view.slice()] as const;
  });
  return { plans, built, views, filled };
}

/** The arena for `dtype` and `setup`, every field, word and partial as a new one's would be after its fill. */
function arena(dtype: DType, setup: Setup) {
  const key = `${dtype} ${setup.momentum} ${setup.centered} ${setup.ema}`;
  const { plans, built, views, filled } = arenas.get(key) ?? arenas.set(key, allocate(dtype, setup)).get(key)!;
  for (const words of [built.scalars, built.varParams, views.partials]) words.fill(0);
  for (const [view, contents] of filled) view.set(contents);
  const vp = built.varParams;
  SIZES.forEach((_, i) => {
    vp[i * V_STRIDE + V.hasGradient] = i === NO_GRAD ? 0 : 1;
    vp[i * V_STRIDE + V.decay] = i % 2;
    vp[i * V_STRIDE + V.clipDivisor] = Math.fround(0.75 + i);
  });
  return {
    built,
    views,
    chunkCount: chunkCount(plans[0]!.chunks),
    offsets: plans[0]!.offsets,
    chunks: plans[0]!.chunks,
  };
}

/** The words as the writers leave them for `dtype` (half precision: cast to it; float32 where the gradient stage is wide). */
function setScalars(
  s: Float64Array,
  setup: Setup,
  mode: { unscale: boolean; accum: number; clip: number; overwrite: boolean; wide?: boolean },
  dtype: DType = 'float32',
  varParams?: Float64Array,
): void {
  const f = dtype === 'float16' || dtype === 'bfloat16' ? (x: number) => roundToHalf(x, dtype) : Math.fround;
  const g = mode.wide ? Math.fround : f; // the gradient stage's words
  s[S.wideGradient] = mode.wide ? 1 : 0;
  if (varParams) SIZES.forEach((_, i) => (varParams[i * V_STRIDE + V.clipDivisor] = g(0.75 + i)));
  s[S.learningRate] = f(0.01);
  s[S.rho] = f(0.9);
  s[S.oneMinusRho] = f(1 - 0.9);
  s[S.epsilon] = f(1e-7);
  s[S.momentum] = f(0.8);
  s[S.lossScale] = g(3);
  s[S.unscale] = mode.unscale ? 1 : 0;
  s[S.accumulation] = mode.accum;
  s[S.accumulationSteps] = 3;
  s[S.clipMode] = mode.clip;
  s[S.clip] = g(mode.clip === ClipMode.GlobalNorm ? 0.3 : 0.7);
  s[S.weightDecay] = f(0.05);
  s[S.weightDecayOn] = 1;
  s[S.ema] = setup.ema ? 1 : 0;
  s[S.emaMomentum] = f(0.95);
  s[S.emaOneMinusMomentum] = f(1 - 0.95);
  s[S.overwrite] = mode.overwrite ? 1 : 0;
}

/** All bytes of a group, with every NaN made canonical (payloads and signs of NaN may differ). */
function canonicalBytes(views: GroupViews): Buffer {
  const fields = [
    views.value,
    views.grad,
    views.velocity,
    views.momentum,
    views.averageGradient,
    views.average,
    views.accumulator,
  ];
  return Buffer.concat(
    fields.flatMap((field) => {
      if (field === null) return [];
      const copy = field.slice();
      if (copy instanceof Uint16Array) {
        // half precision: a NaN's payload and sign may differ between the sets
        const [exponent, quiet] = views.dtype === 'float16' ? [0x7c00, 0x7e00] : [0x7f80, 0x7fc0];
        for (let i = 0; i < copy.length; i++)
          if ((copy[i]! & exponent) === exponent && copy[i]! & (0x7fff & ~exponent)) copy[i] = quiet;
      } else for (let i = 0; i < copy.length; i++) if (Number.isNaN(copy[i])) copy[i] = NaN;
      return [Buffer.from(copy.buffer)];
    }),
  );
}

const setups: Setup[] = [false, true].flatMap((momentum) =>
  [false, true].flatMap((centered) => [false, true].map((ema) => ({ momentum, centered, ema }))),
);
const modes = [false, true].flatMap((unscale) =>
  [AccumulationMode.Off, AccumulationMode.Accumulate, AccumulationMode.ApplyAccumulated].flatMap((accum) =>
    [ClipMode.Off, ClipMode.Norm, ClipMode.GlobalNorm, ClipMode.Value].flatMap((clip) =>
      [false, true].map((overwrite) => ({ unscale, accum, clip, overwrite })),
    ),
  ),
);

function runBoth(
  dtype: DType,
  setup: Setup,
  mode: (typeof modes)[number],
  kernel: (k: Kernels, ...a: Parameters<Kernels['update']>) => void,
) {
  const results = [jsKernels, wasmKernels].map((set) => {
    const { built, views, chunkCount } = arena(dtype, setup);
    setScalars(built.scalars, setup, mode, dtype, built.varParams);
    kernel(set[dtype]!, views, 0, chunkCount, built.scalars, built.varParams);
    const partials = Float64Array.from(views.partials, (x) => (Number.isNaN(x) ? NaN : x));
    return { bytes: canonicalBytes(views), partials: Buffer.from(partials.buffer) };
  });
  return { js: results[0]!, wasm: results[1]! };
}

/** Every mode, and for a half or float64 dtype each also with the float32 gradient (loss scaling). */
const modesOf = (dtype: DType) =>
  dtype === 'float32'
    ? modes.map((m) => ({ ...m, wide: false }))
    : modes.flatMap((m) => [false, true].map((wide) => ({ ...m, wide })));

describe.each(['float32', 'float64', 'float16', 'bfloat16'] as const)(
  'wasm kernels match the JS kernels bytewise (%s)',
  (dtype) => {
    it.each(setups)('update: momentum=$momentum centered=$centered ema=$ema, every mode', (setup) => {
      for (const mode of modesOf(dtype)) {
        const { js, wasm } = runBoth(dtype, setup, mode, (k, ...a) => k.update(...a));
        expect(wasm.bytes.equals(js.bytes), JSON.stringify(mode)).toBe(true);
      }
    });

    it('sum of squares, every gradient transform', () => {
      const setup = { momentum: false, centered: false, ema: false };
      for (const mode of modesOf(dtype).filter((m) => m.clip === ClipMode.Off && !m.overwrite)) {
        const { js, wasm } = runBoth(dtype, setup, mode, (k, ...a) => k.sumSquares(...a));
        expect(wasm.partials.equals(js.partials), JSON.stringify(mode)).toBe(true);
        expect(wasm.bytes.equals(js.bytes), 'the norm phase writes nothing but partials').toBe(true);
      }
    });

    it('the update changes the state (the comparison is not vacuous)', () => {
      const setup = { momentum: true, centered: true, ema: true };
      const mode = { unscale: false, accum: AccumulationMode.Off, clip: ClipMode.Off, overwrite: false };
      const { built, views, chunkCount } = arena(dtype, setup);
      const before = canonicalBytes(views);
      setScalars(built.scalars, setup, mode, dtype, built.varParams);
      wasmKernels[dtype]!.update(views, 0, chunkCount, built.scalars, built.varParams);
      expect(canonicalBytes(views).equals(before)).toBe(false);
    });
  },
);

/** The settings `setScalars` and `arena` give variable `i`, as the reference takes them. */
function referenceSettings(
  dtype: ReferenceSettings['dtype'],
  setup: Setup,
  mode: (typeof modes)[number],
  i: number,
): ReferenceSettings {
  const clip =
    mode.clip === ClipMode.Norm
      ? { kind: 'norm' as const, clipnorm: 0.7, divisor: 0.75 + i }
      : mode.clip === ClipMode.GlobalNorm
        ? { kind: 'global' as const, scale: 0.3 }
        : mode.clip === ClipMode.Value
          ? { kind: 'value' as const, clipvalue: 0.7 }
          : { kind: 'off' as const };
  const accumulation = (['off', 'accumulate', 'apply'] as const)[mode.accum];
  return {
    dtype,
    learningRate: 0.01,
    rho: 0.9,
    epsilon: 1e-7,
    momentum: setup.momentum ? 0.8 : null,
    centered: setup.centered,
    lossScaleFactor: mode.unscale ? 3 : null,
    accumulation,
    accumulationSteps: 3,
    clip,
    weightDecay: 0.05,
    decays: i % 2 === 1,
    ema: setup.ema ? { momentum: 0.95, overwrite: mode.overwrite } : null,
    hasGradient: i !== NO_GRAD,
  };
}

const FIELDS = ['value', 'grad', 'velocity', 'momentum', 'averageGradient', 'average', 'accumulator'] as const;

/** Element `at` of every array the group has. */
function elementAt(views: GroupViews, at: number): ReferenceElement {
  const e = {} as Record<(typeof FIELDS)[number], number | undefined>;
  for (const field of FIELDS) e[field] = views[field]?.[at];
  return e as unknown as ReferenceElement;
}

/** Bit-identical, every NaN alike (NaN payloads may differ). */
function same(a: number | undefined, b: number | undefined): boolean {
  return a === undefined || b === undefined ? a === b : Number.isNaN(a) ? Number.isNaN(b) : Object.is(a, b);
}

describe.each(['float32', 'float64'] as const)('both kernel sets match the plain reference (%s)', (dtype) => {
  it.each(setups)('update: momentum=$momentum centered=$centered ema=$ema, every mode', (setup) => {
    for (const mode of modes) {
      let expected: ReferenceElement[][] | null = null;
      for (const [name, set] of KERNEL_SETS) {
        const { built, views, chunkCount, offsets } = arena(dtype, setup);
        expected ??= SIZES.map((size, i) => {
          const settings = referenceSettings(dtype, setup, mode, i);
          return Array.from({ length: size }, (_, k) => referenceApply(elementAt(views, offsets[i]! + k), settings));
        });
        setScalars(built.scalars, setup, mode);
        set[dtype].update(views, 0, chunkCount, built.scalars, built.varParams);
        SIZES.forEach((size, i) => {
          for (let k = 0; k < size; k++) {
            const actual = elementAt(views, offsets[i]! + k);
            for (const field of FIELDS) {
              if (!same(actual[field], expected![i]![k]![field])) {
                expect.fail(
                  `${name} ${JSON.stringify(mode)} v${i}[${k}].${field}: got ${actual[field]}, ` +
                    `the reference has ${expected![i]![k]![field]}`,
                );
              }
            }
          }
        });
      }
    }
  });

  it('sum of squares, every gradient transform', () => {
    const setup = { momentum: false, centered: false, ema: false };
    for (const [name, set] of KERNEL_SETS) {
      for (const mode of modes.filter((m) => m.clip === ClipMode.Off && !m.overwrite)) {
        const { built, views, chunkCount, chunks } = arena(dtype, setup);
        setScalars(built.scalars, setup, mode);
        set[dtype].sumSquares(views, 0, chunkCount, built.scalars, built.varParams);
        for (let c = 0; c < chunkCount; c++) {
          // one sum per numpy buffer, at its first chunk
          const [start, length, variable] = [Chunk.Start, Chunk.SumLength, Chunk.Variable].map(
            (f) => chunks[c * CHUNK_STRIDE + f]!,
          ) as [number, number, number];
          const settings = referenceSettings(dtype, setup, mode, variable);
          const elements = Array.from({ length }, (_, k) => elementAt(views, start + k));
          const expected = settings.hasGradient && length > 0 ? referenceSumOfSquares(elements, settings) : 0;
          expect(same(views.partials[c], expected), `${name} ${JSON.stringify(mode)} chunk ${c}`).toBe(true);
        }
      }
    }
  });
});

describe('update calls', () => {
  it('cover one variable each and at most MAX_CHUNKS_PER_CALL chunks, every element once', () => {
    // V8 swaps a wasm function's optimised code in between calls only: a long run is cut
    const chunkElements = BLOCK_BYTES / 4; // float32
    const most = MAX_CHUNKS_PER_CALL * chunkElements;
    const sizes = [2 * most + 5, 10, most];
    const plans = planGroups(
      sizes.map((size, i) => ({ name: `v${i}`, size, dtype: 'float32' as const })),
      1,
      3,
      MAX_SEGMENT_BYTES,
    );
    const built = allocateArena(
      plans,
      fieldsFor({ momentum: 0, centered: false, useEma: false, gradientAccumulationSteps: null }),
      1,
      {
        control: controlLength(1),
        scalars: STEP_WORDS.length,
        varParams: sizes.length * V_STRIDE,
      },
    );
    sizes.forEach((_, i) => (built.varParams[i * V_STRIDE + V.hasGradient] = 1));
    const calls: { variable: number; first: number; n: number }[] = [];
    const table = new KernelTable(() => (_views, first, n, _step, _words, base) => {
      calls.push({ variable: base / V_STRIDE, first, n });
    });
    const views = groupViews(built.groups[0]!);
    chunkKernels(() => table).update(views, 0, chunkCount(plans[0]!.chunks), built.scalars, built.varParams);
    expect(calls.map((c) => c.n)).toEqual([most, most, 5, 10, most]);
    expect(calls.map((c) => c.variable)).toEqual([0, 0, 0, 1, 2]);
    const offsets = plans[0]!.offsets;
    for (const [i, size] of sizes.entries()) {
      const mine = calls.filter((c) => c.variable === i);
      expect(mine[0]!.first).toBe(offsets[i]);
      for (let k = 1; k < mine.length; k++) expect(mine[k]!.first).toBe(mine[k - 1]!.first + mine[k - 1]!.n);
      expect(mine.reduce((n, c) => n + c.n, 0)).toBe(size);
    }
  });
});
