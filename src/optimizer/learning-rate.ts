/**
 * Where the learning rate comes from: Keras keeps a number in a float32 variable, calls a
 * schedule with the raw step counter, or calls a function. A number or a schedule's value is
 * float32; a function's is what it returned, as Keras's `learning_rate` reports it (each use
 * casts it to the variable's dtype).
 */
import { quote } from '../common/quote.js';
import { isLearningRate, type LearningRate } from './options.js';
import {
  LearningRateSchedule,
  serializeSchedule,
  type SerializedSchedule,
} from './schedules/learning-rate-schedule.js';

export type LearningRateSource =
  | { readonly kind: 'variable'; readonly value: number }
  | { readonly kind: 'schedule'; readonly schedule: LearningRateSchedule }
  | { readonly kind: 'function'; readonly fn: () => number };

export function learningRateSource(lr: LearningRate): LearningRateSource {
  if (lr instanceof LearningRateSchedule) return { kind: 'schedule', schedule: lr };
  if (typeof lr === 'function') return { kind: 'function', fn: lr };
  return { kind: 'variable', value: Math.fround(lr) };
}

/** The learning rate at raw step `iterations`; refuses a function that returns garbage. */
export function currentLearningRate(source: LearningRateSource, iterations: number): number {
  switch (source.kind) {
    case 'variable':
      return source.value;
    case 'schedule':
      return source.schedule(iterations);
    case 'function': {
      const value = source.fn();
      if (typeof value !== 'number' || Number.isNaN(value)) {
        throw new TypeError(`learningRate function returned ${String(value)}; it must return a number`);
      }
      return value;
    }
  }
}

/** Keras's `learning_rate` config entry (a function is recorded by its current value). */
export function learningRateConfig(source: LearningRateSource, iterations: number): number | SerializedSchedule {
  return source.kind === 'schedule' ? serializeSchedule(source.schedule) : currentLearningRate(source, iterations);
}

/**
 * The source after `optimizer.learningRate = value`: a schedule or a function replaces any
 * source; a number replaces only a number (Keras cannot assign a number over a schedule).
 */
export function reassignedLearningRate(source: LearningRateSource, value: LearningRate): LearningRateSource {
  if (!isLearningRate(value)) {
    throw new TypeError(
      `learningRate must be a finite float32 number, a LearningRateSchedule or a function, got ${quote(value)}`,
    );
  }
  if (typeof value !== 'number' || source.kind === 'variable') return learningRateSource(value);
  throw new TypeError(
    `This optimizer was created with a ${source.kind === 'schedule' ? 'LearningRateSchedule' : 'function'} ` +
      'as its `learningRate`, hence its learning rate is not settable to a number. Assign a schedule or a function, ' +
      'or create the optimizer with a number `learningRate`.',
  );
}
