/**
 * Every RMSprop option as a command-line flag, the `--schedule name:key=value,...` syntax, and
 * `--config file.json` (a Keras optimizer config; flags given explicitly override it).
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { RMSprop } from '../optimizer.js';
import { optionsFromConfig } from '../options.js';
import type { RMSpropOptions } from '../options.js';
import { deserializeSchedule, type LearningRateSchedule } from '../schedules.js';

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

function workers(raw: string): number | 'auto' {
  return raw === 'auto' ? 'auto' : integer('--workers')(raw);
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

/** The flags, in Keras's argument order, each mapped to its RMSprop option. */
const FLAGS: ReadonlyArray<[Option, keyof RMSpropOptions]> = [
  [
    new Option('--learning-rate <n>', 'learning rate (default 0.001)').argParser(number('--learning-rate')),
    'learningRate',
  ],
  [
    new Option(
      '--schedule <spec>',
      'learning-rate schedule, e.g. exponential:initial-learning-rate=0.01,decay-steps=100,decay-rate=0.9',
    ).argParser(parseSchedule),
    'learningRate',
  ],
  [new Option('--rho <n>', 'discount of the squared-gradient average (default 0.9)').argParser(number('--rho')), 'rho'],
  [new Option('--momentum <n>', 'momentum (default 0)').argParser(number('--momentum')), 'momentum'],
  [new Option('--epsilon <n>', 'epsilon (default 1e-7)').argParser(number('--epsilon')), 'epsilon'],
  [new Option('--centered', 'normalise by the centred second moment'), 'centered'],
  [new Option('--weight-decay <n>', 'decoupled weight decay').argParser(number('--weight-decay')), 'weightDecay'],
  [new Option('--clipnorm <n>', 'clip each gradient to this norm').argParser(number('--clipnorm')), 'clipnorm'],
  [new Option('--clipvalue <n>', 'clip gradient elements to [-n, n]').argParser(number('--clipvalue')), 'clipvalue'],
  [
    new Option('--global-clipnorm <n>', 'clip all gradients to this global norm').argParser(
      number('--global-clipnorm'),
    ),
    'globalClipnorm',
  ],
  [new Option('--use-ema', 'keep an exponential moving average of the weights'), 'useEma'],
  [new Option('--ema-momentum <n>', 'EMA momentum (default 0.99)').argParser(number('--ema-momentum')), 'emaMomentum'],
  [
    new Option('--ema-overwrite-frequency <n>', 'overwrite the weights with their EMA every n iterations').argParser(
      integer('--ema-overwrite-frequency', 1),
    ),
    'emaOverwriteFrequency',
  ],
  [
    new Option('--loss-scale-factor <n>', 'gradients are divided by it').argParser(number('--loss-scale-factor')),
    'lossScaleFactor',
  ],
  [
    new Option('--gradient-accumulation-steps <n>', 'apply the mean gradient every n steps').argParser(
      integer('--gradient-accumulation-steps', 2),
    ),
    'gradientAccumulationSteps',
  ],
  [new Option('--name <name>', "optimizer name (default 'rmsprop')"), 'name'],
  [new Option('--workers <n>', "worker threads: 0 (calling thread), n, or 'auto'").argParser(workers), 'workers'],
  [new Option('--kernels <name>', 'kernel implementation').choices(['wasm', 'js']), 'kernels'],
  [
    new Option('--step-timeout-ms <n>', 'bound on every wait for the threads').argParser(number('--step-timeout-ms')),
    'stepTimeoutMs',
  ],
  [
    new Option('--thread-idle-ms <n>', 'how long an idle worker thread stays before it ends').argParser(
      number('--thread-idle-ms'),
    ),
    'threadIdleMs',
  ],
];

export function addOptimizerFlags(command: Command): Command {
  for (const [option] of FLAGS) command.addOption(option);
  command.option(
    '--config <file>',
    'a Keras optimizer config (JSON, as Python get_config() prints it); flags override it',
  );
  return command;
}

/** The RMSprop the flags describe (throws with the culprit named when they are invalid). */
export function optimizerFromFlags(command: Command): RMSprop {
  const values = command.opts() as Record<string, unknown>;
  const options: Record<string, unknown> = {};
  for (const [option, key] of FLAGS) {
    const attribute = option.attributeName();
    if (command.getOptionValueSource(attribute) === 'cli') options[key] = values[attribute];
  }
  if (values.schedule !== undefined && values.learningRate !== undefined) {
    throw new InvalidArgumentError('--learning-rate and --schedule both set the learning rate: give one');
  }
  if (typeof values.config !== 'string') return new RMSprop(options);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidArgumentError(`--config ${values.config}: ${(error as Error).message}`);
  }
  return new RMSprop({ ...optionsFromConfig(config), ...options });
}
