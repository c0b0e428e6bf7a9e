/**
 * The checks the option table (options.ts) calls: each kind's, for the options without a check
 * of their own, and Keras's rules across options, which no single row can hold.
 */
import { quote } from '../common/quote.js';

/** How an error names an option: the constructor's camelCase, or a Keras config's key as written. */
export interface OptionNaming {
  readonly caller: string;
  readonly key: (option: string) => string;
}

/** The resolved options Keras's cross-option rules read. */
export interface KerasRuleOptions {
  readonly gradientAccumulationSteps: number | null;
  readonly useEma: boolean;
  readonly emaMomentum: number;
  readonly emaOverwriteFrequency: number | null;
  readonly clipnorm: number | null;
  readonly clipvalue: number | null;
  readonly globalClipnorm: number | null;
}

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
  | 'auto-or-count'; // 'auto' or an integer >= 0

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
      // a non-finite value would be written to a config as null (JSON has no Infinity)
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw fail(`a finite number${nullable ? ' or null' : ''}`);
      }
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

/** The argument checks of Keras's `BaseOptimizer.__init__`, in its order and wording. */
export function checkKerasRules(o: KerasRuleOptions, naming: OptionNaming): void {
  const refuse = (rule: string, received: string) => new RangeError(`${naming.caller}: ${rule}. Received: ${received}`);
  const is = (option: keyof KerasRuleOptions) => `${naming.key(option)}=${String(o[option])}`;
  const quoted = (option: keyof KerasRuleOptions) => `\`${naming.key(option)}\``;
  const steps = o.gradientAccumulationSteps;
  if (steps && !(steps >= 2)) {
    throw refuse(`${quoted('gradientAccumulationSteps')} must be an integer >= 2`, is('gradientAccumulationSteps'));
  }
  if (o.useEma) {
    if (o.emaMomentum > 1 || o.emaMomentum < 0) {
      throw refuse(`${quoted('emaMomentum')} must be in the range [0, 1]`, is('emaMomentum'));
    }
    const frequency = o.emaOverwriteFrequency;
    if (frequency && frequency < 1) {
      throw refuse(`${quoted('emaOverwriteFrequency')} must be an integer >= 1 or null`, is('emaOverwriteFrequency'));
    }
  }
  const clips = ['clipnorm', 'clipvalue', 'globalClipnorm'] as const;
  if (clips.filter((clip) => o[clip] !== null).length > 1) {
    const [a, b, c] = clips.map(quoted);
    throw refuse(`Only one of ${a}, ${b} and ${c} can be set`, clips.map(is).join(', '));
  }
}
