/** The examples users read: the README's, then those of the docs pages it links, in reading order. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The pages whose ```js examples the tests run and type-check, in the order a reader meets them. */
export const GUIDE_PAGES = [
  'README.md',
  'docs/guide.md',
  'docs/tfjs.md',
  'docs/training.md',
  'docs/checkpoints.md',
  'docs/half-precision.md',
];

/** Every ```js block of the guide's pages under `root` (the repository), in order. */
export function guideExamples(root: string): string[] {
  return GUIDE_PAGES.flatMap((page) =>
    [...readFileSync(join(root, page), 'utf8').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!),
  );
}
