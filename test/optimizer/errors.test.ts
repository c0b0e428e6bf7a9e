/**
 * Option validation: refuse what Keras refuses (errors.json), plus non-numbers, non-finite numbers
 * and runaway runtime options.
 */
import { describe, expect, it } from 'vitest';
import { maxWorkers, RMSprop, Variable } from '../../dist/src/index.js';
import { snakeToCamel } from '../../dist/src/common/keras-names.js';
import { readFixture } from '../helpers/keras-cases.js';

interface ErrorCase {
  options: Record<string, unknown>;
  keras_raises: string | null;
}

const cases = readFixture<ErrorCase[]>('errors.json');

describe('constructor options as Keras judges them (errors.json)', () => {
  it.each(cases.map((c) => [JSON.stringify(c.options), c] as const))('%s', (_label, c) => {
    const options = Object.fromEntries(Object.entries(c.options).map(([k, v]) => [snakeToCamel(k), v]));
    if (c.keras_raises === null) {
      expect(() => new RMSprop({ ...options, workers: 0 })).not.toThrow();
    } else {
      // the message names the offending argument, as Keras's does
      const named = Object.keys(options).filter((k) => k !== 'useEma');
      expect(() => new RMSprop({ ...options, workers: 0 })).toThrow(new RegExp(named.map((n) => `\`?${n}`).join('|')));
    }
  });
});

