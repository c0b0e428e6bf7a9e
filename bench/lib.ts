/**
 * What the benches share: their flags, the optimizer variants they measure, the memory model they
 * compare against, medians and the log. Each bench exports `run(args)`; index.ts parses the flags once.
 */
import type { RMSpropOptions } from '../src/index.js';

import { Bench } from 'tinybench';
import { median } from '../src/cli/figures.js';

export { median };

/** `npm run bench`'s flags, parsed once by index.ts. */
export interface BenchArgs {
  /** Fewer sizes and samples: under a minute. */
  readonly quick: boolean;
  /** The largest sizes too (1e9 parameters), where memory allows. */
  readonly large: boolean;
}

/** The optimizer's variants measured: the options, and the arrays a step moves through memory. */
export const VARIANTS = {
  // reads value, grad, velocity; writes value, velocity: 5 arrays moved
  basic: { options: {}, arrays: 5 },
  // the norm pass reads grad; the update reads grad and 5 arrays, writes those 5
  full: { options: { centered: true, momentum: 0.9, useEma: true, globalClipnorm: 1 }, arrays: 12 },
} as const satisfies Record<string, { options: RMSpropOptions; arrays: number }>;
export type Variant = keyof typeof VARIANTS;

/**
 * DRAM bytes per counted byte of a copy: it reads each destination line before writing it back,
 * where a step writes only lines it has just read. The roofline bound is this times the copy rate.
 */
export const WRITE_ALLOCATE = 1.5;

/** A progress line on stderr (the results go to bench/results/). */
export const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** Rounds of the steps compared, in turn: on this shared VM the speed drifts within a run. */
const ROUNDS = 5;

/**
 * The median step of each optimizer, measured in turn: each round is one tinybench run of every
 * task (a few steps each), so a slow stretch of the machine falls on all of them alike.
 */
export async function medians(
  steps: ReadonlyArray<() => Promise<void>>,
  quick: boolean,
  rounds = ROUNDS,
): Promise<number[]> {
  const samples: number[][] = steps.map(() => []);
  for (let round = 0; round < (quick ? 2 : rounds); round++) {
    const bench = new Bench({
      time: 0,
      iterations: 3,
      warmupIterations: 1, // the first round's commits the arena; later, idle lanes retired (250 ms) restart
      warmupTime: 0,
      retainSamples: true,
    });
    steps.forEach((step, i) => bench.add(String(i), step));
    await bench.run();
    bench.tasks.forEach((task, i) => {
      if (task.result.state !== 'completed') throw new Error(`benchmark task failed: ${task.result.state}`);
      samples[i]!.push(...task.result.latency.samples!);
    });
  }
  return samples.map((s) => median(s));
}
