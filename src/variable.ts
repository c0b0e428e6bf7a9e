import { arrayConstructor, isDType, shapeSize, type DType, type FloatArray } from './dtype.js';
import { quote } from './errors.js';

/** How to make a `Variable`: its shape, dtype and name. */
export interface VariableOptions {
  /** Dimensions; their product must equal the number of initial values. Default: `[init.length]`. */
  shape?: readonly number[];
  /**
   * Name used in errors, optimizer slot names and weight-decay exclusion. Default: Keras-style
   * `variable`, `variable_1`, ...
   */
  name?: string;
  /** Default: `float64` for a Float64Array init, `float32` otherwise. */
  dtype?: DType;
}

/** Anything that marks a variable as belonging to an optimizer's arena. */
export interface VariableOwner {
  /** The optimizer's name, for error messages. */
  readonly name: string;
  /** A closed owner releases its variables: they can be built into another optimizer. */
  readonly closed: boolean;
}

/** A guard, not Array.isArray in place: that would narrow the shape to any[]. */
function isShape(x: unknown): x is readonly number[] {
  return Array.isArray(x) && x.every((d) => Number.isInteger(d) && (d as number) >= 0);
}

const nameCounts = new Map<string, number>();

/** Keras's `auto_name`: the first `variable` is `variable`, then `variable_1`, ... */
export function uniqueName(base: string): string {
  const seen = nameCounts.get(base);
  nameCounts.set(base, seen === undefined ? 1 : seen + 1);
  return seen === undefined ? base : `${base}_${seen}`;
}

/**
 * A trainable tensor. Before `build` it owns a private typed array; `build` moves its values
 * into the optimizer's shared arena, after which `value` and `grad` are zero-copy views into
 * shared memory (re-read them after building: older references see the old private copy).
 *
 * @example
 * ```ts
 * const kernel = new Variable(new Float32Array(784 * 128), { shape: [784, 128], name: 'dense/kernel' });
 * optimizer.build([kernel]);
 * kernel.grad.set(gradient); // write the gradient in place, then optimizer.step()
 * ```
 */
export class Variable {
  /** Keras's variable path: what slots and checkpoints are named from. Unique within an optimizer. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** The number of elements (the product of the shape). */
  readonly size: number;
  #value: FloatArray;
  #grad: FloatArray | null = null;
  #owner: VariableOwner | null = null;

  constructor(init: ArrayLike<number>, options: VariableOptions = {}) {
    const isTyped = init instanceof Float32Array || init instanceof Float64Array;
    if (!isTyped && !Array.isArray(init)) {
      throw new TypeError(`Variable: \`init\` must be a number[], Float32Array or Float64Array, got ${quote(init)}`);
    }
    if (options.dtype !== undefined && !isDType(options.dtype)) {
      throw new TypeError(`Variable: \`dtype\` must be 'float32' or 'float64', got ${quote(options.dtype)}`);
    }
    this.dtype = options.dtype ?? (init instanceof Float64Array ? 'float64' : 'float32');
    this.name = options.name ?? uniqueName('variable');
    if (typeof this.name !== 'string' || this.name.length === 0) {
      throw new TypeError(`Variable: \`name\` must be a non-empty string, got ${quote(this.name)}`);
    }
    const shape = options.shape ?? [init.length];
    if (!isShape(shape)) {
      throw new TypeError(
        `Variable '${this.name}': \`shape\` must be an array of non-negative integers, got ${quote(shape)}`,
      );
    }
    const size = shapeSize(shape);
    if (size !== init.length) {
      throw new RangeError(
        `Variable '${this.name}': shape [${shape.join(', ')}] holds ${size} values but init has ${init.length}`,
      );
    }
    if (!isTyped && !(init as readonly unknown[]).every((x) => typeof x === 'number')) {
      throw new TypeError(`Variable '${this.name}': every initial value must be a number`);
    }
    this.shape = Object.freeze([...shape]);
    this.size = size;
    this.#value = arrayConstructor(this.dtype).from(init);
  }

  /** The values: a live view (into shared memory once built). */
  get value(): FloatArray {
    return this.#value;
  }

  /**
   * The gradient buffer the optimizer reads on `step()`: a view of shared memory, made when an
   * optimizer builds the variable. Reading it before throws (typed non-null, so a training
   * loop after `build` compiles under `strict`).
   */
  get grad(): FloatArray {
    if (this.#grad === null) {
      throw new Error(
        `Variable '${this.name}' has no gradient buffer yet: an optimizer makes it when it builds the variable ` +
          '(opt.build([...]) or the first apply())',
      );
    }
    return this.#grad;
  }

  /** Set values in place (same length); works before and after build. */
  assign(values: ArrayLike<number>): void {
    if (values.length !== this.size) {
      throw new RangeError(`Variable '${this.name}': assign() needs ${this.size} values, got ${values.length}`);
    }
    this.#value.set(values);
  }

  /** The optimizer this variable was built into (null before build); once that one is closed, another may build it. */
  get owner(): VariableOwner | null {
    return this.#owner;
  }

  /** @internal Throws unless `owner` may build this variable (no other open optimizer holds it). */
  assertAvailableTo(owner: VariableOwner): void {
    if (this.#owner !== null && !this.#owner.closed && this.#owner !== owner) {
      throw new Error(
        `Variable '${this.name}' is already built into optimizer '${this.#owner.name}'; close that optimizer first`,
      );
    }
  }

  /** @internal Rebinds storage to arena views. Called by the optimizer's build only. */
  attach(owner: VariableOwner, value: FloatArray, grad: FloatArray): void {
    this.assertAvailableTo(owner);
    value.set(this.#value);
    grad.fill(0);
    this.#value = value;
    this.#grad = grad;
    this.#owner = owner;
  }
}

/** An array of Variables (and nothing else). */
export function isVariableArray(x: unknown): x is readonly Variable[] {
  return Array.isArray(x) && x.every((v) => v instanceof Variable);
}
