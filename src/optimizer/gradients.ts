/**
 * The gradients of an `apply()` call: checked completely before anything changes, then staged —
 * copied into the variables' shared `.grad` views, each variable's `hasGradient` word set.
 */
import { quote } from '../common/quote.js';
import type { VariableWord } from '../kernels/rmsprop-words.js';
import type { VariableWords } from '../kernels/words.js';
import { isHalf } from '../memory/dtype.js';
import { toHalfBits } from '../memory/half.js';
import { isVariableArray, Variable } from './variable.js';

/**
 * A gradient as accepted by `apply`: one value per element of its variable, or null for none.
 * A half variable's gradient is its bits (a Uint16Array) or numbers (a number[], rounded).
 */
export type Gradient = Float32Array | Float64Array | Uint16Array | readonly number[] | null | undefined;

/** `apply_gradients`'s argument: a list of `[gradient, variable]` pairs (their contents are `apply`'s to check). */
function isPairList(x: unknown): x is ReadonlyArray<readonly [Gradient, Variable]> {
  return Array.isArray(x) && x.every((p) => Array.isArray(p) && p.length === 2);
}

/** `applyGradients`' pairs as `apply`'s two lists; throws naming a pair given as [variable, gradient]. */
export function splitPairs(pairs: ReadonlyArray<readonly [Gradient, Variable]>): [Gradient[], Variable[]] {
  if (!isPairList(pairs))
    throw new TypeError(`applyGradients: expected an array of [gradient, variable] pairs, got ${quote(pairs)}`);
  const swapped = pairs.findIndex((p) => p[0] instanceof Variable && !(p[1] instanceof Variable));
  if (swapped >= 0) {
    throw new TypeError(
      `applyGradients: pair ${swapped} is [variable, gradient]; pairs are [gradient, variable], ` +
        "as in Keras's apply_gradients(zip(grads, variables))",
    );
  }
  return [pairs.map((p) => p[0]), pairs.map((p) => p[1])];
}

/**
 * Checks `grads[k]` against `variables[k]` (one list, so no micro-batches; counts, repeats,
 * types, lengths; not every gradient missing) and returns the names of the variables without
 * one, or null when there is nothing to apply. Changes nothing.
 */
export function checkGradients(
  grads: readonly Gradient[],
  variables: readonly Variable[],
  microBatches = 1,
): string[] | null {
  if (microBatches > 1) {
    throw new Error(
      `apply: with microBatches ${microBatches} the gradients are shards: write micro-batch j's into ` +
        "each variable's gradShards[j], then call step()",
    );
  }
  if (!Array.isArray(grads)) throw new TypeError('apply: `grads` must be an array');
  if (!isVariableArray(variables)) {
    throw new TypeError(`apply: \`variables\` must be an array of Variable, got ${quote(variables)}`);
  }
  if (grads.length !== variables.length) {
    throw new RangeError(`apply: got ${grads.length} gradients for ${variables.length} variables`);
  }
  if (grads.length === 0) return null; // Keras: nothing to apply, nothing counted
  if (new Set(variables).size !== variables.length) throw new Error('apply: a variable is listed twice');
  const missing: string[] = [];
  grads.forEach((g, k) => {
    const v = variables[k]!;
    if (g === null || g === undefined) return void missing.push(v.name);
    if (isHalf(v.dtype)) {
      if (!(g instanceof Uint16Array || Array.isArray(g))) {
        throw new TypeError(
          `apply: the gradient for '${v.name}' (${v.dtype}) must be a Uint16Array of ${v.dtype} bits ` +
            `(toHalfBits(values, '${v.dtype}')) or a number[], got ${quote(g)}`,
        );
      }
    } else if (!(g instanceof Float32Array || g instanceof Float64Array || Array.isArray(g))) {
      throw new TypeError(
        `apply: the gradient for '${v.name}' must be a Float32Array, Float64Array or number[], got ${quote(g)}`,
      );
    }
    if (g.length !== v.size) {
      throw new RangeError(`apply: the gradient for '${v.name}' has ${g.length} values, the variable has ${v.size}`);
    }
    if (Array.isArray(g) && !g.every((x) => typeof x === 'number')) {
      throw new TypeError(`apply: the gradient for '${v.name}' holds a non-number`);
    }
  });
  if (missing.length === grads.length) {
    throw new Error(`No gradients provided for any variable: ${variables.map((v) => `'${v.name}'`).join(', ')}`);
  }
  return missing;
}

/**
 * Puts checked gradients in place: `grads[k]` into the `.grad` of `variables[k]` (built at
 * `indices[k]`), whose `hasGradient` word is set; every other variable's is cleared.
 */
export function stageGradients(
  words: VariableWords<VariableWord>,
  grads: readonly Gradient[],
  variables: readonly Variable[],
  indices: readonly number[],
): void {
  words.fill('hasGradient', 0);
  grads.forEach((g, k) => {
    if (g === null || g === undefined) return;
    const v = variables[k]!;
    words.set(indices[k]!, 'hasGradient', 1);
    if (g === v.grad) return;
    if (isHalf(v.dtype) && !(g instanceof Uint16Array)) toHalfBits(g, v.dtype, v.grad as Uint16Array);
    else v.grad.set(g);
  });
}

/**
 * Keras warns once per variable that has no gradient; `warned` holds the names already warned
 * about (per optimizer).
 */
export function warnMissingGradients(names: readonly string[], warned: Set<string>, optimizer: string): void {
  const fresh = names.filter((n) => !warned.has(n));
  if (fresh.length === 0) return;
  for (const n of fresh) warned.add(n);
  process.emitWarning(
    `Gradients do not exist for variables ${fresh.map((n) => `'${n}'`).join(', ')} when applying optimizer '${optimizer}'; they are not updated this step.`,
    { code: 'RMSPROP_POOL_MISSING_GRADIENTS' },
  );
}
