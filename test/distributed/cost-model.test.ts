/**
 * The cost model docs/performance.md quotes (bench/cost-model.ts), checked against sums done by
 * hand: its parts are what its formula says, for one host and for several.
 */
import { describe, expect, it } from 'vitest';
import { costTable, stepCost } from '../../dist/bench/cost-model.js';

const host = {
  parameters: 1e9,
  gradientBytes: 4e9,
  computeMs: 40,
  updateMs: 600,
  shardSumNs: 0.3,
  collectivesPerStep: 6,
};

describe('the cost model of a step across hosts', () => {
  it('4 hosts on 10 Gb/s: each part by hand', () => {
    const cost = stepCost(host, 4, { gbps: 10, latencyUs: 30 });
    expect(cost.compute).toBeCloseTo(10, 9); // 40 / 4
    expect(cost.update).toBeCloseTo(150, 9); // 600 / 4
    expect(cost.shardSum).toBeCloseTo(225, 9); // 3/4 × 1e9 × 0.3 ns
    expect(cost.bytes).toBeCloseTo(4800, 6); // 2 × 3/4 × 4e9 B × 8 / 1e10 b/s = 4.8 s
    expect(cost.latency).toBeCloseTo(0.54, 9); // 6 × 3 × 30 µs
    expect(cost.total).toBeCloseTo(10 + 150 + 225 + 4800 + 0.54, 6);
  });

  it('one host moves nothing and sums nothing more', () => {
    const cost = stepCost(host, 1, { gbps: 100, latencyUs: 5 });
    expect(cost).toEqual({ compute: 40, update: 600, shardSum: 0, bytes: 0, latency: 0, total: 640 });
  });

  it("the table: one host's row, then 4, 16 and 64 hosts on each link, with the speed against one host", () => {
    const table = costTable(host);
    expect(table).toHaveLength(2 + 1 + 6);
    expect(table[2]).toBe('| 1 | - | 40.0 | 600 | - | - | - | **640** | 1x |');
    expect(table[3]).toBe('| 4 | 10 Gb/s | 10.0 | 150 | 225 | 4800 | 0.54 | **5186** | 0.12x |');
    expect(table.slice(3).map((row) => row.split(' | ')[0])).toEqual(['| 4', '| 16', '| 64', '| 4', '| 16', '| 64']);
  });
});
