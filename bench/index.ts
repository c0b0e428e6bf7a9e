/**
 * `npm run bench [-- --quick] [-- --large] [-- --train]`: the optimizer step by size (step.ts),
 * or with `--train` the whole data-parallel training step against replicas (train.ts).
 */
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    large: { type: 'boolean', default: false },
    train: { type: 'boolean', default: false },
  },
});
if (args.train) {
  const { trainBench } = await import('./train.js');
  await trainBench(args.quick);
} else {
  await import('./step.js');
}
