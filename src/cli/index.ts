#!/usr/bin/env node
/**
 * The `rmsprop-pool` command: `train` (what `npm start` runs), `config`, `profile` (where a
 * training step of the user's model goes) and `bench`. Every RMSprop option
 * is a flag; `--help` works on every command; a bad flag is an error that names it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { RMSpropOptions } from '../optimizer/options.js';
import type { RMSprop } from '../optimizer/optimizer.js';
import { DEFAULT_BATCH } from './run.js';
import { addOptimizerFlags, integer, optimizerFromFlags } from './optimizer-flags.js';
import { train, type Job } from './train.js';
import {
  launchedByMpirun,
  onRankZero,
  openWorld,
  rankReport,
  worldMicroBatches,
  type WorldChoice,
} from './world-train.js';

const program = new Command('rmsprop-pool')
  .description("Keras's RMSprop on a worker-thread pool: train a model, or benchmark the step")
  .showHelpAfterError('(add --help for the options)')
  .configureOutput({ outputError: (message, write) => write(message) });

const hidden = (raw: string): number[] => {
  const sizes = raw.split(',').map(Number);
  if (sizes.length === 0 || !sizes.every((n) => Number.isInteger(n) && n > 0))
    throw new InvalidArgumentError(`--hidden expects sizes like 2048,1024, got '${raw}'`);
  return sizes;
};

/** One micro-batch per core, or fewer where that many would not divide the batch evenly. */
function perCore(batchSize: number): number {
  let m = Math.min(availableParallelism(), batchSize);
  while (batchSize % m !== 0) m--;
  return m;
}

addOptimizerFlags(
  program
    .command('train')
    .description(
      'train the Iris classifier, a synthetic multi-million-parameter MLP and a CNN on handwritten digits: ' +
        'tfjs computes the gradients (the MLP and the CNN: data-parallel on replica threads), the pool applies them',
    )
    .addOption(new Option('--job <job>', 'which job').choices(['all', 'iris', 'synthetic', 'mnist']).default('all'))
    .addOption(
      new Option('--backend <name>', 'tfjs backend for the forward and backward pass')
        .choices(['wasm', 'cpu'])
        .default('wasm'),
    )
    .addOption(
      new Option(
        '--tfjs-kernels <which>',
        "on wasm: 'fast' (this library's training kernels: every product on XNNPACK) or 'tfjs' (tfjs-wasm's own)",
      )
        .choices(['fast', 'tfjs'])
        .default('fast'),
    )
    .option('--epochs <n>', 'iris: passes over the training set', integer('--epochs', 1), 150)
    .option('--steps <n>', 'synthetic: training steps', integer('--steps', 1), 80)
    .option('--mnist-epochs <n>', 'mnist: passes over the training digits', integer('--mnist-epochs', 1), 4)
    .option(
      '--mnist-digits <n>',
      'mnist: how many of the 10,000 digits to use (80% train, 20% held out)',
      integer('--mnist-digits', 10),
      10_000,
    )
    .addOption(
      new Option(
        '--dtype <dtype>',
        "iris: its variables' dtype (float16 trains under a LossScaleOptimizer); the data-parallel jobs stay float32",
      )
        .choices(['float32', 'float16', 'bfloat16'])
        .default('float32'),
    )
    .option(
      '--batch-size <n>',
      `examples per step (default: iris ${DEFAULT_BATCH.iris}, synthetic ${DEFAULT_BATCH.synthetic}, mnist ${DEFAULT_BATCH.mnist})`,
      integer('--batch-size', 1),
    )
    .option(
      '--replicas <n>',
      "synthetic and mnist: replica threads computing the gradients, or 'auto' (one per core, at most --micro-batches)",
      (raw: string) => (raw === 'auto' ? raw : integer('--replicas', 1)(raw)),
      'auto',
    )
    .option(
      '--micro-batches <n>',
      'synthetic and mnist: micro-batches per step, each one gradient shard; the step applies their mean ' +
        '(default: one per core, or fewer to divide the batch; fix it to compare runs with different replicas or machines)',
      integer('--micro-batches', 1),
    )
    .option('--hidden <sizes>', 'synthetic: hidden layer sizes', hidden, [2048, 1024])
    .option('--seed <n>', 'seed of the data, the split and the initial weights', integer('--seed'), 1)
    .option('--out-dir <dir>', 'where the SVG of the charts (training.svg) goes', 'rmsprop-pool-out')
    .option('--no-svg', 'do not write the SVG')
    .option('--no-chart', 'no loss chart in the terminal')
    .option(
      '--save <file>',
      'save a checkpoint with the variables at the end (with several jobs: <file>-iris, <file>-synthetic, <file>-mnist)',
    )
    .option(
      '--json',
      'end with a JSON summary line: per job steps, final loss, ms per training step, optimizer ms per step, Gparam/s',
    )
    .addOption(
      new Option(
        '--world <kind>',
        "the processes training together: 'mpi' (this process is one rank of the world mpirun started: " +
          "the synthetic job, its update and slots sharded across the ranks), 'none', or 'auto' (mpi when mpirun started it)",
      )
        .choices(['auto', 'mpi', 'none'])
        .default('auto'),
    ),
).action(async (flags: Record<string, unknown>, command: Command) => {
  const job = flags.job as Job | 'all';
  if (flags.world === 'mpi' || (flags.world === 'auto' && launchedByMpirun())) {
    if (job !== 'all' && job !== 'synthetic')
      throw new InvalidArgumentError(
        `--world mpi trains the synthetic job across the ranks; the ${job} job runs in one process (--world none)`,
      );
  }
  const world = await openWorld(flags.world as WorldChoice);
  const made: RMSprop[] = [];
  const makeOptimizer = (overrides?: RMSpropOptions, defaults?: RMSpropOptions) => {
    const inWorld = world === null ? {} : { world, microBatches: world.size }; // the job sets its micro-batches
    const optimizer = optimizerFromFlags(command, { ...inWorld, ...overrides }, defaults);
    made.push(optimizer);
    return optimizer;
  };
  makeOptimizer(); // refuse bad optimizer flags before any work
  const batchSize = (flags.batchSize as number | undefined) ?? DEFAULT_BATCH.synthetic;
  const before = { sent: world?.sent ?? 0, calls: world?.calls ?? 0 };
  const results = await onRankZero(world, () =>
    train(makeOptimizer, {
      jobs: world !== null ? ['synthetic'] : job === 'all' ? ['iris', 'synthetic', 'mnist'] : [job],
      backend: flags.backend as 'cpu' | 'wasm',
      kernels: flags.tfjsKernels as 'fast' | 'tfjs',
      replicas: flags.replicas as number | 'auto',
      microBatches:
        (flags.microBatches as number | undefined) ??
        (world === null ? perCore(batchSize) : worldMicroBatches(world.size, batchSize, availableParallelism())),
      epochs: flags.epochs as number,
      steps: flags.steps as number,
      mnistEpochs: flags.mnistEpochs as number,
      mnistDigits: flags.mnistDigits as number,
      batchSize: (flags.batchSize as number | undefined) ?? null,
      hidden: flags.hidden as number[],
      seed: flags.seed as number,
      dtype: flags.dtype as 'float32' | 'float16' | 'bfloat16',
      outDir: flags.svg === false || (world?.rank ?? 0) !== 0 ? null : (flags.outDir as string),
      chart: flags.chart !== false,
      json: flags.json === true,
      save: typeof flags.save === 'string' ? flags.save : null,
    }),
  );
  if (world === null) return;
  const trained = made.find((o) => o.slotBytes > 0)!; // the job's (the first made only described the flags)
  const lines = await rankReport(world, results[0]!, trained, before);
  if (world.rank === 0) console.log(`\n${lines.join('\n')}`);
  await world.close();
});

