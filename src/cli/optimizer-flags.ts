/**
 * Every RMSprop option as a command-line flag, made from the option table (src/optimizer/options.ts), the
 * `--schedule name:key=value,...` syntax, and `--config file.json` (a Keras optimizer config;
 * flags given explicitly override it).
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { camelToSnake } from '../common/keras-names.js';
import { optionsFromConfig } from '../optimizer/keras-config.js';
import { RMSprop } from '../optimizer/optimizer.js';
import { OPTION_SPECS, type KerasConfig, type RMSpropOptions } from '../optimizer/options.js';
import { deserializeSchedule, type LearningRateSchedule } from '../optimizer/schedules/learning-rate-schedule.js';

const SCHEDULE_NAMES: Record<string, string> = {
  exponential: 'ExponentialDecay',
  piecewise: 'PiecewiseConstantDecay',
  polynomial: 'PolynomialDecay',
  'inverse-time': 'InverseTimeDecay',
  cosine: 'CosineDecay',
  'cosine-restarts': 'CosineDecayRestarts',
};

export function number(flag: string) {
  return (raw: string): number => {
    const value = Number(raw);
    if (raw.trim() === '' || Number.isNaN(value))
      throw new InvalidArgumentError(`${flag} expects a number, got '${raw}'`);
    return value;
  };
}

export function integer(flag: string, min = 0) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min)
      throw new InvalidArgumentError(`${flag} expects an integer >= ${min}, got '${raw}'`);
    return value;
  };
}

/**
 * `exponential:initial-learning-rate=0.01,decay-steps=100,decay-rate=0.9`; lists use `/`
 * (`piecewise:boundaries=100/200,values=0.1/0.01/0.001`), a bare key means true.
 */
export function parseSchedule(spec: string): LearningRateSchedule {
  const [name = '', args = ''] = spec.split(/:(.*)/s);
  const className = SCHEDULE_NAMES[name] ?? (Object.values(SCHEDULE_NAMES).includes(name) ? name : undefined);
  if (className === undefined) {
    throw new InvalidArgumentError(
      `--schedule: unknown schedule '${name}'; one of ${Object.keys(SCHEDULE_NAMES).join(', ')}`,
    );
  }
  const config: Record<string, unknown> = {};
  for (const pair of args.split(',').filter((p) => p.trim() !== '')) {
    const [key = '', value] = pair.split('=', 2).map((s) => s.trim());
    config[key.replaceAll('-', '_')] = value === undefined ? true : parseValue(value);
  }
  try {
    return deserializeSchedule({ class_name: className, config });
  } catch (error) {
    throw new InvalidArgumentError(`--schedule ${name}: ${(error as Error).message}`);
  }
}

function parseValue(value: string): unknown {
  if (value === 'true' || value === 'false') return value === 'true';
  if (value.includes('/')) return value.split('/').map(Number);
  const n = Number(value);
  return Number.isNaN(n) ? value : n;
}

/** "(default 0.9)", "(default 'rmsprop')"; nothing for an option that is off (null, false) by default. */
function defaultNote(fallback: unknown): string {
  if (typeof fallback === 'string') return ` (default '${fallback}')`;
  return typeof fallback === 'number' ? ` (default ${fallback})` : '';
}

/** An option's flag: `--` and its name in kebab case, the argument parsed as the option's kind says. */
function flagOf(name: string, spec: (typeof OPTION_SPECS)[number][1], help: string): Option {
  const flag = `--${camelToSnake(name).replaceAll('_', '-')}`;
  const description = help + defaultNote(spec.fallback);
  switch (spec.kind) {
    case 'boolean':
      return new Option(flag, description);
    case 'string':
      return new Option(`${flag} <name>`, description);
    case 'choice':
      return new Option(`${flag} <name>`, description).choices(spec.choices ?? []);
    case 'nullable-count':
      return new Option(`${flag} <n>`, description).argParser(integer(flag, spec.min));
    case 'auto-or-count':
      return new Option(`${flag} <n>`, description).argParser((raw) => (raw === 'auto' ? 'auto' : integer(flag)(raw)));
    case 'number':
    case 'nullable-number':
    case 'positive':
    case 'nonnegative':
      return new Option(`${flag} <n>`, description).argParser(number(flag));
    case 'numbers':
    case 'nullable-object':
      throw new Error(`${name}: an option of ${spec.kind === 'numbers' ? 'numbers' : 'objects'} has no flag`);
  }
}

/** The flags, in the option table's order, each mapped to its RMSprop option. */
const FLAGS: ReadonlyArray<[Option, keyof RMSpropOptions]> = OPTION_SPECS.flatMap(([name, spec]) => {
  if (spec.help === null) return [];
  const flags: Array<[Option, keyof RMSpropOptions]> = [[flagOf(name, spec, spec.help), name]];
  if (name === 'learningRate') {
    const example = 'exponential:initial-learning-rate=0.01,decay-steps=100,decay-rate=0.9';
    const schedule = new Option('--schedule <spec>', `learning-rate schedule, e.g. ${example}`);
    flags.push([schedule.argParser(parseSchedule), name]);
  }
  return flags;
});

export function addOptimizerFlags(command: Command): Command {
  for (const [option] of FLAGS) command.addOption(option);
  command.option(
    '--config <file>',
    'a Keras optimizer config (JSON, as Python get_config() prints it); flags override it',
  );
  return command;
}

/**
 * The RMSprop the flags describe, with `overrides` on top and `defaults` beneath the flags (and
 * the config); throws with the culprit named when they are invalid.
 */
export function optimizerFromFlags(
  command: Command,
  overrides: RMSpropOptions = {},
  defaults: RMSpropOptions = {},
): RMSprop {
  const values = command.opts<Record<string, unknown>>();
  const options: Record<string, unknown> = {};
  for (const [option, key] of FLAGS) {
    const attribute = option.attributeName();
    if (command.getOptionValueSource(attribute) === 'cli') options[key] = values[attribute];
  }
  if (values.schedule !== undefined && values.learningRate !== undefined) {
    throw new InvalidArgumentError('--learning-rate and --schedule both set the learning rate: give one');
  }
  if (typeof values.config !== 'string') return new RMSprop({ ...defaults, ...options, ...overrides });
  let config: KerasConfig; // optionsFromConfig checks that it is one
  try {
    config = JSON.parse(readFileSync(values.config, 'utf8')) as KerasConfig;
  } catch (error) {
    throw new InvalidArgumentError(`--config ${values.config}: ${(error as Error).message}`);
  }
  return new RMSprop({ ...defaults, ...optionsFromConfig(config), ...options, ...overrides });
}
