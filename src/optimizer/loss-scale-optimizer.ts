/**
 * Keras's `keras.optimizers.LossScaleOptimizer` around this library's RMSprop: dynamic loss
 * scaling for half-precision training. Each step the gradients (of a loss multiplied by
 * `dynamicScale`, see `scaleLoss`) are divided by the scale; a step with an infinite or NaN
 * gradient changes nothing and halves the scale; `dynamicGrowthSteps` finite steps in a row
 * double it. The test for a non-finite gradient is fused into the inner optimizer's pass that
 * sums squares (loss-scaling.ts), so it costs no separate pass over the model.
 */
import { refuseUnknownKeys } from '../common/option-keys.js';
import { quote } from '../common/quote.js';
import type { Gradient } from './gradients.js';
import type { LossScaling } from './loss-scaling.js';
import { loadCheckpoint, type Persisted, type SaveOptions } from './persistence.js';
import { checkRuntimeOptions, type KerasConfig, type LearningRate, type RuntimeOptions } from './options.js';
import { RMSprop } from './optimizer.js';
import type { StateVariable } from './state-listing.js';
import { uniqueName, type Variable } from './variable.js';

/** How to make a `LossScaleOptimizer` (Keras's arguments, camelCase). */
export interface LossScaleOptions {
  /** The first scale (Keras's `initial_scale`, default 2^15): a positive, finite number; a power of two keeps unscaling exact. */
  initialScale?: number;
  /** Finite steps in a row after which the scale doubles (Keras's `dynamic_growth_steps`, default 2000). */
  dynamicGrowthSteps?: number;
  /** Default: Keras's auto name, 'loss_scale_optimizer', 'loss_scale_optimizer_1', ... */
  name?: string;
}

/** A scalar of the state, as `optimizer.variables` lists it. */
function scalar(name: string, dtype: 'int64' | 'float32', value: number): StateVariable {
  return { name, shape: [], dtype, value: dtype === 'float32' ? Float32Array.of(value) : Float64Array.of(value) };
}

/** Keras's config of a LossScaleOptimizer: the inner optimizer serialized as Keras serializes it. */
export interface LossScaleConfig {
  readonly name: string;
  readonly inner_optimizer: {
    readonly module: 'keras.optimizers';
    readonly class_name: 'RMSprop';
    readonly config: KerasConfig;
    readonly registered_name: null;
  };
  readonly initial_scale: number;
  readonly dynamic_growth_steps: number;
}

/**
 * Dynamic loss scaling over an RMSprop, as Keras's `LossScaleOptimizer`: the same API as the
 * inner optimizer for training (`apply`, `applyGradients`, `step`), plus `scaleLoss`,
 * `dynamicScale` and `stepCounter`.
 *
 * @example
 * ```ts
 * const optimizer = new LossScaleOptimizer(new RMSprop({ learningRate: 1e-3 }), { initialScale: 2 ** 15 });
 * const scaledLoss = optimizer.scaleLoss(loss); // backpropagate this one
 * await optimizer.apply(scaledGradients, variables); // skipped, scale halved, if any is not finite
 * ```
 */
export class LossScaleOptimizer {
  readonly name: string;
  readonly innerOptimizer: RMSprop;
  /** Keras's `initial_scale`. */
  readonly initialScale: number;
  /** Keras's `dynamic_growth_steps`. */
  readonly dynamicGrowthSteps: number;
  #scale: number;
  #counter = 0;

