/**
 * Refusing the keys an options object does not take, the one way every entry point does it
 * (RMSprop, its Keras configs, LossScaleOptimizer, the schedules, DataParallelTrainer, the tfjs
 * replica's options, the fit functions): every unknown key named, and where one is the other
 * spelling of a known key (Keras's snake_case given to a camelCase API, or camelCase in a
 * Keras config), the spelling to use instead.
 */
import { camelToSnake, snakeToCamel } from './keras-names.js';
import { shown } from './quote.js';

/** The keys an options object takes, and how they are spelled. */
export interface OptionKeys {
  /** The function or class that refuses, first in the message: 'RMSprop', 'fromConfig', ... */
  readonly caller: string;
  /** The keys taken, in the order the message lists them. */
  readonly known: readonly string[];
  /** How the known keys are spelled: a key in the other spelling gets a hint. */
  readonly spelling: 'camelCase' | 'snake_case';
  /** What the keys are, after `unknown`: "option(s)" (default), "`replicaOptions`", ... */
  readonly noun?: string;
  /** Keras's own form: "Argument(s) not recognized: {'key': value}", with the values and no list of the known keys. */
  readonly kerasForm?: boolean;
  /** Why a key is refused where a neighbouring API takes it (tfjs's fit arguments a data-parallel fit does not). */
  readonly why?: Readonly<Record<string, string>>;
  /** Said after the hint, for a hint: where the other spelling belongs. */
  readonly hintTail?: string;
  /** Said after the list of the known keys. */
  readonly tail?: string;
}

/** The keys of `given` that are not known, in its order; a key holding undefined is an absent option. */
export function unknownKeys(given: object, known: readonly string[]): string[] {
  const values = given as Record<string, unknown>;
  return Object.keys(values).filter((key) => !known.includes(key) && values[key] !== undefined);
}

/**
 * Throws a TypeError naming every key of `given` that `keys.known` lacks, with the known spelling
 * of those that are the other spelling of a known key; does nothing when all are known.
 */
export function refuseUnknownKeys(given: object, keys: OptionKeys): void {
  const unknown = unknownKeys(given, keys.known);
  if (unknown.length === 0) return;
  const values = given as Record<string, unknown>;
  const respell = keys.spelling === 'camelCase' ? snakeToCamel : camelToSnake;
  const respelled = unknown.map(respell).filter((key, i) => key !== unknown[i] && keys.known.includes(key));
  const rule = keys.spelling === 'camelCase' ? 'options are camelCase' : "a Keras config's keys are snake_case";
  const hint =
    respelled.length === 0 ? '' : `; ${rule} (${respelled.map((k) => `'${k}'`).join(', ')})${keys.hintTail ?? ''}`;
  if (keys.kerasForm) {
    const listed = unknown.map((key) => `'${key}': ${shown(values[key])}`).join(', ');
    throw new TypeError(`${keys.caller}: Argument(s) not recognized: {${listed}}${hint}`);
  }
  const listed = unknown.map((key) => (keys.why?.[key] ? `'${key}' (${keys.why[key]})` : `'${key}'`)).join(', ');
  throw new TypeError(
    `${keys.caller}: unknown ${keys.noun ?? 'option(s)'} ${listed}${hint}; it takes ${keys.known.join(', ')}${keys.tail ?? ''}`,
  );
}
