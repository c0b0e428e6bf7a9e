/** The slot table: every other list of the arena's fields is derived from it. */
import { describe, expect, it } from 'vitest';
import { allocateArena, groupViews } from '../../dist/src/memory/arena.js';
import { MAX_SEGMENT_BYTES, planGroups } from '../../dist/src/memory/layout.js';
import { FIELD_ORDER, fieldsFor, KERAS_SLOTS, SLOTS, type SlotOptions } from '../../dist/src/memory/slots.js';
import { signatureOf } from '../../dist/src/kernels/signature.js';
import { PROGRAMS } from '../../dist/src/kernels/rmsprop.js';

/** Every combination of the options a slot depends on. */
const combinations: SlotOptions[] = [0, 0.9].flatMap((momentum) =>
  [false, true].flatMap((centered) =>
    [false, true].flatMap((useEma) =>
      [null, 3].map((gradientAccumulationSteps) => ({ momentum, centered, useEma, gradientAccumulationSteps })),
    ),
  ),
);

describe('the slot table', () => {
  it.each(combinations)(
    'fieldsFor(%o): value, grad, velocity, then each slot its option needs, in storage order',
    (o) => {
      const expected = ['value', 'grad', 'velocity'];
      if (o.momentum > 0) expected.push('momentum');
      if (o.centered) expected.push('averageGradient');
      if (o.useEma) expected.push('average');
      if (o.gradientAccumulationSteps !== null) expected.push('accumulator');
      expect(fieldsFor(o)).toEqual(expected);
    },
  );

  it("lists the optimizer's slots in Keras 3's order and names (EMA, accumulator, then RMSprop's own)", () => {
    expect(KERAS_SLOTS.map((s) => s.suffix)).toEqual([
      'average',
      'gradient_accumulator',
      'velocity',
      'momentum',
      'average_gradient',
    ]);
    expect(SLOTS.filter((row) => row.keras === null).map((row) => row.field)).toEqual(['value', 'grad']);
  });

  it("the kernels' arrays are the table's fields, in its order", () => {
    const used = new Set(PROGRAMS.flatMap((program) => [...signatureOf(program).arrays]));
    expect([...used].sort()).toEqual([...FIELD_ORDER].sort());
    for (const program of PROGRAMS) {
      const arrays = signatureOf(program).arrays;
      expect(arrays).toEqual(FIELD_ORDER.filter((f) => arrays.includes(f)));
    }
  });

  it("the arena's views: one per field of the table, null where the options need no such slot", () => {
    const fields = fieldsFor({ momentum: 0.5, centered: false, useEma: true, gradientAccumulationSteps: null });
    const plans = planGroups([{ name: 'w', size: 10, dtype: 'float32' }], 1, fields.length, MAX_SEGMENT_BYTES);
    const arena = allocateArena(plans, fields, 2, { control: 1, scalars: 1, varParams: 1 });
    const views = groupViews(arena.groups[0]!);
    const offsets = new Set<number>();
    for (const field of FIELD_ORDER) {
      const view = views[field];
      expect(view === null, field).toBe(!fields.includes(field));
      if (view !== null) offsets.add(view.byteOffset);
    }
    expect(offsets.size).toBe(fields.length); // each its own region
    expect(views.gradShards.length).toBe(2 * views.shardStride);
  });
});
