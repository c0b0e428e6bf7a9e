/**
 * The `rmsprop-pool` command: help everywhere, every RMSprop option as a flag, --config, clear
 * errors, a short training run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint, RMSprop, type KerasConfig, type RMSpropOptions } from '../../dist/src/index.js';
import { loadCase } from '../helpers/keras-cases.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/index.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rmsprop-pool-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, cwd: dir });
  return { code: run.status, out: run.stdout, err: run.stderr };
}
const configOf = (...args: string[]) => {
  const run = cli('config', ...args);
  expect(run.err).toBe('');
  return JSON.parse(run.out) as Record<string, unknown>;
};

const OPTION_FLAGS = [
  '--learning-rate',
  '--schedule',
  '--rho',
  '--momentum',
  '--epsilon',
  '--centered',
  '--weight-decay',
  '--clipnorm',
  '--clipvalue',
  '--global-clipnorm',
  '--use-ema',
  '--ema-momentum',
  '--ema-overwrite-frequency',
  '--loss-scale-factor',
  '--gradient-accumulation-steps',
  '--name',
  '--workers',
  '--kernels',
  '--step-timeout-ms',
  '--config',
];

describe('rmsprop-pool CLI', () => {
  it('has --help on every command, listing every optimizer flag where it applies', () => {
    const root = cli('--help');
    expect(root.code).toBe(0);
    for (const command of ['train', 'config', 'bench']) expect(root.out).toContain(command);
    for (const command of ['train', 'config']) {
      const help = cli(command, '--help');
      expect(help.code).toBe(0);
      for (const flag of OPTION_FLAGS) expect(help.out, `${command} ${flag}`).toContain(flag);
    }
    expect(cli('bench', '--help').out).toContain('--quick');
  });

  it("the CLI's page (docs/cli.md) names every optimizer flag that config's --help lists", () => {
    const readme = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
    const flags = [...cli('config', '--help').out.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]!);
    expect(flags).toEqual(expect.arrayContaining(OPTION_FLAGS));
    for (const flag of flags) expect(readme, flag).toContain(`\`${flag}`);
  });

  it('maps every RMSprop flag to its option', () => {
    const cases: Array<[string[], RMSpropOptions]> = [
      [
        [
          '--learning-rate',
          '0.01',
          '--rho',
          '0.8',
          '--momentum',
          '0.5',
          '--epsilon',
          '1e-6',
          '--centered',
          '--weight-decay',
          '0.01',
          '--global-clipnorm',
          '2',
          '--use-ema',
          '--ema-momentum',
          '0.9',
          '--ema-overwrite-frequency',
          '5',
          '--loss-scale-factor',
          '8',
          '--gradient-accumulation-steps',
          '3',
          '--name',
          'mine',
        ],
        {
          learningRate: 0.01,
          rho: 0.8,
          momentum: 0.5,
          epsilon: 1e-6,
          centered: true,
          weightDecay: 0.01,
          globalClipnorm: 2,
          useEma: true,
          emaMomentum: 0.9,
          emaOverwriteFrequency: 5,
          lossScaleFactor: 8,
          gradientAccumulationSteps: 3,
          name: 'mine',
        },
      ],
      [['--clipnorm', '1.5'], { clipnorm: 1.5 }],
      [['--clipvalue', '0.25'], { clipvalue: 0.25 }],
    ];
    // an unnamed optimizer takes Keras's next auto name: compare the names apart
    const unnamed = ({ name: _, ...rest }: KerasConfig) => rest;
    for (const [args, options] of cases) {
      const [got, expected] = [configOf(...args), new RMSprop(options).getConfig()];
      expect(unnamed(got)).toEqual(unnamed(expected));
      expect(got.name).toMatch(options.name ?? /^rm_sprop(_\d+)?$/);
    }
  });

  it('parses schedules', () => {
    const config = configOf('--schedule', 'piecewise:boundaries=100/200,values=0.1/0.01/0.001');
    expect(config.learning_rate).toMatchObject({
      class_name: 'PiecewiseConstantDecay',
      config: { boundaries: [100, 200], values: [0.1, 0.01, 0.001] },
    });
    const cosine = configOf(
      '--schedule',
      'cosine:initial-learning-rate=0.1,decay-steps=1000,alpha=0.1,warmup-target=0.2,warmup-steps=10',
    );
    expect(cosine.learning_rate).toMatchObject({
      class_name: 'CosineDecay',
      config: { decay_steps: 1000, warmup_steps: 10 },
    });
  });

  it('loads a Keras config with --config; flags override it', () => {
    const keras = loadCase('large_all_features').expected_config;
    const file = join(dir, 'keras.json');
    writeFileSync(file, JSON.stringify(keras));
    expect(configOf('--config', file)).toEqual(RMSprop.fromConfig(keras).getConfig());
    expect(configOf('--config', file, '--momentum', '0.25')).toEqual({
      ...RMSprop.fromConfig(keras).getConfig(),
      momentum: 0.25,
    });
  });

  it('refuses bad flags with an error naming them', () => {
    const bad: Array<[string[], RegExp]> = [
      [['train', '--rho', 'abc'], /--rho expects a number, got 'abc'/],
      [['train', '--bogus'], /unknown option '--bogus'/],
      [['train', '--workers', '-2'], /--workers expects an integer >= 0/],
      [['train', '--backend', 'gpu'], /argument 'gpu' is invalid. Allowed choices are wasm, cpu/],
      [['train', '--tfjs-kernels', 'slow'], /argument 'slow' is invalid. Allowed choices are fast, tfjs/],
      [['config', '--schedule', 'sometimes'], /unknown schedule 'sometimes'/],
      [['config', '--schedule', 'exponential:decay-steps=10'], /`initialLearningRate` is required/],
      [
        ['config', '--clipnorm', '1', '--clipvalue', '1'],
        /Only one of `clipnorm`, `clipvalue` and `globalClipnorm` can be set/,
      ],
      [
        [
          'config',
          '--learning-rate',
          '0.1',
          '--schedule',
          'exponential:initial-learning-rate=1,decay-steps=1,decay-rate=0.5',
        ],
        /give one/,
      ],
      [['config', '--config', join(dir, 'missing.json')], /--config .*missing\.json: ENOENT/],
      [['train', '--hidden', '10,x'], /--hidden expects sizes/],
    ];
    for (const [args, message] of bad) {
      const run = cli(...args);
      expect(run.code, args.join(' ')).not.toBe(0);
      expect(run.err, args.join(' ')).toMatch(message);
      expect(run.out).toBe('');
    }
  });

  it('train: a short run prints the settings, the falling loss, the figures and titled charts, and writes the SVG', () => {
    const iris = cli('train', '--job', 'iris', '--epochs', '20', '--backend', 'cpu', '--out-dir', 'out');
    expect(iris.code, iris.err).toBe(0);
    expect(iris.out).toMatch(/^settings: iris 20 epochs, batch 32; tfjs cpu backend, seed 1\n/);
    // the learning rate as written (Keras keeps float32 0.001 as 0.0010000000474974513)
    expect(iris.out).toMatch(
      /\noptimizer: RMSprop \{"learning_rate":0\.001\} \(other options Keras's defaults\), wasm kernels\n/,
    );
    expect(iris.out).toMatch(
      /iris: 131 parameters, 80 steps, gradients on the calling thread, optimizer on the calling thread/,
    );
    const [, first, last] = iris.out.match(
      /loss (\d+\.\d+) \(mean of the first tenth of the steps\) -> (\d+\.\d+) \(last tenth\)/,
    )!;
    expect(Number(last)).toBeLessThan(Number(first));
    expect(iris.out).toMatch(/held-out accuracy \d+\.\d%/);
    expect(iris.out).toMatch(
      /a training step takes \d[\d.]* (µs|ms) \(median\); the optimizer's part \d+\.\d% \(median \d[\d.]* (µs|ms) per step\)/,
    );
    // at 131 parameters, throughput is not the figure to read, and the report says so
    expect(iris.out).toMatch(/\d[\d.]* [kM]?param\/s: at 131 parameters a step is mostly fixed overhead/);
    expect(iris.out).toMatch(
      /tf\.train\.rmsprop, the same update of these variables on the same tfjs backend: \d[\d.]* (µs|ms) per step, \d+\.\dx (as long as|faster than) this optimizer's \d[\d.]* (µs|ms)/,
    );
    // the terminal chart: titled, with a step axis from 1 to the last step
    expect(iris.out).toMatch(/iris: training loss by step \(each column: the mean of 2 steps\)\n/);
    expect(iris.out).toMatch(/└─+\n +1 +\d+ +80 {2}step\n/);
    const svg = readFileSync(join(dir, 'out', 'training.svg'), 'utf8');
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>$/);
    for (const text of [
      'training loss (log scale)',
      'accuracy after each epoch',
      'optimizer time per step',
      'tf.train.rmsprop',
    ])
      expect(svg).toContain(text);

    const synthetic = cli(
      'train',
      '--job',
      'synthetic',
      '--steps',
      '4',
      '--hidden',
      '32',
      '--batch-size',
      '4',
      '--backend',
      'cpu',
      '--no-svg',
      '--no-chart',
      '--workers',
      '2',
      '--centered',
    );
    expect(synthetic.code, synthetic.err).toBe(0);
    expect(synthetic.out).toMatch(
      /synthetic: 8,752 parameters, 4 steps, gradients of \d+ micro-batches per step on \d+ replica threads?, optimizer on 2 worker threads/,
    );
    // the run's settings come first: the job, the data, and the options that differ from Keras's defaults
    expect(synthetic.out).toMatch(
      /^settings: synthetic 4 steps, batch 4, hidden 32, \d+ micro-batches on auto replicas; tfjs cpu backend, seed 1\n/,
    );
    expect(synthetic.out).toMatch(/\noptimizer: RMSprop \{"learning_rate":0\.001,"centered":true\} \(other options/);
    expect(synthetic.out).not.toContain('┤');
    expect(synthetic.out).not.toContain('charts (');
  });

  it("train on wasm: this library's training kernels by default, tfjs-wasm's own with --tfjs-kernels tfjs, the same losses", () => {
    const run = (...flags: string[]) =>
      cli(
        'train',
        '--job',
        'synthetic',
        '--steps',
        '2',
        '--hidden',
        '32',
        '--batch-size',
        '4',
        '--backend',
        'wasm',
        '--no-svg',
        '--no-chart',
        '--json',
        ...flags,
      );
    const [fast, own] = [run(), run('--tfjs-kernels', 'tfjs')];
    expect(fast.code, fast.err).toBe(0);
    expect(own.code, own.err).toBe(0);
    expect(fast.out).toMatch(/^settings: synthetic 2 steps, batch 4, .*; tfjs wasm backend \(fast kernels\), seed 1\n/);
    expect(own.out).toMatch(/^settings: synthetic 2 steps, batch 4, .*; tfjs wasm backend \(tfjs kernels\), seed 1\n/);
    const loss = (out: string) =>
      (JSON.parse(out.trim().split('\n').at(-1)!) as { jobs: Array<{ finalLoss: number }> }).jobs[0]!.finalLoss;
    expect(loss(fast.out)).toBeCloseTo(loss(own.out), 5);
  });

  it('train --dtype float16: the iris job in float16 under dynamic loss scaling, saved with its scale; bfloat16 without', async () => {
    const run = cli(
      'train',
      '--job',
      'iris',
      '--dtype',
      'float16',
      '--epochs',
      '20',
      '--no-svg',
      '--no-chart',
      '--json',
      '--save',
      'h.safetensors',
    );
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain('iris 20 epochs, batch 32, float16 with dynamic loss scaling');
    const summary = JSON.parse(run.out.trimEnd().split('\n').at(-1)!) as { jobs: Array<Record<string, number>> };
    expect(summary.jobs[0]!.lossLastTenth).toBeLessThan(summary.jobs[0]!.lossFirstTenth!); // it learns
    const file = await readCheckpoint(join(dir, 'h.safetensors'));
    expect(file.state.map((a) => a.name).slice(0, 3)).toEqual(['iteration', 'learning_rate', 'step_counter']);
    expect(file.variables![0]!.data).toBeInstanceOf(Uint16Array);
    expect(Object.keys(file.config)).toContain('inner_optimizer');
    const bf16 = cli('train', '--job', 'iris', '--dtype', 'bfloat16', '--epochs', '2', '--no-svg', '--no-chart');
    expect(bf16.code, bf16.err).toBe(0);
    expect(bf16.out).toMatch(/batch 32, bfloat16;/);
    expect(cli('train', '--dtype', 'float8').err).toContain("option '--dtype <dtype>' argument 'float8' is invalid");
  });

  it('train --json ends with a summary line per job; --save writes checkpoints that hold the trained variables', async () => {
    const run = cli(
      'train',
      '--epochs',
      '3',
      '--steps',
      '3',
      '--hidden',
      '16',
      '--batch-size',
      '8',
      '--mnist-digits',
      '100',
      '--mnist-epochs',
      '1',
      '--backend',
      'cpu',
      '--no-svg',
      '--no-chart',
      '--momentum',
      '0.5',
      '--json',
      '--save',
      'ck.safetensors',
    );
    expect(run.code, run.err).toBe(0);
    const lines = run.out.trimEnd().split('\n');
    const summary = JSON.parse(lines[lines.length - 1]!) as { jobs: Array<Record<string, unknown>>; svg: null };
    expect(summary.svg).toBeNull();
    expect(summary.jobs.map((j) => [j.job, j.parameters, j.steps])).toEqual([
      ['iris', 131, 45],
      ['synthetic', 4384, 3],
      ['mnist', 56714, 10],
    ]);
    for (const job of summary.jobs) {
      for (const key of [
        'finalLoss',
        'msPerTrainingStep',
        'optimizerMsPerStep',
        'gparamPerSecond',
        'tfjsRmspropMsPerStep',
      ])
        expect(job[key], `${String(job.job)} ${key}`).toBeGreaterThan(0);
      // the figures agree with each other: Gparam/s is parameters over the optimizer's median step
      expect(job.gparamPerSecond).toBeCloseTo((job.parameters as number) / (job.optimizerMsPerStep as number) / 1e6, 9);
    }
    expect(summary.jobs[0]!.heldOutAccuracy).toBeGreaterThan(0);
    expect(summary.jobs[1]!.heldOutAccuracy).toBeNull();
    expect(summary.jobs[2]!.heldOutAccuracy).toBeGreaterThanOrEqual(0); // 20 held-out digits after 10 steps: any share
    // the final loss printed is the JSON's
    expect(run.out).toContain(`final step ${(summary.jobs[1]!.finalLoss as number).toFixed(4)}`);

    for (const [job, file] of [
      ['iris', 'ck-iris.safetensors'],
      ['synthetic', 'ck-synthetic.safetensors'],
      ['mnist', 'ck-mnist.safetensors'],
    ] as const) {
      const path = join(dir, file);
      expect(summary.jobs.find((j) => j.job === job)!.checkpoint).toBe(path.slice(dir.length + 1));
      const checkpoint = await readCheckpoint(path);
      expect(checkpoint.config.momentum).toBe(0.5);
      expect(checkpoint.state[0]!.name).toBe('iteration');
      expect(Number(checkpoint.state[0]!.data[0])).toBe({ iris: 45, synthetic: 3, mnist: 10 }[job]);
      // the variables are there, by the names the jobs (or tfjs, for the CNN's layers) gave them
      expect(checkpoint.variables!.map((v) => v.name)[0]).toMatch(
        {
          iris: /^iris\/dense_0\/kernel$/,
          synthetic: /^student\/dense_0\/kernel$/,
          mnist: /^conv2d_Conv2D\d+\/kernel$/,
        }[job],
      );
    }
  });

  it('train --replicas 2 and --replicas 1 at the same --micro-batches: identical checkpoints; the report says how much faster', async () => {
    const files = [1, 2].map((replicas) => {
      const file = `replicas-${replicas}.safetensors`;
      const run = cli(
        'train',
        '--job',
        'synthetic',
        '--steps',
        '3',
        '--hidden',
        '24',
        '--batch-size',
        '12',
        '--micro-batches',
        '3',
        '--replicas',
        String(replicas),
        '--backend',
        'cpu',
        '--workers',
        '2',
        '--no-svg',
        '--no-chart',
        '--json',
        '--save',
        file,
      );
      expect(run.code, run.err).toBe(0);
      const lines = run.out.trimEnd().split('\n');
      const job = (JSON.parse(lines[lines.length - 1]!) as { jobs: Array<Record<string, unknown>> }).jobs[0]!;
      expect([job.replicas, job.microBatches]).toEqual([replicas, 3]);
      if (replicas === 1) expect(job.speedupOverOneReplica).toBeNull();
      else {
        expect(job.speedupOverOneReplica).toBeGreaterThan(0);
        expect(run.out).toMatch(/on 2 replicas a training step ran \d+\.\d\dx as fast as on one \(/);
      }
      return readFileSync(join(dir, file));
    });
    expect(files[0]!.equals(files[1]!)).toBe(true);
    const checkpoint = await readCheckpoint(join(dir, 'replicas-2.safetensors'));
    expect(Number(checkpoint.state[0]!.data[0])).toBe(3);
  });

  it('train takes a batch that the micro-batches do not divide (micro-batches of 4, 3 and 3 rows, weighed by their rows)', () => {
    const run = cli(
      'train',
      '--job',
      'synthetic',
      '--steps',
      '1',
      '--hidden',
      '8',
      '--batch-size',
      '10',
      '--micro-batches',
      '3',
      '--backend',
      'cpu',
      '--no-svg',
      '--no-chart',
    );
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain('gradients of 3 micro-batches per step');
  });
});
