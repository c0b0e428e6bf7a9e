/** Loads the vendored Keras reference trajectories (test/fixtures/keras, copied from Keras 3.16 runs). */
import { readFileSync } from 'node:fs';
import { fromHalfBits, RMSprop, Variable, schedules, type RMSpropOptions } from '../../dist/src/index.js';
import { snakeToCamel } from '../../dist/src/common/keras-names.js';

const here = new URL('../fixtures/keras/', import.meta.url);

export type Num = number;
export interface KerasCase {
  id: string;
  dtype: 'float32' | 'float64';
  options: Record<string, unknown>;
  exclude_from_weight_decay: null | { var_names?: string[]; var_indices?: number[] };
  set_learning_rate: Array<{ before_step: number; value: number }>;
  variables: Array<{ name: string; shape: number[]; init: Num[] }>;
  steps: Array<{ grads: Array<Num[] | null> }>;
  expected: Array<{ iterations: number; learning_rate: number; variables: Num[][] }>;
  expected_state: Array<{ name: string; shape: number[]; value: Num[] }>;
  expected_finalized: Num[][] | null;
  expected_config: Record<string, unknown>;
}

/** The fixtures write non-finite numbers as strings. */
function revive(_key: string, value: unknown): unknown {
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return value;
}

export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, here), 'utf8'), revive) as T;
}

/** Every case a fixture folder's index.json lists (`test/fixtures/<folder>`), non-finite numbers revived. */
export function readCases<T>(folder: string): T[] {
  const dir = new URL(`../fixtures/${folder}/`, import.meta.url);
  const read = <U>(name: string) => JSON.parse(readFileSync(new URL(name, dir), 'utf8'), revive) as U;
  return read<{ cases: string[] }>('index.json').cases.map((id) => read<T>(`${id}.json`));
}

/** A variable's values as numbers: a half-precision variable's bits widened. */
export function valuesOf(v: Variable): number[] {
  return v.dtype === 'float16' || v.dtype === 'bfloat16'
    ? Array.from(fromHalfBits(v.value, v.dtype))
    : Array.from(v.value);
}

export const caseIds: string[] = readFixture<{ cases: string[] }>('index.json').cases;

export function loadCase(id: string): KerasCase {
  return readFixture<KerasCase>(`${id}.json`);
}

/** The case's Keras arguments as our options. */
export function optionsOf(c: KerasCase, workers: number | 'auto'): RMSpropOptions {
  const options: Record<string, unknown> = { workers };
  for (const [key, value] of Object.entries(c.options)) {
    options[snakeToCamel(key)] = key === 'learning_rate' ? learningRateOf(value) : value;
  }
  return options;
}

function learningRateOf(value: unknown): unknown {
  if (typeof value === 'number') return value;
  const spec = value as { schedule?: string; config?: Record<string, unknown>; callable?: number };
  if (spec.callable !== undefined) return () => spec.callable;
  const Class = (schedules as unknown as Record<string, new (o: unknown) => unknown>)[spec.schedule!]!;
  return new Class(Object.fromEntries(Object.entries(spec.config!).map(([k, v]) => [snakeToCamel(k), v])));
}

export interface Run {
  optimizer: RMSprop;
  variables: Variable[];
}

/** Builds the case's optimizer and variables (nothing applied yet). */
export function setUp(c: KerasCase, workers: number | 'auto', extra: RMSpropOptions = {}): Run {
  const optimizer = new RMSprop({ ...optionsOf(c, workers), ...extra });
  const variables = c.variables.map((v) => new Variable(v.init, { shape: v.shape, name: v.name, dtype: c.dtype }));
  const exclude = c.exclude_from_weight_decay;
  if (exclude !== null) {
    optimizer.excludeFromWeightDecay({
      varNames: exclude.var_names,
      varList: exclude.var_indices?.map((i) => variables[i]!),
    });
  }
  return { optimizer, variables };
}

/** Applies step `s` of the case (with any learning-rate assignment due before it). */
export async function runStep(c: KerasCase, run: Run, s: number): Promise<void> {
  for (const set of c.set_learning_rate) if (set.before_step === s) run.optimizer.learningRate = set.value;
  await run.optimizer.apply(c.steps[s]!.grads, run.variables);
}