describe('configs as Keras judges them (errors.json): fromConfig names the keys as the config writes them', () => {
  it.each(cases.map((c) => [JSON.stringify(c.options), c] as const))('%s', (_label, c) => {
    if (c.keras_raises === null) {
      expect(() => RMSprop.fromConfig(c.options, { workers: 0 })).not.toThrow();
    } else {
      // Keras's sentence, word for word, up to the values it received (Python prints those its own way)
      const rule = c.keras_raises.replace(/^ValueError: /, '').split(/\. Received: | \{/)[0]!;
      expect(() => RMSprop.fromConfig(c.options)).toThrow(`fromConfig: ${rule}`);
    }
  });

  it("a value's error names the key as written, and a camelCase key is refused as Keras refuses it", () => {
    expect(() => RMSprop.fromConfig({ learning_rate: '0.1' })).toThrow(
      /^fromConfig: `learning_rate` must be a finite float32 number.*got "0\.1" \(string\)/,
    );
    expect(() => RMSprop.fromConfig({ use_ema: 'yes' })).toThrow(/`use_ema` must be a boolean/);
    expect(() => RMSprop.fromConfig({ learningRate: 0.3 })).toThrow(
      /not recognized: \{'learningRate': 0\.3\}; a Keras config's keys are snake_case \('learning_rate'\)/,
    );
  });
});

describe('refusals beyond Keras: types, NaN and infinities (quoted with their type)', () => {
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['NaN rho', { rho: NaN }, /`rho` must be a finite number, got NaN \(number\)/],
    ['string momentum', { momentum: '0.9' }, /`momentum` must be a finite number, got "0.9" \(string\)/],
    // JSON has no Infinity: written to a config it would come back as null (or "no clipping")
    ['infinite epsilon', { epsilon: Infinity }, /`epsilon` must be a finite number, got Infinity \(number\)/],
    ['infinite clipnorm', { clipnorm: Infinity }, /`clipnorm` must be a finite number or null, got Infinity/],
    ['infinite weight decay', { weightDecay: -Infinity }, /`weightDecay` must be a finite number or null/],
    ['infinite learning rate', { learningRate: Infinity }, /`learningRate` must be a finite float32 number/],
    ['learning rate beyond float32', { learningRate: 1e39 }, /`learningRate` must be a finite float32 number/],
    ['string centered', { centered: 'true' }, /`centered` must be a boolean, got "true" \(string\)/],
    ['NaN learning rate', { learningRate: NaN }, /`learningRate` must be/],
    ['object learning rate', { learningRate: { value: 1 } }, /`learningRate` must be/],
    ['non-boolean centered', { centered: 1 }, /`centered` must be a boolean/],
    ['fractional accumulation', { gradientAccumulationSteps: 2.5 }, /`gradientAccumulationSteps` must be an integer/],
    [
      'negative EMA frequency',
      { useEma: true, emaOverwriteFrequency: -2 },
      /`emaOverwriteFrequency` must be an integer >= 1/,
    ],
    ['NaN clipnorm', { clipnorm: NaN }, /`clipnorm` must be a finite number or null/],
    ['bad workers', { workers: -1 }, /`workers` must be 'auto' or an integer >= 0, got -1 \(number\)/],
    ['runaway workers', { workers: 100_000 }, /`workers` must be at most \d+ \(maxWorkers\(\)/],
    [
      'timeout beyond a timer',
      { stepTimeoutMs: 2 ** 31 },
      /`stepTimeoutMs` must be a number > 0 and at most 2147483647/,
    ],
    ['infinite timeout', { stepTimeoutMs: Infinity }, /`stepTimeoutMs`/],
    [
      'negative thread idle time',
      { threadIdleMs: -1 },
      /`threadIdleMs` must be a number from 0 to 2147483647, got -1 \(number\)/,
    ],
    ['bad workers string', { workers: 'many' }, /`workers`/],
    ['zero timeout', { stepTimeoutMs: 0 }, /`stepTimeoutMs`/],
    ['empty name', { name: '' }, /`name`/],
    ['unknown kernels', { kernels: 'gpu' }, /`kernels` must be one of 'wasm', 'js', got "gpu" \(string\)/],
    ['segment not whole pages', { maxSegmentBytes: 100_000 }, /`maxSegmentBytes` must be a positive multiple of 65536/],
    ['segment over 4 GiB', { maxSegmentBytes: 2 ** 32 + 65536 }, /`maxSegmentBytes`/],
    ['unknown option', { learning_rate: 0.1 }, /Argument\(s\) not recognized: \{'learning_rate': 0.1\}/],
    ['unknown option holding an object', { extra: { a: [1, 2] } }, /not recognized: \{'extra': \{"a":\[1,2\]\}\}/],
    ['a schedule-like object for a number', { rho: { value: 1 } }, /`rho` must be .*, got \{"value":1\} \(object\)/],
  ];
  it.each(bad)('%s', (_label, options, message) => {
    expect(() => new RMSprop(options as never)).toThrow(message);
  });

  it('Variable quotes what it refuses, with its type', () => {
    expect(() => new Variable([1], { dtype: 'half' as never })).toThrow(
      "`dtype` must be 'float32', 'float64', 'float16' or 'bfloat16', got \"half\" (string)",
    );
    expect(() => new Variable([1], { shape: [-1] })).toThrow(
      'must be an array of non-negative integers, got [-1] (array)',
    );
    expect(() => new Variable('abc' as never)).toThrow('got "abc" (string)');
    expect(() => new Variable([1], { name: '' })).toThrow('`name` must be a non-empty string, got "" (string)');
  });

  it('bounds workers by maxWorkers() with a RangeError, and accepts the bound itself', () => {
    expect(maxWorkers()).toBeGreaterThanOrEqual(16);
    expect(() => new RMSprop({ workers: maxWorkers() + 1 })).toThrow(RangeError);
    expect(new RMSprop({ workers: maxWorkers() }).name).toMatch(/^rm_sprop(_\d+)?$/); // nothing starts before build
  });

  it('accepts every option at once when they are compatible', () => {
    const opt = new RMSprop({
      learningRate: 0.01,
      rho: 0.8,
      momentum: 0.5,
      epsilon: 1e-6,
      centered: true,
      weightDecay: 0.01,
      globalClipnorm: 1,
      useEma: true,
      emaMomentum: 0.9,
      emaOverwriteFrequency: 3,
      lossScaleFactor: 8,
      gradientAccumulationSteps: 2,
      name: 'all',
      workers: 0,
      stepTimeoutMs: 1000,
      kernels: 'js',
      maxSegmentBytes: 65536,
      threadIdleMs: 0,
    });
    expect(opt.name).toBe('all');
  });
});