  constructor(innerOptimizer: RMSprop, options: LossScaleOptions = {}) {
    const what = 'LossScaleOptimizer';
    if (!(innerOptimizer instanceof RMSprop))
      throw new TypeError(`${what}: \`innerOptimizer\` must be an RMSprop, got ${quote(innerOptimizer)}`);
    if (options === null || typeof options !== 'object')
      throw new TypeError(`${what}: \`options\` must be an object, got ${quote(options)}`);
    refuseUnknownKeys(options, {
      caller: what,
      known: ['initialScale', 'dynamicGrowthSteps', 'name'],
      spelling: 'camelCase',
      tail: ', and the inner optimizer takes the rest (as in Keras)',
    });
    const { initialScale = 2 ** 15, dynamicGrowthSteps = 2000, name = uniqueName('loss_scale_optimizer') } = options;
    if (typeof initialScale !== 'number' || !(initialScale > 0) || !Number.isFinite(Math.fround(initialScale)))
      throw new RangeError(`${what}: \`initialScale\` must be a positive, finite float32, got ${quote(initialScale)}`);
    if (!Number.isSafeInteger(dynamicGrowthSteps) || dynamicGrowthSteps < 1)
      throw new RangeError(
        `${what}: \`dynamicGrowthSteps\` must be an integer of at least 1, got ${quote(dynamicGrowthSteps)}`,
      );
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError(`${what}: \`name\` must be a non-empty string, got ${quote(name)}`);
    if (innerOptimizer.getConfig().loss_scale_factor !== null)
      throw new Error(
        `${what}: the inner optimizer '${innerOptimizer.name}' has a lossScaleFactor; the LossScaleOptimizer scales the loss itself`,
      );
    this.name = name;
    this.innerOptimizer = innerOptimizer;
    this.initialScale = initialScale;
    this.dynamicGrowthSteps = dynamicGrowthSteps;
    this.#scale = Math.fround(initialScale);
    innerOptimizer.attachLossScaling(this.#scaling());
  }

  /** The current scale (Keras's float32 `dynamic_scale` variable). */
  get dynamicScale(): number {
    return this.#scale;
  }

  /** Finite steps since the scale last changed (Keras's `step_counter`). */
  get stepCounter(): number {
    return this.#counter;
  }

  /** Keras's `iterations`: the inner optimizer's, which skipped steps do not count. */
  get iterations(): number {
    return this.innerOptimizer.iterations;
  }

  /** The inner optimizer's learning rate. */
  get learningRate(): number {
    return this.innerOptimizer.learningRate;
  }

  set learningRate(value: LearningRate) {
    this.innerOptimizer.learningRate = value;
  }

  /** After `close()`. */
  get closed(): boolean {
    return this.innerOptimizer.closed;
  }

  /**
   * Keras's `optimizer.variables`: its own `iteration` and `learning_rate` (Keras keeps both at
   * 0), `step_counter`, `dynamic_scale`, then the inner optimizer's.
   */
  get variables(): StateVariable[] {
    return [
      scalar('iteration', 'int64', 0),
      scalar('learning_rate', 'float32', 0),
      scalar('step_counter', 'int64', this.#counter),
      scalar('dynamic_scale', 'float32', this.#scale),
      ...this.innerOptimizer.variables,
    ];
  }

  /** Keras's `scale_loss`: `loss` times the current scale, in float32. */
  scaleLoss(loss: number): number {
    if (typeof loss !== 'number') throw new TypeError(`scaleLoss: \`loss\` must be a number, got ${quote(loss)}`);
    return Math.fround(loss * this.#scale);
  }

  /** Builds the inner optimizer over `variables`. */
  build(variables: readonly Variable[]): void {
    this.innerOptimizer.build(variables);
  }

  /** Keras's `apply`: the gradients of the scaled loss; skipped (scale halved) if any is not finite. */
  apply(grads: readonly Gradient[], variables?: readonly Variable[]): Promise<void> {
    return this.innerOptimizer.apply(grads, variables);
  }

  /** Keras's `apply_gradients([(grad, variable), ...])`. */
  applyGradients(pairs: ReadonlyArray<readonly [Gradient, Variable]>): Promise<void> {
    return this.innerOptimizer.applyGradients(pairs);
  }

  /** The zero-copy step: every built variable's `.grad` holds its scaled gradient. */
  step(): Promise<void> {
    return this.innerOptimizer.step();
  }

  /** `step()` that returns when done (see `RMSprop.stepSync`). */
  stepSync(): void {
    this.innerOptimizer.stepSync();
  }

  /** Keras's `finalize_variable_values` (the inner optimizer's EMA). */
  finalizeVariableValues(variables?: readonly Variable[]): void {
    this.innerOptimizer.finalizeVariableValues(variables);
  }

  /** Keras's `get_config()`: the inner optimizer nested as Keras serializes it. */
  getConfig(): LossScaleConfig {
    return {
      name: this.name,
      inner_optimizer: {
        module: 'keras.optimizers',
        class_name: 'RMSprop',
        config: this.innerOptimizer.getConfig(),
        registered_name: null,
      },
      initial_scale: this.initialScale,
      dynamic_growth_steps: this.dynamicGrowthSteps,
    };
  }

  /** Keras's `from_config`; accepts what Python's `get_config()` prints. `runtime` goes to the inner optimizer. */
  static fromConfig(config: LossScaleConfig, runtime: RuntimeOptions = {}): LossScaleOptimizer {
    const what = 'LossScaleOptimizer.fromConfig';
    if (config === null || typeof config !== 'object')
      throw new TypeError(`${what}: \`config\` must be an object, got ${quote(config)}`);
    const inner: unknown = config.inner_optimizer;
    const innerClass: unknown =
      inner !== null && typeof inner === 'object' ? Reflect.get(inner, 'class_name') : undefined;
    if (innerClass !== 'RMSprop')
      throw new TypeError(`${what}: \`inner_optimizer\` must be a serialized RMSprop, got ${quote(inner)}`);
    const unknown = Object.keys(config).filter(
      (k) => !['name', 'inner_optimizer', 'initial_scale', 'dynamic_growth_steps'].includes(k),
    );
    if (unknown.length > 0)
      throw new Error(`${what}: LossScaleOptimizer does not support arguments: ${unknown.join(', ')}`);
    const innerOptimizer = RMSprop.fromConfig(config.inner_optimizer.config, checkRuntimeOptions(runtime, what));
    return new LossScaleOptimizer(innerOptimizer, {
      name: config.name,
      initialScale: config.initial_scale,
      dynamicGrowthSteps: config.dynamic_growth_steps,
    });
  }

  /**
   * Checkpoints what the inner optimizer's `save` writes, with this optimizer's config (the inner
   * one nested) and its `step_counter` and `dynamic_scale` after the inner counters; atomically,
   * after pending steps.
   */
  save(path: string, options: SaveOptions = {}): Promise<void> {
    return this.innerOptimizer.save(path, options); // the inner optimizer asks #persisted what to write
  }

  /**
   * Restores what `save()` wrote, built over `variables` (as `RMSprop.load`): the scale and the
   * counter continue where they were. All or nothing: a refused file changes nothing.
   */
  static async load(
    path: string,
    variables?: readonly Variable[],
    runtime: RuntimeOptions = {},
  ): Promise<LossScaleOptimizer> {
    let made: LossScaleOptimizer | null = null;
    await loadCheckpoint(path, variables, (config) => {
      made = LossScaleOptimizer.fromConfig(config as unknown as LossScaleConfig, runtime);
      return made.innerOptimizer.persisted(); // through #persisted: this optimizer's counters and config
    });
    return made!;
  }

  /** The inner optimizer as persistence sees it, with this optimizer's config and counters. */
  #persisted(persisted: Persisted): Persisted {
    const inner = this.innerOptimizer;
    return {
      ...persisted,
      optimizer: {
        name: this.name,
        get closed() {
          return inner.closed;
        },
        get variables() {
          return inner.variables;
        },
        getConfig: () => this.getConfig() as unknown as KerasConfig,
        build: (variables) => inner.build(variables),
        close: () => this.close(),
      },
      extra: {
        state: [scalar('step_counter', 'int64', this.#counter), scalar('dynamic_scale', 'float32', this.#scale)],
        check: ([counter, scale], what) => {
          if (!Number.isSafeInteger(counter) || counter! < 0)
            throw new RangeError(`${what}: 'step_counter' must be a non-negative integer, got ${quote(counter)}`);
          if (!(scale! > 0) || !Number.isFinite(scale))
            throw new RangeError(`${what}: 'dynamic_scale' must be a positive, finite float32, got ${quote(scale)}`);
          return () => {
            this.#counter = counter!;
            this.#scale = Math.fround(scale!);
          };
        },
      },
    };
  }

  /** Closes the inner optimizer (its threads end; variables keep their values). */
  close(): Promise<void> {
    return this.innerOptimizer.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** What the inner optimizer's pipeline asks each step (Keras's `apply`, after the finiteness test). */
  #scaling(): LossScaling {
    const scaler = this; // eslint-disable-line @typescript-eslint/no-this-alias -- a getter reads the live scale
    return {
      get scale() {
        return scaler.#scale;
      },
      skipped: () => {
        this.#counter = 0;
        this.#scale = Math.fround(this.#scale * 0.5);
      },
      persisted: (inner) => this.#persisted(inner),
      applied: () => {
        if (this.#counter === this.dynamicGrowthSteps - 1) {
          this.#counter = 0;
          this.#scale = Math.fround(this.#scale * 2);
        } else this.#counter++;
      },
    };
  }
}
