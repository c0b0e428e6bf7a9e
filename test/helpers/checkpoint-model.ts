import { shapeSize } from '../../dist/src/memory/dtype.js';
import { Variable } from '../../dist/src/index.js';
import { randomValues } from './state.js';

/** A small model with '/' in names, a matrix and a float64 variable: what checkpoints must carry. */
export const SHAPES = [
  { name: 'dense/kernel', shape: [30, 40], dtype: 'float32' as const },
  { name: 'dense/bias', shape: [40], dtype: 'float32' as const },
  { name: 'head', shape: [7], dtype: 'float64' as const },
];
export const model = (seed = 1) =>
  SHAPES.map(
    (s, i) =>
      new Variable(randomValues(shapeSize(s.shape), seed + i), { name: s.name, shape: s.shape, dtype: s.dtype }),
  );
export const grads = (step: number) => SHAPES.map((s, i) => randomValues(shapeSize(s.shape), 100 * step + i));
