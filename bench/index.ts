/**
 * `npm run bench [-- --quick] [-- --large] [-- --train] [-- --half]`: the optimizer step by size
 * (step.ts), with `--train` the whole data-parallel training step against replicas (train.ts),
 * with `--half` float32 against float16 and bfloat16 (half.ts).
 */
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    large: { type: 'boolean', default: false },
    train: { type: 'boolean', default: false },
    half: { type: 'boolean', default: false },
  },
});
if (args.half) {
  const { halfBench } = await import('./half.js');
  await halfBench(args.quick, args.large);
} else if (args.train) {
  const { trainBench } = await import('./train.js');
  await trainBench(args.quick);
} else {
  await import('./step.js');
}
