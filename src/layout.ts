/**
 * Planning the arena: where each variable lives in its dtype group, which slots exist, how the
 * flat space is cut into reduction chunks and how chunks are dealt to lanes. Pure arithmetic,
 * no memory: `arena.ts` allocates what this plans.
 */
import { bytesPerElement, type DType } from './dtype.js';

/**
 * Reduction block and slice granularity. Sums of squares are taken per chunk — the piece of a
 * variable inside one block — and chunks never straddle a lane boundary, so a norm is the same
 * sum in the same order whatever the number of workers.
 */
export const BLOCK_BYTES = 4096;
/** Every variable starts on its own cache line (and a SIMD-friendly boundary). */
export const VARIABLE_ALIGN_BYTES = 64;

/** Arrays of the arena, in storage order. Slots exist only when the options need them. */
export type Field = 'value' | 'grad' | 'velocity' | 'momentum' | 'averageGradient' | 'average' | 'accumulator';

export interface SlotNeeds {
  momentum: boolean;
  centered: boolean;
  ema: boolean;
  accumulation: boolean;
}

export function fieldsFor(needs: SlotNeeds): Field[] {
  const fields: Field[] = ['value', 'grad', 'velocity'];
  if (needs.momentum) fields.push('momentum');
  if (needs.centered) fields.push('averageGradient');
  if (needs.ema) fields.push('average');
  if (needs.accumulation) fields.push('accumulator');
  return fields;
}

export interface GroupPlan {
  readonly dtype: DType;
  /** Global indices of the group's variables, in build order. */
  readonly variables: readonly number[];
  /** Element offset of each of those variables inside every field. */
  readonly offsets: readonly number[];
  /** Elements per field region: the variables plus alignment padding, rounded up to a block. */
  readonly fieldLength: number;
  /** Chunk table: [start, end, variable] triples in flat order. */
  readonly chunks: Int32Array;
  /** [first chunk, end chunk) per lane. */
  readonly laneRanges: Int32Array;
}

export interface VariableShape {
  readonly size: number;
  readonly dtype: DType;
}

/** Plans one group per dtype present, in DTYPE order of first appearance. */
export function planGroups(variables: readonly VariableShape[], lanes: number): GroupPlan[] {
  const dtypes = [...new Set(variables.map((v) => v.dtype))];
  return dtypes.map((dtype) => {
    const members = variables.flatMap((v, i) => (v.dtype === dtype ? [i] : []));
    return planGroup(
      dtype,
      members,
      members.map((i) => variables[i]!.size),
      lanes,
    );
  });
}

function planGroup(dtype: DType, members: number[], sizes: number[], lanes: number): GroupPlan {
  const bpe = bytesPerElement(dtype);
  const align = VARIABLE_ALIGN_BYTES / bpe;
  const block = BLOCK_BYTES / bpe;
  const offsets: number[] = [];
  let cursor = 0;
  for (const size of sizes) {
    offsets.push(cursor);
    cursor = roundUp(cursor + size, align);
  }
  const fieldLength = Math.max(block, roundUp(cursor, block));

  const triples: number[] = [];
  members.forEach((variable, k) => {
    const start = offsets[k]!;
    const end = start + sizes[k]!;
    for (let s = start; s < end; s = Math.min(end, roundDown(s, block) + block)) {
      triples.push(s, Math.min(end, roundDown(s, block) + block), variable);
    }
  });
  const chunks = new Int32Array(new SharedArrayBuffer(Math.max(1, triples.length) * 4));
  chunks.set(triples);
  const total = sizes.reduce((a, b) => a + b, 0);
  return {
    dtype,
    variables: members,
    offsets,
    fieldLength,
    chunks: chunks.subarray(0, triples.length),
    laneRanges: dealChunks(chunks.subarray(0, triples.length), total, block, lanes),
  };
}

/**
 * Cuts the chunk list into `lanes` contiguous ranges of about equal element count, cutting
 * only where a new block begins (so a block's chunks, and their sums, stay in one lane).
 */
function dealChunks(chunks: Int32Array, total: number, block: number, lanes: number): Int32Array {
  const ranges = new Int32Array(2 * lanes);
  const count = chunks.length / 3;
  let lane = 0;
  let seen = 0;
  let previousBlock = -1;
  for (let c = 0; c < count; c++) {
    const start = chunks[3 * c]!;
    const blockIndex = Math.floor(start / block);
    if (blockIndex !== previousBlock) {
      while (lane < lanes - 1 && seen >= (total * (lane + 1)) / lanes) {
        ranges[2 * lane + 1] = c;
        lane++;
        ranges[2 * lane] = c;
      }
      previousBlock = blockIndex;
    }
    seen += chunks[3 * c + 1]! - start;
  }
  ranges[2 * lane + 1] = count;
  for (let rest = lane + 1; rest < lanes; rest++) {
    ranges[2 * rest] = count;
    ranges[2 * rest + 1] = count;
  }
  return ranges;
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

function roundDown(x: number, m: number): number {
  return Math.floor(x / m) * m;
}
