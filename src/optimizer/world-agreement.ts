/**
 * What the ranks of a world must agree on before their first exchange: the variables (names,
 * shapes, dtypes, weight-decay exclusions, order), the micro-batches, the world's size and every
 * Keras option but the name. Each rank states it as lines; the ranks' word carries a 64-bit hash of them
 * (distributed/ranks-word.ts), and only when the hashes differ are the lines themselves gathered, so the refusal
 * can name the first rank that differs from rank 0 and the first line in which it does.
 */
import type { RanksWord } from '../distributed/ranks-word.js';
import type { World } from '../distributed/world.js';
import { OPTION_SPECS, type ResolvedOptions } from './options.js';
import { LearningRateSchedule } from './schedules/learning-rate-schedule.js';
import type { Variable } from './variable.js';

/** Ranks that built differently: nothing was exchanged, nothing changed. */
export class WorldDisagreement extends Error {
  override name = 'WorldDisagreement';
}

/** A rank's build, as lines to compare. */
export function buildLines(
  variables: readonly Variable[],
  options: ResolvedOptions,
  decays: readonly boolean[],
): string[] {
  const lines = variables.map(
    (v, i) =>
      `variable ${i}: '${v.name}', shape [${v.shape.join(', ')}], ${v.dtype}${decays[i] ? '' : ', excluded from weight decay'}`,
  );
  lines.push(`micro-batches: ${options.microBatches}`, `world size: ${options.world?.size ?? 1}`);
  for (const [name, spec] of OPTION_SPECS) {
    if (spec.runtime || name === 'name') continue; // a name changes no byte (and in one process, auto names differ)
    const value: unknown = options[name];
    const shown =
      value instanceof LearningRateSchedule
        ? JSON.stringify(value.getConfig()) // a schedule: its config
        : typeof value === 'function'
          ? 'a function' // a function's results cannot be compared before they are taken
          : JSON.stringify(value);
    lines.push(`option ${name}: ${shown}`);
  }
  return lines;
}

/** FNV-1a, 64 bits, of the lines, into `digest`'s two int32 halves (low, high). */
function hashInto(lines: readonly string[], digest: Int32Array): void {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(lines.join('\n'))) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  digest[0] = Number(BigInt.asIntN(32, hash));
  digest[1] = Number(BigInt.asIntN(32, hash >> 32n));
}

/**
 * Throws, on every rank, unless every rank's `lines` are the same: the ranks' word carries their
 * hash, and only when the hashes differ are the lines gathered, so that the message names the
 * first rank that differs from rank 0 and the first line in which it does, as each of them states it.
 */
export async function agreeOnBuild(
  world: World,
  word: RanksWord,
  lines: readonly string[],
  bounded: (exchange: Promise<void>, what: string) => Promise<void>,
): Promise<void> {
  hashInto(lines, word.digest);
  await bounded(word.exchange(false), "the ranks' builds");
  if (word.differingRank < 0) return;
  // they differ: gather every rank's lines, to say where
  const text = new TextEncoder().encode(lines.join('\n'));
  const lengths = new Int32Array(world.size);
  lengths[world.rank] = text.length;
  const ones = Int32Array.from({ length: world.size }, () => 1);
  const at = Int32Array.from({ length: world.size }, (_, r) => r);
  await bounded(world.allgatherv(null, lengths, ones, at, 4), "the ranks' builds");
  const all = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
  const offsets = Int32Array.from({ length: world.size }, (_, r) => lengths.slice(0, r).reduce((a, b) => a + b, 0));
  all.set(text, offsets[world.rank]);
  await bounded(world.allgatherv(null, all, lengths, offsets, 1), "the ranks' builds");
  const ranksLines = Array.from({ length: world.size }, (_, r) =>
    new TextDecoder().decode(all.subarray(offsets[r], offsets[r]! + lengths[r]!)).split('\n'),
  );
  const first = ranksLines[0]!;
  for (let r = 1; r < world.size; r++) {
    const theirs = ranksLines[r]!;
    const line = Array.from({ length: Math.max(first.length, theirs.length) }, (_, k) => k).find(
      (k) => first[k] !== theirs[k],
    );
    if (line === undefined) continue;
    throw new WorldDisagreement(
      `the ranks of the world disagree: rank ${r} differs from rank 0 in what they built: ` +
        `rank 0 has ${first[line] ?? 'nothing more'}; rank ${r} has ${theirs[line] ?? 'nothing more'}`,
    );
  }
}
