/**
 * A staged batch's digest (SharedRows.digest), which ranks compare to find one given other rows:
 * equal for equal batches staged anew, different when one value's last bit, the sample weights or
 * the cut of the same values into rows differ.
 */
import { describe, expect, it } from 'vitest';
import { SharedRows, type Batch } from '../../dist/src/training/shared-rows.js';

const digestOf = (batch: Batch<Float32Array | Int32Array, Float32Array>): string => {
  const rows = new SharedRows();
  rows.stage(batch, (n) => [n]);
  const out = new Int32Array(4);
  rows.digest(out, 2);
  expect(out[0]).toBe(0); // only its two halves are written
  return `${out[2]}:${out[3]}`;
};

describe("a staged batch's digest", () => {
  const inputs = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
  const targets = Float32Array.from({ length: 6 }, (_, i) => i);
  const batch = { inputs, targets, rows: 6 };

  it('is the same for the same batch, staged by another SharedRows or again after a different one', () => {
    const rows = new SharedRows();
    const out = new Int32Array(2);
    rows.stage(batch, (n) => [n]);
    rows.digest(out, 0);
    const first = `${out[0]}:${out[1]}`;
    rows.stage({ inputs: inputs.map((x) => -x), targets, rows: 6 }, (n) => [n]);
    rows.stage(batch, (n) => [n]);
    rows.digest(out, 0);
    expect(`${out[0]}:${out[1]}`).toBe(first);
    expect(digestOf(batch)).toBe(first);
  });

  it("differs for one value's last bit, for sample weights, and for the same values cut into other rows", () => {
    const seen = new Set<string>([digestOf(batch)]);
    const bit = new Float32Array(inputs);
    new Uint32Array(bit.buffer)[17]! ^= 1;
    seen.add(digestOf({ ...batch, inputs: bit }));
    seen.add(digestOf({ ...batch, sampleWeights: new Float32Array(6).fill(1) }));
    seen.add(digestOf({ inputs, targets: Float32Array.from({ length: 12 }, (_, i) => i % 6), rows: 12 }));
    seen.add(digestOf({ ...batch, targets: Float32Array.from(targets).reverse() }));
    expect(seen.size).toBe(5);
  });
});
