/**
 * The kinds of value an option may take and their bounds, stated once for every entry point
 * (RMSprop's option table, the schedules, DataParallelTrainer): each check names the option and
 * quotes the value it refuses.
 */
import { quote } from './quote.js';

/** The longest delay Node's timers take (2^31 - 1 ms); a longer one would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What an option's value is. It picks the option's check (unless the option brings its own) and
 * how its command-line flag parses the argument.
 */
export type Kind =
  | 'number' // a finite number
  | 'nullable-number' // a finite number or null
  | 'nullable-count' // an integer or null; the flag takes an integer >= `min`
  | 'boolean' // the flag takes no argument
  | 'string' // a non-empty string
  | 'choice' // one of `choices`
  | 'auto-or-count' // 'auto' or an integer >= 0
  | 'positive' // a finite number > 0 (a schedule's; Keras's wording)
  | 'nonnegative' // a finite number >= 0 (a schedule's; Keras's wording)
  | 'numbers' // an array of numbers (a schedule's boundaries and values)
  | 'nullable-object'; // an object or null (the option's own check says which)

/** Throws a TypeError naming the option (`what`) unless `value` is of the kind. */
export function checkKind(kind: Kind, value: unknown, what: string, choices: readonly string[] = []): void {
  const nullable = kind.startsWith('nullable');
  if (value === null && nullable) return;
  const fail = (expected: string) => new TypeError(`${what} must be ${expected}, got ${quote(value)}`);
  switch (kind) {
    case 'string':
      if (typeof value !== 'string' || value.length === 0) throw fail('a non-empty string');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('a boolean');
      return;
    case 'nullable-count':
      if (!Number.isInteger(value)) throw fail('an integer or null');
      return;
    case 'choice':
      if (!choices.includes(value as string)) throw fail(`one of ${choices.map((c) => `'${c}'`).join(', ')}`);
      return;
    case 'auto-or-count':
      if (value !== 'auto' && !(Number.isInteger(value) && (value as number) >= 0)) {
        throw fail("'auto' or an integer >= 0");
      }
      return;
    case 'number':
    case 'nullable-number':
    case 'positive':
    case 'nonnegative':
      // a non-finite value would be written to a config as null (JSON has no Infinity)
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw fail(`a finite number${nullable ? ' or null' : ''}`);
      }
      if (kind === 'positive' && !(value > 0)) throw new RangeError(`${what} must be > 0, received: ${value}`);
      if (kind === 'nonnegative' && !(value >= 0)) throw new RangeError(`${what} must be >= 0, received: ${value}`);
      return;
    case 'numbers':
      if (!Array.isArray(value) || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) {
        throw fail('an array of finite numbers');
      }
      return;
    case 'nullable-object':
      if (typeof value !== 'object') throw fail('an object or null');
      return;
    default:
      kind satisfies never; // a new kind needs its check here
  }
}

/** Throws a TypeError naming the option unless `value` is an integer from `min` to `max`. */
export function checkCount(value: unknown, what: string, min: number, max: number): void {
  if (!(Number.isInteger(value) && (value as number) >= min && (value as number) <= max)) {
    throw new TypeError(`${what} must be an integer from ${min} to ${max}, got ${quote(value)}`);
  }
}
