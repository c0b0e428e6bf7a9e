import { quote } from '../common/quote.js';
import { toHalfBits } from '../memory/half.js';
import {
  arrayConstructor,
  isDType,
  isHalf,
  shapeSize,
  storedElement,
  type DType,
  type FloatArray,
} from '../memory/dtype.js';

/**
 * Initial values that need no array, as Keras's initializers: `'zeros'`, `'ones'`, or a fill
 * function. A fill function is called once with the variable's storage (zeros) and its shape,
 * and writes the values in place: at `build`, into the optimizer's shared memory — or earlier,
 * into a private array, if `value` is read before. It must not keep `values` (a view). A half
 * variable's storage is a Uint16Array of bits: write them with `toHalfBits`.
 */
export type Initializer = 'zeros' | 'ones' | ((values: FloatArray, shape: readonly number[]) => void);

/** How to make a `Variable`: its shape, dtype and name. */
export interface VariableOptions {
  /** Dimensions; their product must equal the number of initial values. Default: `[init.length]`; required with an initializer. */
  shape?: readonly number[];
  /**
   * Name used in errors, optimizer slot names and weight-decay exclusion. Default: Keras-style
   * `variable`, `variable_1`, ...
   */
  name?: string;
  /**
   * Default: `float64` for a Float64Array init, `float32` otherwise. `float16` and `bfloat16`
   * take their initial values as numbers (a number[], rounded to nearest even) or as bits (a
   * Uint16Array, from `toHalfBits`), never as a Float32Array or Float64Array.
   */
  dtype?: DType;
}

/** What this library uses of a runtime's `Float16Array` (Node 24; Node 22 with `--js-float16array`). */
export interface Float16ArrayLike extends ArrayLike<number> {
  [index: number]: number;
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  set(values: ArrayLike<number>, offset?: number): void;
}

