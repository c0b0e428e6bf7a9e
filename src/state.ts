/**
 * The optimizer's state as Keras lists it (`optimizer.variables`): the counters, then one slot
 * array per variable and slot, in Keras's order and names. Pure layout and checks, shared by
 * the state getter, checkpoints and state dicts, so a refused file or dict changes nothing.
 */
import type { ArraySpec } from './checkpoint.js';
import { shapeSize } from './dtype.js';
import { quote } from './errors.js';
import type { Field } from './layout.js';

/** Keras's slot names, in the order `optimizer.variables` lists them. */
export const SLOT_ORDER: ReadonlyArray<readonly [Field, string]> = [
  ['average', 'average'],
  ['accumulator', 'gradient_accumulator'],
  ['velocity', 'velocity'],
  ['momentum', 'momentum'],
  ['averageGradient', 'average_gradient'],
];

/** A slot array: its name, shape and dtype (from its variable's), and where it lives. */
export interface SlotSpec extends ArraySpec {
  readonly field: Field;
  /** The position of its variable in the list it was derived from. */
  readonly index: number;
}

/** Every slot array `fields` give `variables`, in Keras's order, named as Keras names them. */
export function slotSpecs(fields: readonly Field[], variables: readonly ArraySpec[]): SlotSpec[] {
  return SLOT_ORDER.filter(([field]) => fields.includes(field)).flatMap(([field, suffix]) =>
    variables.map((v, index) => ({ field, index, name: `${v.name}_${suffix}`, shape: v.shape, dtype: v.dtype })),
  );
}

/** One entry of the state as a checkpoint or a state dict holds it. */
export type StateArray = ArrayLike<number | bigint>;

export interface StateEntry {
  readonly name: string;
  readonly length: number;
}

export interface StateCounters {
  readonly steps: number;
  /** The learning_rate entry, when the state has one. */
  readonly learningRate: number | null;
}

/** The counters: iteration, and learning_rate when the learning rate is a number (Keras keeps it in a variable). */
export function counterNames(learningRateVariable: boolean): string[] {
  return learningRateVariable ? ['iteration', 'learning_rate'] : ['iteration'];
}

/** Name and length of every state entry: the counters, then the slots. */
export function stateLayout(learningRateVariable: boolean, slots: readonly ArraySpec[]): StateEntry[] {
  return [
    ...counterNames(learningRateVariable).map((name) => ({ name, length: 1 })),
    ...slots.map(({ name, shape }) => ({ name, length: shapeSize(shape) })),
  ];
}

/**
 * Checks arrays meant for the first entries of a state laid out as `layout` (their count and
 * lengths, the iteration counter's range, a finite learning rate) and returns the counters.
 * Changes nothing.
 */
export function checkState(
  arrays: ReadonlyArray<StateArray | null | undefined>,
  layout: readonly StateEntry[],
  what: string,
): StateCounters {
  if (arrays.length > layout.length)
    throw new RangeError(`${what}: ${arrays.length} state arrays, the optimizer has ${layout.length}`);
  arrays.forEach((data, i) => {
    const { name, length } = layout[i]!;
    if (data === undefined || data === null || typeof data.length !== 'number')
      throw new TypeError(`${what}: no array for '${name}'`);
    if (data.length !== length)
      throw new RangeError(`${what}: '${name}' has ${data.length} values, expected ${length}`);
  });
  const iteration = arrays[0]?.[0];
  const steps = Number(iteration);
  if (!Number.isSafeInteger(steps) || steps < 0) {
    throw new RangeError(`${what}: 'iteration' must be an integer from 0 to 2^53 - 1, got ${quote(iteration)}`);
  }
  let learningRate: number | null = null;
  if (layout[1]?.name === 'learning_rate' && arrays.length > 1) {
    const raw = arrays[1]![0];
    learningRate = Number(raw);
    if (typeof raw !== 'number' || !Number.isFinite(Math.fround(learningRate))) {
      throw new RangeError(`${what}: 'learning_rate' must be a finite float32, got ${quote(raw)}`);
    }
  }
  return { steps, learningRate };
}
