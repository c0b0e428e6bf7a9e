/**
 * What committing fresh shared pages costs, measured alone in its own process (so its memory is
 * returned when it exits): prints the seconds `threads` threads take to commit `bytes`.
 *
 *   node dist/bench/commit-child.js <threads> <bytes>
 */
import { pageCommitRate } from './roofline.js';

const [threads, bytes] = process.argv.slice(2, 4).map(Number) as [number, number];
console.log(JSON.stringify({ seconds: bytes / 2 ** 30 / (await pageCommitRate(threads, bytes)) }));
