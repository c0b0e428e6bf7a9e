/**
 * The optimizer's arrays, stated once. Each row is a field of the arena: what it holds, the
 * options that need it, Keras's name and place for it in `optimizer.variables`, and its dtype
 * rule. The layout's fields, the arena's views, the kernels' argument order, the commit phase's
 * pages, Keras's state listing and the checkpoints' names are all derived from this table:
 * adding a slot is a row here plus its math in `kernels/rmsprop.ts`.
 */

/** The options a slot's presence depends on, as the resolved options hold them. */
export interface SlotOptions {
  readonly momentum: number;
  readonly centered: boolean;
  readonly useEma: boolean;
  readonly gradientAccumulationSteps: number | null | undefined;
}

interface SlotRow {
  /** The field's name: a key of the arena's views and of a kernel program's `load`/`store`. */
  readonly field: string;
  /** Whether the options need it: 'always' (value, grad, velocity), or the options' rule. */
  readonly needed: 'always' | ((options: SlotOptions) => boolean);
  /**
   * Keras's suffix of the slot's name (`dense_kernel_velocity`) and its rank in
   * `optimizer.variables` (Keras 3's `build`: EMA averages and accumulators from the base
   * optimizer first, then RMSprop's own); null for the value and the gradient, which are the
   * model's, not the optimizer's.
   */
  readonly keras: { readonly name: string; readonly rank: number } | null;
  /** Every slot is made in its variable's dtype, as Keras's `add_variable_from_reference` does. */
  readonly dtype: 'variable';
}

/** The fields, in storage order (a group's regions and a kernel's arguments follow it). */
export const SLOTS = [
  { field: 'value', needed: 'always', keras: null, dtype: 'variable' },
  // one region per micro-batch shard (`gradShards`); the first is `grad`
  { field: 'grad', needed: 'always', keras: null, dtype: 'variable' },
  { field: 'velocity', needed: 'always', keras: { name: 'velocity', rank: 2 }, dtype: 'variable' },
  { field: 'momentum', needed: (o) => o.momentum > 0, keras: { name: 'momentum', rank: 3 }, dtype: 'variable' },
  {
    field: 'averageGradient',
    needed: (o) => o.centered,
    keras: { name: 'average_gradient', rank: 4 },
    dtype: 'variable',
  },
  { field: 'average', needed: (o) => o.useEma, keras: { name: 'average', rank: 0 }, dtype: 'variable' },
  {
    field: 'accumulator',
    needed: (o) => Boolean(o.gradientAccumulationSteps),
    keras: { name: 'gradient_accumulator', rank: 1 },
    dtype: 'variable',
  },
] as const satisfies readonly SlotRow[];

/**
 * An array of the arena: the value, the gradient, or one of the optimizer's slots.
 *
 * @useDeclaredType
 */
export type Field = (typeof SLOTS)[number]['field'];

/**
 * The fields every build has (the rest exist only when the options need them).
 *
 * @useDeclaredType
 */
export type AlwaysField = Extract<(typeof SLOTS)[number], { readonly needed: 'always' }>['field'];

/** Every field, in storage order. */
export const FIELD_ORDER: readonly Field[] = SLOTS.map((row) => row.field);

/** The fields the options need, in storage order. */
export function fieldsFor(options: SlotOptions): Field[] {
  return SLOTS.filter((row) => row.needed === 'always' || row.needed(options)).map((row) => row.field);
}

/** The optimizer's slots as Keras lists them in `optimizer.variables`: field and name suffix, in Keras's order. */
export const KERAS_SLOTS: ReadonlyArray<{ readonly field: Field; readonly suffix: string }> = SLOTS.flatMap((row) =>
  row.keras === null ? [] : [{ field: row.field, suffix: row.keras.name, rank: row.keras.rank }],
)
  .sort((a, b) => a.rank - b.rank)
  .map(({ field, suffix }) => ({ field, suffix }));