addOptimizerFlags(
  program
    .command('config')
    .description(
      'print the Keras config of the optimizer these flags make (get_config() JSON, loadable by --config and by Keras)',
    ),
).action((_flags: unknown, command: Command) => {
  console.log(JSON.stringify(optimizerFromFlags(command).getConfig(), null, 2));
});

program
  .command('profile')
  .description(
    "where a training step of your model goes: one micro-batch's gradients as a tfjs replica computes them, " +
      'per kernel (ms, GFLOP/s where known), the share outside kernels, and the kernels on a slow path',
  )
  .requiredOption('--factory <module>', 'the module exporting createModel() (a path, relative to here, or a URL)')
  .option('--batch <rows>', 'rows in the micro-batch', integer('--batch', 1), 64)
  .option('--loss <name>', "the loss by name (default: the factory's `loss` export, else the model's compiled loss)")
  .addOption(new Option('--backend <name>', 'tfjs backend').choices(['wasm', 'cpu']).default('wasm'))
  .addOption(
    new Option(
      '--tfjs-kernels <which>',
      "on wasm: 'fast' (this library's training kernels) or 'tfjs' (tfjs-wasm's own)",
    )
      .choices(['fast', 'tfjs'])
      .default('fast'),
  )
  .option('--steps <n>', 'timed steps after 2 warm-up steps', integer('--steps', 1), 3)
  .option('--json', 'print the profile as JSON instead of a table')
  .action(async (flags: Record<string, unknown>) => {
    const { profileLines, profileTrainingStep } = await import('../tfjs/profile.js');
    const raw = flags.factory as string;
    const factory = URL.canParse(raw) && !isAbsolute(raw) ? raw : pathToFileURL(resolve(raw));
    const profile = await profileTrainingStep({
      factory,
      batch: flags.batch as number,
      steps: flags.steps as number,
      backend: flags.backend as 'wasm' | 'cpu',
      kernels: flags.tfjsKernels as 'fast' | 'tfjs',
      ...(typeof flags.loss === 'string' && { loss: flags.loss as never }),
    });
    console.log(flags.json === true ? JSON.stringify(profile) : profileLines(profile).join('\n'));
  });

program
  .command('bench')
  .description(
    'run the benchmark suite (writes bench/results/step.md and step.svg; with --train, train.md and train.svg)',
  )
  .option('--quick', 'a shorter run (under a minute)')
  .option('--train', 'the whole data-parallel training step against replicas, next to tfjs-layers on one thread')
  .action((flags: { quick?: boolean; train?: boolean }) => {
    const script = fileURLToPath(new URL('../../bench/index.js', import.meta.url));
    if (!existsSync(script))
      throw new Error('the benchmark suite comes with the repository: clone it, then npm ci && npm run bench');
    const args = [...(flags.quick ? ['--quick'] : []), ...(flags.train ? ['--train'] : [])];
    const run = spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' });
    process.exitCode = run.status ?? 1;
  });

program.parseAsync().catch((error: unknown) => {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
});
