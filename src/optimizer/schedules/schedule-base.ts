/**
 * What every learning-rate schedule shares: the callable class (an instance is a function of the
 * step), its options checked against its fields (kinds, defaults, Keras's config keys) and its
 * Keras config. The six formulas are in learning-rate-schedule.ts.
 */
import { camelToSnake } from '../../common/keras-names.js';
import { refuseUnknownKeys } from '../../common/option-keys.js';
import { checkKind, type Kind } from '../../common/option-rules.js';

/**
 * @internal One argument of a schedule: its kind (how it is checked) and its default. A
 * schedule's arguments are a record of these keyed by the camelCase option, in Keras's config
 * order; each config key is the option's name in snake_case.
 */
export interface ConfigField {
  /** undefined = required */
  readonly fallback?: unknown;
  /** How the value is checked. */
  readonly kind: Extract<Kind, 'number' | 'positive' | 'nonnegative' | 'boolean' | 'numbers' | 'nullable-number'>;
}

/** @internal A schedule's arguments: one field per option of `O` but `name` (the compiler holds the record to `O`). */
export type ScheduleFields<O> = { readonly [K in Exclude<keyof O, 'name'>]-?: ConfigField };

/** A schedule's Keras config: snake_case keys. */
export type ScheduleConfig = Record<string, unknown>;

/** A schedule as `keras.optimizers.schedules.serialize` writes it. */
export interface SerializedSchedule {
  /** Always 'keras.optimizers.schedules'. */
  module: string;
  /** The schedule's class, e.g. 'ExponentialDecay'. */
  class_name: string;
  config: ScheduleConfig;
  /** null: one of Keras's own classes. */
  registered_name: null;
}

// The merge gives instances the call signature the constructor makes true (it returns a function):
// a class's instances cannot be declared callable otherwise.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see above
export interface LearningRateSchedule {
  /** The learning rate at `step` (float32 value as a number). */
  (step: number): number;
}

/**
 * Base of every schedule. Instances are functions (`schedule(step)`), like Keras's `__call__`.
 * Subclasses declare their fields once; validation and `getConfig()` derive from them.
 *
 * @example
 * ```ts
 * const lr = new schedules.ExponentialDecay({ initialLearningRate: 0.01, decaySteps: 100, decayRate: 0.5 });
 * lr(200); // 0.0024999999441206455: 0.0025 in float32, as Keras computes it
 * const optimizer = new RMSprop({ learningRate: lr }); // getConfig() serializes it as Keras does
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
export abstract class LearningRateSchedule {
  /** Keras's `name` argument. */
  declare readonly name: string;
  /** The options with their defaults filled in, checked. */
  declare protected readonly options: Readonly<Record<string, unknown>>;

  /** @internal Each subclass passes its fields, its Keras class name's default `name`, and the options given. */
  protected constructor(
    fields: Readonly<Record<string, ConfigField>>,
    defaultName: string,
    options: Record<string, unknown>,
  ) {
    const fn = ((step: number) => (fn as unknown as LearningRateSchedule).evaluate(checkStep(step))) as unknown as this;
    Object.setPrototypeOf(fn, new.target.prototype);
    const className = new.target.name;
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`${className}: options must be an object`);
    }
    refuseUnknownKeys(options, {
      caller: className,
      known: [...Object.keys(fields), 'name'],
      spelling: 'camelCase',
    });
    const resolved: Record<string, unknown> = {};
    for (const [option, field] of Object.entries(fields)) {
      resolved[option] = validateField(`${className}: \`${option}\``, field, options[option]);
    }
    const name = options.name ?? defaultName;
    if (typeof name !== 'string') throw new TypeError(`${className}: \`name\` must be a string`);
    Object.defineProperty(fn, 'name', { value: name, enumerable: true });
    Object.defineProperty(fn, 'options', { value: Object.freeze(resolved) });
    Object.defineProperty(fn, 'fields', { value: fields });
    return fn;
  }

  /** The learning rate at `step`. */
  protected abstract evaluate(step: number): number;

  /** Keras's `get_config()`: snake_case keys in Keras's order, including `name`. */
  getConfig(): ScheduleConfig {
    const options = Object.keys((this as unknown as { fields: Readonly<Record<string, ConfigField>> }).fields);
    const config: ScheduleConfig = {};
    for (const option of options) config[camelToSnake(option)] = copy(this.options[option]);
    const order = (this.constructor as typeof LearningRateSchedule & { nameIndex?: number }).nameIndex;
    return insertAt(config, 'name', this.name, order ?? options.length);
  }
}

function insertAt(config: ScheduleConfig, key: string, value: unknown, index: number): ScheduleConfig {
  const entries = Object.entries(config);
  entries.splice(index, 0, [key, value]);
  return Object.fromEntries(entries);
}

function copy(x: unknown): unknown {
  return Array.isArray(x) ? [...(x as readonly unknown[])] : x;
}

function checkStep(step: number): number {
  if (typeof step !== 'number' || Number.isNaN(step)) {
    throw new TypeError(`schedule step must be a number, got ${String(step)}`);
  }
  return step;
}

function validateField(where: string, field: ConfigField, raw: unknown): unknown {
  const value = raw === undefined ? field.fallback : raw;
  if (value === undefined) throw new TypeError(`${where} is required`);
  checkKind(field.kind, value, where);
  return Array.isArray(value) ? Object.freeze([...(value as number[])]) : value;
}
