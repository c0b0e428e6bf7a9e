/**
 * `npm run bench [-- --quick] [-- --large] [-- --train] [-- --half] [-- --norms [--against REF]] [-- --world]`:
 * the optimizer step by size (step.ts), with `--train` the whole data-parallel training step
 * against replicas (train.ts), with `--half` float32 against float16 and bfloat16 (half.ts), with
 * `--norms` the norm-clipping steps against an earlier commit's (norms.ts), with `--world` the
 * sharded update and training across MPI ranks (world.ts). The flags are parsed here, once;
 * each bench's `run(args)` takes them.
 */
import { parseArgs } from 'node:util';
import type { BenchArgs } from './lib.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    large: { type: 'boolean', default: false },
    train: { type: 'boolean', default: false },
    half: { type: 'boolean', default: false },
    norms: { type: 'boolean', default: false },
    world: { type: 'boolean', default: false },
    against: { type: 'string' },
  },
});
const args: BenchArgs = { quick: values.quick, large: values.large };
if (values.norms) {
  await (await import('./norms.js')).run(args, values.against);
  process.exit(0);
}
const bench = values.world
  ? await import('./world.js')
  : values.half
    ? await import('./half.js')
    : values.train
      ? await import('./train.js')
      : await import('./step.js');
await bench.run(args);
