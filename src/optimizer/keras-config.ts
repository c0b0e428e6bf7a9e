/**
 * Reading a Keras optimizer config (`get_config()`, or `serialize()`'s wrapped form) into
 * options: the keys as Keras writes them, every value checked and every error naming the key
 * as the config spells it; a serialized schedule becomes a schedule.
 */
import { camelToSnake, snakeToCamel } from '../common/keras-names.js';
import { refuseUnknownKeys } from '../common/option-keys.js';
import { quote } from '../common/quote.js';
import type { OptionNaming } from './option-checks.js';
import { isRuntimeOption, OPTION_NAMES, resolveOptions, type KerasConfig, type RMSpropOptions } from './options.js';
import { deserializeSchedule } from './schedules/learning-rate-schedule.js';

const CONFIG_NAMING: OptionNaming = { caller: 'fromConfig', key: camelToSnake };

/**
 * `keras.optimizers.serialize(optimizer)`'s form, `{module, class_name: 'RMSprop', config,
 * registered_name}`, as the config inside it; any other object as it is.
 */
function unwrapSerialized(config: KerasConfig): KerasConfig {
  if (!Object.hasOwn(config, 'class_name') || !Object.hasOwn(config, 'config')) return config;
  const { class_name: className, config: inner } = config;
  if (className !== 'RMSprop') {
    throw new TypeError(`fromConfig: a serialized ${quote(className)} optimizer is not an RMSprop config`);
  }
  if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) {
    throw new TypeError(`fromConfig: the serialized form's \`config\` must be an object, got ${quote(inner)}`);
  }
  return inner as KerasConfig;
}

/** Every option's config key (camelToSnake of its name): Keras's arguments, and the runtime options a config may not set. */
const CONFIG_KEYS = OPTION_NAMES.map(camelToSnake);

/**
 * Keras's snake_case config as camelCase options (a serialized schedule becomes a schedule): a
 * config key is its option's name through camelToSnake, so snakeToCamel gives the name back.
 * Runtime options (threads, kernels, timeouts) are the caller's: a config naming one is refused.
 */
export function optionsFromConfig(config: KerasConfig): RMSpropOptions {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`fromConfig: config must be an object, got ${quote(config)}`);
  }
  config = unwrapSerialized(config);
  if (Object.hasOwn(config, 'decay')) {
    // Keras 3 pops the legacy `decay` argument: ignored, with a warning when it is not None
    const { decay, ...rest } = config;
    if (decay !== null && decay !== undefined) {
      process.emitWarning('Argument `decay` is no longer supported and will be ignored.', {
        code: 'RMSPROP_POOL_DECAY_IGNORED',
      });
    }
    config = rest;
  }
  // an option's camelCase name in a config: the hint says how Keras spells it
  refuseUnknownKeys(config, { caller: 'fromConfig', known: CONFIG_KEYS, spelling: 'snake_case', kerasForm: true });
  const runtime = Object.keys(config).filter((key) => isRuntimeOption(snakeToCamel(key)));
  if (runtime.length > 0) {
    const named = runtime.map((k) => `'${k}'`).join(', ');
    const are = runtime.length > 1 ? 'are runtime options' : 'is a runtime option';
    throw new TypeError(
      `fromConfig: ${named} ${are} of this library, not a Keras argument: ` +
        'a config or a checkpoint never sets it; pass it as the runtime argument',
    );
  }
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    options[snakeToCamel(key)] =
      key === 'learning_rate' && value !== null && typeof value === 'object' ? deserializeSchedule(value) : value;
  }
  resolveOptions(options, CONFIG_NAMING); // its errors name the keys as the config writes them
  return options;
}
