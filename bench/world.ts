/**
 * `npm run bench -- --world [--quick]`: the sharded update and training across the ranks of an
 * MPI world on this machine (ranks here share its cores: the figures say what the MPI path costs
 * and moves, not how a cluster scales; docs/performance.md's cost model does that from them).
 *
 * - The large-parameter batch update (world-rank.ts) at 1, 2 and 4 ranks: the median step, the
 *   bytes each rank sends per step against 2(N-1)/N of the gradient's, its slot memory against
 *   one process's, and the SHA-256 of values and slots next to one process's holding the same
 *   micro-batches as shards.
 * - The MLP job (`rmsprop-pool train --job synthetic`): 2 ranks × 1 replica against 1 process ×
 *   2 replicas, the same micro-batches.
 *
 * Writes bench/results/world.md (world-quick.md with --quick). Reports only; no thresholds.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { costTable } from './cost-model.js';
import { log, type BenchArgs } from './lib.js';

const RANK = fileURLToPath(new URL('./world-rank.js', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/index.js', import.meta.url));
const MPIRUN = ['--oversubscribe', '--bind-to', 'none', '--mca', 'btl', 'self,vader'];
const ENV = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };

interface RankLine {
  rank: number;
  ranks: number;
  microBatches: number;
  msPerStep: number;
  sentPerStep: number;
  collectivesPerStep: number;
  slotBytes: number;
  gradientBytes: number;
  workers: number;
  hash: string;
}

/** `command args` (under mpirun with `ranks`, or alone with null); its stdout's JSON lines. */
function launch(ranks: number | null, args: readonly string[]): string {
  const [command, all] =
    ranks === null
      ? [process.execPath, args]
      : ['mpirun', ['-np', String(ranks), ...MPIRUN, process.execPath, ...args]];
  const run = spawnSync(command, all, { encoding: 'utf8', env: ENV, timeout: 1_800_000, maxBuffer: 2 ** 26 });
  if (run.status !== 0) throw new Error(`${command} ${all.join(' ')} failed (${run.status}):\n${run.stderr}`);
  return run.stdout;
}