type Float16ArrayConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Float16ArrayLike;

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
 * A trainable tensor. Its initial values come from an array or an `Initializer`; `build` writes
 * them into the optimizer's shared arena, after which `value` and `grad` are zero-copy views into
 * shared memory (re-read them after building: older references see the old private copy).
 * Nothing is allocated or copied before: an initializer fills the arena in place, and an initial
 * array is copied once, into the arena, at build — so leave it unchanged until then (or read
 * `value` first, which takes a private copy).
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
  /** The values, once there are any: a private array, or after build the arena's view. */
  #value: FloatArray | null = null;
  /** Where the values come from until then. */
  #init: ArrayLike<number> | Initializer;
  #gradShards: readonly FloatArray[] = [];
  #owner: VariableOwner | null = null;

  constructor(init: ArrayLike<number> | Initializer, options: VariableOptions = {}) {
    const isTyped = init instanceof Float32Array || init instanceof Float64Array || init instanceof Uint16Array;
    const isInitializer = init === 'zeros' || init === 'ones' || typeof init === 'function';
    if (!isTyped && !isInitializer && !Array.isArray(init)) {
      throw new TypeError(
        `Variable: \`init\` must be a number[], Float32Array, Float64Array, Uint16Array (half-precision bits), 'zeros', 'ones' or a fill function, got ${quote(init)}`,
      );
    }
    if (options.dtype !== undefined && !isDType(options.dtype)) {
      throw new TypeError(
        `Variable: \`dtype\` must be 'float32', 'float64', 'float16' or 'bfloat16', got ${quote(options.dtype)}`,
      );
    }
    this.dtype = options.dtype ?? (init instanceof Float64Array ? 'float64' : 'float32');
    checkStorage('Variable', init, this.dtype, '`init`');
    this.name = options.name ?? uniqueName('variable');
    if (typeof this.name !== 'string' || this.name.length === 0) {
      throw new TypeError(`Variable: \`name\` must be a non-empty string, got ${quote(this.name)}`);
    }
    if (isInitializer && options.shape === undefined) {
      throw new TypeError(`Variable '${this.name}': \`shape\` is required with an initializer (${quote(init)})`);
    }
    const shape = options.shape ?? [(init as ArrayLike<number>).length];
    if (!isShape(shape)) {
      throw new TypeError(
        `Variable '${this.name}': \`shape\` must be an array of non-negative integers, got ${quote(shape)}`,
      );
    }
    const size = shapeSize(shape);
    if (!isInitializer && size !== (init as ArrayLike<number>).length) {
      throw new RangeError(
        `Variable '${this.name}': shape [${shape.join(', ')}] holds ${size} values but init has ${(init as ArrayLike<number>).length}`,
      );
    }
    if (Array.isArray(init) && !(init as readonly unknown[]).every((x) => typeof x === 'number')) {
      throw new TypeError(`Variable '${this.name}': every initial value must be a number`);
    }
    this.shape = Object.freeze([...shape]);
    this.size = size;
    this.#init = init;
  }

  /** The values: a live view into shared memory once built (before, a private array made on first read). */
  get value(): FloatArray {
    if (this.#value === null) {
      const values = new (arrayConstructor(this.dtype))(this.size);
      this.writeInitial(values);
      this.#value = values;
    }
    return this.#value;
  }

  /**
   * A float16 variable's values as a `Float16Array` over the same bits (once built, a live view of
   * shared memory: make it again after `build`), where the runtime has `Float16Array`; null on
   * one without it, and for other dtypes.
   */
  get float16Array(): Float16ArrayLike | null {
    const View = (globalThis as { Float16Array?: Float16ArrayConstructor }).Float16Array;
    if (this.dtype !== 'float16' || View === undefined) return null;
    const bits = this.value as Uint16Array;
    return new View(bits.buffer, bits.byteOffset, bits.length);
  }

  /**
   * The gradient buffer the optimizer reads on `step()`: a view of shared memory, made when an
   * optimizer builds the variable. Reading it before throws (typed non-null, so a training
   * loop after `build` compiles under `strict`).
   */
  get grad(): FloatArray {
    return this.gradShards[0]!;
  }

  /**
   * The gradient shards, one per micro-batch (the optimizer's `microBatches`; the first is
   * `grad`): `step()` applies their mean. Views of shared memory, made when an optimizer builds
   * the variable; reading them before throws.
   */
  get gradShards(): readonly FloatArray[] {
    if (this.#gradShards.length === 0) {
      throw new Error(
        `Variable '${this.name}' has no gradient buffer yet: an optimizer makes it when it builds the variable ` +
          '(opt.build([...]) or the first apply())',
      );
    }
    return this.#gradShards;
  }

  /** Set values in place (same length); works before and after build. */
  assign(values: ArrayLike<number>): void {
    checkStorage(`Variable '${this.name}'`, values, this.dtype, 'assign()');
    if (values.length !== this.size) {
      throw new RangeError(`Variable '${this.name}': assign() needs ${this.size} values, got ${values.length}`);
    }
    if (isHalf(this.dtype) && !(values instanceof Uint16Array))
      toHalfBits(values, this.dtype, this.value as Uint16Array);
    else this.value.set(values);
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

  /**
   * @internal Writes the values into `target`, zeroed storage of this variable's size: the
   * current values, else the initial array or the initializer's. Changes nothing here (a fill
   * function that throws leaves the variable as it was).
   */
  writeInitial(target: FloatArray): void {
    const from = this.#value ?? this.#init;
    if (from === 'zeros') return;
    if (from === 'ones') target.fill(storedElement(this.dtype)(1));
    else if (isHalf(this.dtype) && Array.isArray(from)) toHalfBits(from as number[], this.dtype, target as Uint16Array);
    else if (typeof from === 'function') {
      try {
        from(target, this.shape);
      } catch (cause) {
        throw new Error(
          `Variable '${this.name}': its initializer threw: ${(cause as Error)?.message ?? String(cause)}`,
          {
            cause,
          },
        );
      }
    } else target.set(from);
  }

  /** @internal Rebinds storage to arena views holding its values (`writeInitial`). Called by the optimizer's build only. */
  bind(owner: VariableOwner, value: FloatArray, gradShards: readonly FloatArray[]): void {
    this.assertAvailableTo(owner);
    this.#value = value;
    this.#gradShards = Object.freeze([...gradShards]);
    this.#owner = owner;
  }
}

/**
 * Refuses values that do not fit a dtype's storage: a half variable takes numbers (a number[])
 * or its bits (a Uint16Array), never a float typed array (its values would be taken for bits);
 * a float32/float64 variable never takes bits.
 */
function checkStorage(what: string, values: unknown, dtype: DType, argument: string): void {
  const floats = values instanceof Float32Array || values instanceof Float64Array;
  if (isHalf(dtype) && floats) {
    throw new TypeError(
      `${what}: a ${dtype} variable stores bits: ${argument} must be a number[] of values or a Uint16Array of ${dtype} bits ` +
        `(toHalfBits(values, '${dtype}')), got ${quote(values)}`,
    );
  }
  if (!isHalf(dtype) && values instanceof Uint16Array) {
    throw new TypeError(
      `${what}: a Uint16Array holds half-precision bits, but the variable is ${dtype}: pass values, or dtype 'float16'/'bfloat16' (got ${quote(values)})`,
    );
  }
}

/** An array of Variables (and nothing else). */
export function isVariableArray(x: unknown): x is readonly Variable[] {
  return Array.isArray(x) && x.every((v) => v instanceof Variable);
}