const lines = <T>(stdout: string): T[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

export async function run({ quick }: BenchArgs): Promise<void> {
  await Promise.resolve();
  const parameters = quick ? 4_000_000 : 50_000_000;
  const steps = quick ? 4 : 10;
  const rows: string[] = [];
  const checks: string[] = [];
  let slotsAlone = 0;
  const aloneMs: number[] = [];
  let collectivesPerStep = 0;
  for (const ranks of [1, 2, 4]) {
    log(`update: ${parameters} parameters, ${ranks} ranks`);
    const seen = lines<RankLine>(launch(ranks, [RANK, String(parameters), String(steps)])).sort(
      (a, b) => a.rank - b.rank,
    );
    const [alone] = lines<RankLine>(launch(null, [RANK, String(parameters), String(steps), String(ranks)]));
    if (ranks === 1) slotsAlone = alone!.slotBytes;
    aloneMs.push(alone!.msPerStep);
    if (ranks > 1) collectivesPerStep = seen[0]!.collectivesPerStep;
    const bound = ((2 * (ranks - 1)) / ranks) * seen[0]!.gradientBytes;
    const same = seen.every((s) => s.hash === alone!.hash);
    checks.push(
      `- ${ranks} rank${ranks > 1 ? 's' : ''} (${ranks} micro-batch${ranks > 1 ? 'es' : ''}): ` +
        `\`${seen[0]!.hash.slice(0, 16)}\` on every rank; one process without MPI: \`${alone!.hash.slice(0, 16)}\` ` +
        `(${same ? 'identical' : 'DIFFERENT'})`,
    );
    for (const s of seen)
      rows.push(
        `| ${ranks} | ${s.rank} | ${s.workers} | ${s.msPerStep.toFixed(1)} | ${(1000 / s.msPerStep).toFixed(2)} | ` +
          `${mib(s.sentPerStep)} | ${ranks > 1 ? (s.sentPerStep / bound).toFixed(3) : '-'} | ${mib(s.slotBytes)} | ` +
          `${((100 * s.slotBytes) / slotsAlone).toFixed(2)}% (1/N: ${(100 / ranks).toFixed(2)}%) |`,
      );
    rows.push(
      `| one process, ${ranks} micro-batch${ranks > 1 ? 'es' : ''} | - | ${alone!.workers} | ${alone!.msPerStep.toFixed(1)} | ` +
        `${(1000 / alone!.msPerStep).toFixed(2)} | - | - | ${mib(alone!.slotBytes)} | 100% |`,
    );
  }

  log('the MLP job: 1 process x 2 replicas, then 2 ranks x 1 replica');
  const mlp = ['train', '--job', 'synthetic', '--steps', quick ? '6' : '30', '--micro-batches', '2'];
  const flags = ['--no-svg', '--no-chart', '--json'];
  const msOf = (stdout: string) =>
    lines<{ jobs: Array<{ msPerTrainingStep: number; optimizerMsPerStep: number; parameters: number }> }>(stdout).at(
      -1,
    )!.jobs[0]!;
  const oneProcess = msOf(launch(null, [CLI, ...mlp, '--world', 'none', '--replicas', '2', ...flags]));
  const twoRanksOut = launch(2, [CLI, ...mlp, '--world', 'mpi', '--replicas', '1', ...flags]);
  const twoRanks = msOf(twoRanksOut);
  const report = twoRanksOut.split('\n').filter((l) => /^(world|rank \d+):/.test(l));

  // the cost model's inputs, measured above: one process's update per parameter, and what each
  // further shard in the sum adds (1 against 4 micro-batches)
  const updateNs = (aloneMs[0]! * 1e6) / parameters;
  const shardSumNs = ((aloneMs[2]! - aloneMs[0]!) * 1e6) / (3 * parameters);
  const BILLION = 1e9;
  const updateModel = costTable({
    parameters: BILLION,
    gradientBytes: 4 * BILLION,
    computeMs: 0,
    updateMs: (updateNs * BILLION) / 1e6,
    shardSumNs,
    collectivesPerStep,
  });
  const mlpCollectives = Number(/in ([\d.]+) collectives/.exec(report[1] ?? '')?.[1]);
  const mlpModel = costTable({
    parameters: oneProcess.parameters,
    gradientBytes: 4 * oneProcess.parameters,
    computeMs: oneProcess.msPerTrainingStep - oneProcess.optimizerMsPerStep,
    updateMs: oneProcess.optimizerMsPerStep,
    shardSumNs,
    collectivesPerStep: mlpCollectives,
  });

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const text = [
    `# The sharded update across MPI ranks${quick ? ' (quick)' : ''}`,
    '',
    `\`npm run bench -- --world${quick ? ' --quick' : ''}\` on ${cpus().length} cores (${cpu}), Open MPI over shared memory ` +
      "(`--mca btl self,vader`, `--bind-to none`). The ranks share this machine's cores: these figures say what the MPI " +
      'path moves and costs, not how a cluster scales (docs/performance.md models that).',
    '',
    `## The large-parameter update: ${parameters.toLocaleString('en-US')} float32 parameters, momentum, globalClipnorm`,
    '',
    `Median of ${steps} steps after a first (which commits the arena and agrees on the build). Each rank writes its own`,
    'gradient; the step averages them over the ranks in their fixed tree.',
    '',
    "| ranks | rank | workers | ms per step | steps/s | MiB sent per step | of 2(N-1)/N of the gradient | slot MiB | of one process's slots |",
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    'Bytes after the last step (values and every slot, SHA-256):',
    '',
    ...checks,
    '',
    '## The MLP job (`rmsprop-pool train --job synthetic --micro-batches 2`)',
    '',
    '| run | ms per training step (median) | optimizer ms per step |',
    '|---|---:|---:|',
    `| 1 process × 2 replicas | ${oneProcess.msPerTrainingStep.toFixed(1)} | ${oneProcess.optimizerMsPerStep.toFixed(1)} |`,
    `| 2 ranks × 1 replica | ${twoRanks.msPerTrainingStep.toFixed(1)} | ${twoRanks.optimizerMsPerStep.toFixed(1)} |`,
    '',
    `2 ranks × 1 replica take ${(twoRanks.msPerTrainingStep / oneProcess.msPerTrainingStep).toFixed(2)}x the step of ` +
      "1 process × 2 replicas: the MPI path's overhead (target: at most 1.3x).",
    '',
    "Rank 0's report of the 2-rank run:",
    '',
    '```',
    ...report,
    '```',
    '',
    '## A cost model for hosts like this one',
    '',
    'From the figures above (bench/cost-model.ts): the update takes ' +
      `${updateNs.toFixed(3)} ns per parameter on this machine's ${cpus().length} cores (one process, 1 micro-batch), ` +
      `each further shard in the sum ${shardSumNs.toFixed(3)} ns per parameter (1 against 4 micro-batches), a step ` +
      `of the update takes ${collectivesPerStep} collectives and one of the MLP job ${mlpCollectives}. The links ` +
      'are assumed: 10 Gb/s Ethernet over TCP with 30 µs a message, 100 Gb/s with RDMA and 5 µs; latency counts ' +
      '(N-1) messages a collective, an upper bound. The forward and backward passes of the batch divide evenly ' +
      'over the hosts (the same global batch), which flatters many hosts with small micro-batches.',
    '',
    `### The large-parameter update: 1,000,000,000 float32 parameters, each host writing its gradient`,
    '',
    ...updateModel,
    '',
    `### The MLP job: ${oneProcess.parameters.toLocaleString('en-US')} parameters, the batch dealt to the hosts`,
    '',
    ...mlpModel,
    '',
  ].join('\n');
  const out = fileURLToPath(new URL(`../../bench/results/world${quick ? '-quick' : ''}.md`, import.meta.url));
  writeFileSync(out, text);
  log(text);
  log(`written: ${out}`);
}
