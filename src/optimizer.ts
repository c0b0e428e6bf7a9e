/**
 * The RMSprop optimizer: Keras's apply pipeline, read top to bottom in `#applyStep`, with the
 * per-element work delegated to an executor (the calling thread or the worker pool) over the
 * shared arena. Everything that can be refused is checked before anything changes.
 */
import { allocateArena, groupViews, type ArenaDescriptor, type GroupViews } from './arena.js';
import { roundingFor, type FloatArray } from './dtype.js';
import { checkCheckpoint, readCheckpointFile, writeCheckpointFile, type Checkpoint } from './checkpoint.js';
import { quote, StepError } from './errors.js';
import { InlineExecutor, type Executor } from './executor.js';
import { fieldsFor, planGroups, type Field } from './layout.js';
import { prepareKernels, type KernelName } from './kernels/index.js';
import {
  currentLearningRate,
  learningRateConfig,
  learningRateSource,
  type LearningRateSource,
} from './learning-rate.js';
import {
  checkRuntimeOptions,
  isLearningRate,
  KERAS_OPTIONS,
  optionsFromConfig,
  resolveLanes,
  resolveOptions,
  type KerasConfig,
  type LearningRate,
  type ResolvedOptions,
  type RMSpropOptions,
  type RuntimeOptions,
} from './options.js';
import { reduceNorms, type NormInputs } from './norms.js';
import { PoolExecutor } from './pool.js';
import { AccumMode, ClipMode, Phase, Sc, VP } from './protocol.js';
import { camelToSnake } from './schedules.js';
import { checkState, counterNames, slotSpecs, stateLayout, type StateArray, type StateCounters } from './state.js';
import { Variable } from './variable.js';

/** A gradient as accepted by `apply`: one value per element of its variable, or null for none. */
export type Gradient = Float32Array | Float64Array | readonly number[] | null | undefined;

/** One entry of `optimizer.variables`, Keras's optimizer state. */
export interface StateVariable {
  readonly name: string;
  readonly shape: readonly number[];
  /** Slots are live views into the arena; `iteration` and `learning_rate` are snapshots. */
  readonly value: FloatArray;
}

interface Built {
  readonly variables: readonly Variable[];
  readonly index: ReadonlyMap<Variable, number>;
  /** [group, offset] of each variable. */
  readonly placement: ReadonlyArray<readonly [number, number]>;
  readonly arena: ArenaDescriptor;
  /** Typed-array views of every field, made once at build. */
  readonly views: readonly GroupViews[];
  readonly executor: Executor;
  /** What norm clipping's reduction reads and writes (its scratch sized once). */
  readonly norms: NormInputs;
}

export class RMSprop {
  readonly #options: ResolvedOptions;
  #learningRate: LearningRateSource;
  /** Keras's `_iterations`: every apply() call, including accumulation-only ones. */
  #steps = 0;
  #built: Built | null = null;
  #excludedVariables = new Set<Variable>();
  #excludedPattern: RegExp | null = null;
  /** Settles when the last queued call has; never rejects. */
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;
  #closed = false;
  #broken: Error | null = null;
  readonly #warnedMissing = new Set<string>();

  constructor(options: RMSpropOptions = {}) {
    this.#options = resolveOptions(options);
    this.#learningRate = learningRateSource(this.#options.learningRate);
  }

  get name(): string {
    return this.#options.name;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Keras's `optimizer.iterations`: applied updates (calls / gradientAccumulationSteps). */
  get iterations(): number {
    const k = this.#options.gradientAccumulationSteps;
    return k ? Math.floor(this.#steps / k) : this.#steps;
  }

  /**
   * Bytes of shared memory the optimizer holds: values, gradients and the slots the options need,
   * 4 (or 8) bytes each per parameter, plus alignment padding; 0 before build. Fixed at build.
   */
  get memoryBytes(): number {
    return this.#built?.arena.groups.reduce((n, g) => n + g.memory.buffer.byteLength, 0) ?? 0;
  }

  /** The kernel implementation this optimizer runs: 'wasm' (SIMD, the default) or 'js'. */
  get kernels(): KernelName {
    return this.#options.kernels;
  }

  /** Worker threads in use (0 = the calling thread); null before build. */
  get workers(): number | null {
    return this.#built?.executor.lanes ?? null;
  }

  /** The current learning rate (float32), as the next step will use it. */
  get learningRate(): number {
    return currentLearningRate(this.#learningRate, this.#steps);
  }

  set learningRate(value: LearningRate) {
    if (!isLearningRate(value)) {
      throw new TypeError(
        `learningRate must be a finite float32 number, a LearningRateSchedule or a function, got ${quote(value)}`,
      );
    }
    if (typeof value !== 'number') {
      this.#learningRate = learningRateSource(value);
    } else if (this.#learningRate.kind === 'variable') {
      this.#learningRate = learningRateSource(value);
    } else {
      throw new TypeError(
        `This optimizer was created with a ${this.#learningRate.kind === 'schedule' ? 'LearningRateSchedule' : 'function'} ` +
          'as its `learningRate`, hence its learning rate is not settable to a number. Assign a schedule or a function, ' +
          'or create the optimizer with a number `learningRate`.',
      );
    }
  }

  /** Keras's `optimizer.variables`: iteration, learning_rate (if a number), then the slots. */
  get variables(): StateVariable[] {
    const state: StateVariable[] = [{ name: 'iteration', shape: [], value: Float64Array.of(this.#steps) }];
    if (this.#learningRate.kind === 'variable') {
      state.push({ name: 'learning_rate', shape: [], value: Float32Array.of(this.#learningRate.value) });
    }
    const built = this.#built;
    if (built === null) return state;
    for (const slot of slotSpecs(fieldsOf(this.#options), built.variables)) {
      state.push({ name: slot.name, shape: slot.shape, value: slotOf(built, slot.index, slot.field)! });
    }
    return state;
  }

  /** Keras's `exclude_from_weight_decay`: by variable, or by name pattern (regex search). Before build only. */
  excludeFromWeightDecay({
    varList,
    varNames,
  }: { varList?: readonly Variable[]; varNames?: readonly string[] } = {}): void {
    this.#assertUsable();
    if (this.#built !== null) {
      throw new Error('`excludeFromWeightDecay()` can only be configured before the optimizer is built.');
    }
    if (varList !== undefined && !isVariableArray(varList)) {
      throw new TypeError('excludeFromWeightDecay: `varList` must be an array of Variables');
    }
    if (varNames !== undefined && !(Array.isArray(varNames) && varNames.every((n) => typeof n === 'string'))) {
      throw new TypeError('excludeFromWeightDecay: `varNames` must be an array of strings');
    }
    let pattern: RegExp | null = null;
    if (varNames !== undefined && varNames.length > 0) {
      try {
        pattern = new RegExp([...new Set(varNames)].join('|'));
      } catch (cause) {
        throw new SyntaxError(`excludeFromWeightDecay: \`varNames\` do not form a valid pattern`, { cause });
      }
    }
    this.#excludedVariables = new Set(varList ?? []);
    this.#excludedPattern = pattern;
  }

  /** Allocates the arena and the pool for these variables and moves their values into shared memory. */
  build(variables: readonly Variable[]): void {
    this.#assertUsable();
    if (this.#built !== null && isVariableArray(variables)) {
      const same =
        variables.length === this.#built.variables.length && variables.every((v) => this.#built!.index.has(v));
      if (same) return;
      throw new Error(`optimizer '${this.name}' is already built with ${this.#built.variables.length} other variables`);
    }
    this.#checkBuildable(variables, 'build');
    const o = this.#options;
    prepareKernels(o.kernels);
    const total = variables.reduce((n, v) => n + v.size, 0);
    const lanes = resolveLanes(o.workers, total, o.kernels);
    const fields = fieldsOf(o);
    const plans = planGroups(variables, Math.max(1, lanes), fields.length, o.maxSegmentBytes);
    const arena = allocateArena(plans, fields, variables.length, Math.max(1, lanes));
    const placement: Array<readonly [number, number]> = new Array(variables.length);
    plans.forEach((plan, g) => plan.variables.forEach((v, k) => (placement[v] = [g, plan.offsets[k]!])));
    this.#initScalars(arena, variables);
    const views = arena.groups.map(groupViews);
    const executor: Executor =
      lanes > 0
        ? new PoolExecutor(arena, views, o.kernels, lanes, o.stepTimeoutMs, o.threadIdleMs)
        : new InlineExecutor(arena, views, o.kernels);
    const built: Built = {
      variables: [...variables],
      index: new Map(variables.map((v, i) => [v, i])),
      placement,
      arena,
      views,
      executor,
      norms: {
        arena,
        dtypes: variables.map((v) => v.dtype),
        sums: new Float64Array(variables.length),
        globalRounding: roundingFor(variables.some((v) => v.dtype === 'float64') ? 'float64' : 'float32'),
      },
    };
    variables.forEach((v, i) => v.attach(this, slotOf(built, i, 'value')!, slotOf(built, i, 'grad')!));
    this.#built = built;
  }

  /**
   * What `build(variables)` would refuse, checked without building: the list, repeated variables
   * or names (a checkpoint keys every array by name), and variables another optimizer holds.
   */
  #checkBuildable(variables: readonly Variable[], what: string): void {
    if (!isVariableArray(variables) || variables.length === 0) {
      throw new TypeError(`${what}: \`variables\` must be a non-empty array of Variable, got ${quote(variables)}`);
    }
    if (new Set(variables).size !== variables.length) throw new Error(`${what}: the same Variable is listed twice`);
    const first = new Map<string, number>();
    variables.forEach((v, i) => {
      const j = first.get(v.name);
      if (j !== undefined)
        throw new Error(
          `${what}: variables ${j} and ${i} are both named '${v.name}'; names must be unique (checkpoints key arrays by name)`,
        );
      first.set(v.name, i);
    });
    for (const v of variables) v.assertAvailableTo(this);
  }

  /** Keras's `apply(grads, trainable_variables)`. `grads[i]` is for `variables[i]`; null = no gradient. */
  apply(grads: readonly Gradient[], variables?: readonly Variable[]): Promise<void> {
    return this.#serialized(() => this.#applyGrads(grads, variables));
  }

  /** Keras's `apply_gradients([(grad, variable), ...])`. */
  applyGradients(pairs: ReadonlyArray<readonly [Gradient, Variable]>): Promise<void> {
    if (!Array.isArray(pairs) || !pairs.every((p) => Array.isArray(p) && p.length === 2)) {
      return Promise.reject(new TypeError('applyGradients: expected an array of [gradient, variable] pairs'));
    }
    return this.apply(
      pairs.map((p) => p[0]),
      pairs.map((p) => p[1]),
    );
  }

  /** The zero-copy step: every built variable's `.grad` is its gradient. */
  step(): Promise<void> {
    return this.#serialized(() => this.#runStep(this.#stageAll('step()')));
  }

  /**
   * `step()` that returns when the update is done, for callers that cannot await (a tfjs
   * optimizer's `applyGradients`). It blocks the calling thread meanwhile; the pool still does
   * the work when its threads are up, else the calling thread does (the same bytes either way).
   * Throws if async calls are pending.
   */
  stepSync(): void {
    this.#assertNothingPending();
    this.#runStepSync(this.#stageAll('stepSync()'));
  }

  /** `apply()` that returns when the update is done; see `stepSync()`. */
  applySync(grads: readonly Gradient[], variables?: readonly Variable[]): void {
    this.#assertNothingPending();
    const built = this.#stageGradients(grads, variables);
    if (built !== null) this.#runStepSync(built);
  }

  /** Keras's `finalize_variable_values`: with EMA, variables take their moving averages. */
  finalizeVariableValues(variables?: readonly Variable[]): void {
    this.#assertUsable();
    this.#assertIdle('finalizeVariableValues');
    if (variables !== undefined && !isVariableArray(variables)) {
      throw new TypeError(
        `finalizeVariableValues: \`variables\` must be an array of Variable, got ${quote(variables)}`,
      );
    }
    if (!this.#options.useEma || this.#built === null) return;
    const built = this.#built;
    const indices = (variables ?? built.variables).map((v) => this.#indexOf(built, v)); // all checked before any is assigned
    indices.forEach((i) => built.variables[i]!.value.set(slotOf(built, i, 'average')!));
  }

  /** Keras's `scale_loss`: multiplies by `lossScaleFactor` when set. */
  scaleLoss(loss: number): number {
    const factor = this.#options.lossScaleFactor;
    return factor === null ? loss : loss * factor;
  }

  /** Keras's `get_config()`: snake_case keys and values as Keras writes them. */
  getConfig(): KerasConfig {
    const config: KerasConfig = {};
    for (const spec of KERAS_OPTIONS) {
      config[camelToSnake(spec.option)] = this.#options[spec.option];
      if (spec.option === 'name') config.learning_rate = learningRateConfig(this.#learningRate, this.#steps);
    }
    return config;
  }

  /** Keras's `save_own_variables`: copies of `variables`, keyed '0', '1', ... in Keras's order. */
  saveOwnVariables(): Record<string, FloatArray> {
    this.#assertUsable();
    this.#assertIdle('saveOwnVariables');
    return Object.fromEntries(this.variables.map((v, i) => [String(i), v.value.slice()]));
  }

  /**
   * Keras's `load_own_variables`: assigns a store made by `saveOwnVariables` (or Keras) to
   * `variables` in order. Unlike Keras, which warns and skips, a store that does not fit is
   * refused with an error naming the entry, and nothing is assigned.
   */
  loadOwnVariables(store: Readonly<Record<string, ArrayLike<number>>>): void {
    this.#assertUsable();
    this.#assertIdle('loadOwnVariables');
    if (store === null || typeof store !== 'object') throw new TypeError('loadOwnVariables: `store` must be an object');
    const state = this.variables;
    const keys = Object.keys(store);
    if (keys.length !== state.length) {
      throw new Error(
        `loadOwnVariables: the store holds ${keys.length} arrays, optimizer '${this.name}' has ${state.length} variables` +
          (this.#built === null ? ' (it is not built yet: build it with the model variables first)' : ''),
      );
    }
    const arrays = state.map((_, i) => store[String(i)]);
    const layout = state.map(({ name, value }) => ({ name, length: value.length }));
    this.#assignState(arrays as StateArray[], checkState(arrays, layout, 'loadOwnVariables'));
  }

  /**
   * Checkpoints the config, the iteration counter and every state array to `path` in the
   * safetensors layout (Python's `safetensors` reads it), atomically; with `variables: true`
   * also the values of the built variables. Runs after any pending step.
   */
  save(path: string, { variables = false }: { variables?: boolean } = {}): Promise<void> {
    return this.#serialized(async () => {
      if (typeof path !== 'string' || path.length === 0)
        throw new TypeError(`save: \`path\` must be a non-empty string, got ${quote(path)}`);
      if (typeof variables !== 'boolean')
        throw new TypeError(`save: \`variables\` must be a boolean, got ${quote(variables)}`);
      const built = this.#built;
      if (variables && built === null) throw new Error('save: `variables: true` needs a built optimizer');
      await writeCheckpointFile(path, {
        config: this.getConfig(),
        state: this.variables.map((v) => ({
          name: v.name,
          shape: v.shape,
          data: v.name === 'iteration' ? BigInt64Array.of(BigInt(this.#steps)) : v.value,
        })),
        variables:
          variables && built !== null
            ? built.variables.map((v) => ({ name: v.name, shape: v.shape, data: v.value }))
            : null,
      });
    });
  }

  /**
   * Restores an optimizer saved by `save()`: its config, iteration counter and state arrays,
   * built over `variables` (which must have the saved names, shapes and dtypes, in order) —
   * and, if the checkpoint holds them, the variables' values. Continuing from it gives the same
   * bytes as never having stopped. Everything is checked before anything changes.
   */
  static async load(path: string, variables?: readonly Variable[], runtime: RuntimeOptions = {}): Promise<RMSprop> {
    if (variables !== undefined && !isVariableArray(variables)) {
      throw new TypeError(`load: \`variables\` must be an array of Variable, got ${quote(variables)}`);
    }
    const checkpoint = await readCheckpointFile(path);
    const optimizer = RMSprop.fromConfig(checkpoint.config, runtime);
    try {
      optimizer.#restore(checkpoint, variables, path);
    } catch (error) {
      await optimizer.close(); // a refused load keeps no threads and no claim on the variables
      throw error;
    }
    return optimizer;
  }

  /** Checks everything the checkpoint promises against the options and `variables`, then builds and assigns. */
  #restore(checkpoint: Checkpoint, variables: readonly Variable[] | undefined, path: string): void {
    if (variables !== undefined) this.#checkBuildable(variables, 'load');
    const slots = slotSpecs(fieldsOf(this.#options), variables ?? []);
    checkCheckpoint(checkpoint, path, {
      counters: counterNames(this.#learningRate.kind === 'variable'),
      variables: variables?.map((v) => ({ name: v.name, shape: v.shape, dtype: v.dtype })),
      slots: variables === undefined ? undefined : slots,
    });
    const layout = stateLayout(this.#learningRate.kind === 'variable', slots);
    const arrays = checkpoint.state.map((a) => a.data);
    const counters = checkState(arrays, layout, `checkpoint '${path}'`);
    if (variables !== undefined) this.build(variables);
    checkpoint.variables?.forEach((saved, i) => variables![i]!.value.set(saved.data as FloatArray));
    this.#assignState(arrays, counters);
  }

  /** iteration, and learning_rate when the learning rate is a number: the state entries before the slots. */
  #counterCount(): number {
    return counterNames(this.#learningRate.kind === 'variable').length;
  }

  /** Assigns `arrays`, checked by `checkState`, to the first entries of `variables`, in order. */
  #assignState(arrays: ReadonlyArray<StateArray>, counters: StateCounters): void {
    const state = this.variables;
    this.#steps = counters.steps;
    if (counters.learningRate !== null) this.#learningRate = learningRateSource(counters.learningRate);
    arrays.forEach((data, i) => {
      if (i >= this.#counterCount()) state[i]!.value.set(data as ArrayLike<number>);
    });
  }

  /** Keras's `from_config`; accepts what Python's `optimizer.get_config()` prints. */
  static fromConfig(config: KerasConfig, runtime: RuntimeOptions = {}): RMSprop {
    return new RMSprop({ ...optionsFromConfig(config), ...checkRuntimeOptions(runtime, 'fromConfig') });
  }

  /** Stops every worker thread. Variables keep their values (and remain usable with another optimizer). */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#serialized(
      async () => {
        if (this.#closed) return;
        this.#closed = true;
        await this.#built?.executor.close();
      },
      { whenUsable: false },
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- the apply pipeline ----------------------------------------------------------------

  async #applyGrads(grads: readonly Gradient[], variables?: readonly Variable[]): Promise<void> {
    const built = this.#stageGradients(grads, variables);
    if (built !== null) await this.#runStep(built);
  }

  /**
   * Checks an apply() call completely, then puts its gradients in place; returns null when
   * there is nothing to apply. Throws before changing anything.
   */
  #stageGradients(grads: readonly Gradient[], variables?: readonly Variable[]): Built | null {
    this.#assertUsable();
    if (!Array.isArray(grads)) throw new TypeError('apply: `grads` must be an array');
    if (variables === undefined) {
      variables = this.#requireBuilt('apply(grads) without variables').variables;
    } else if (!isVariableArray(variables)) {
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
      if (!(g instanceof Float32Array || g instanceof Float64Array || Array.isArray(g))) {
        throw new TypeError(`apply: the gradient for '${v.name}' must be a Float32Array, Float64Array or number[]`);
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
    // the gradients fit their variables; now the variables must belong to this optimizer
    if (this.#built === null) this.build(variables);
    const built = this.#built!;
    const indices = variables.map((v) => this.#indexOf(built, v));
    this.#warnMissing(missing);
    // validated: from here on the call takes effect
    const params = built.arena.varParams;
    for (let i = 0; i < built.variables.length; i++) params[i * VP.Stride + VP.HasGrad] = 0;
    grads.forEach((g, k) => {
      if (g === null || g === undefined) return;
      const v = variables[k]!;
      params[indices[k]! * VP.Stride + VP.HasGrad] = 1;
      if (g !== v.grad) v.grad!.set(g);
    });
    return built;
  }

  /** Every variable's `.grad` is its gradient (the zero-copy step). */
  #stageAll(what: string): Built {
    this.#assertUsable();
    const built = this.#requireBuilt(what);
    for (let i = 0; i < built.variables.length; i++) built.arena.varParams[i * VP.Stride + VP.HasGrad] = 1;
    return built;
  }

  async #runStep(built: Built): Promise<void> {
    for (const phase of this.#applyStep(built)) {
      try {
        await built.executor.run(phase);
      } catch (cause) {
        throw this.#failed(phase, cause);
      }
    }
  }

  #runStepSync(built: Built): void {
    for (const phase of this.#applyStep(built)) {
      try {
        built.executor.runSync(phase);
      } catch (cause) {
        throw this.#failed(phase, cause);
      }
    }
  }

  /**
   * One Keras apply() after gradients are in place: scalars, optional norm phase, update phase,
   * count. It yields each phase for the caller to run (awaited, or synchronously), so both
   * drivers follow the same pipeline; a phase that fails ends it before the count.
   */
  *#applyStep(built: Built): Generator<Phase, void, void> {
    const o = this.#options;
    const s = built.arena.scalars;
    const k = o.gradientAccumulationSteps ?? 0;
    const lr = currentLearningRate(this.#learningRate, this.#steps);
    const accumMode =
      k === 0 ? AccumMode.Off : (this.#steps + 1) % k === 0 ? AccumMode.ApplyAccumulated : AccumMode.Accumulate;
    const updating = accumMode !== AccumMode.Accumulate;
    const iterations = this.iterations;
    const emaMomentum = iterations === 0 ? 0 : Math.fround(o.emaMomentum);
    s[Sc.LearningRate] = lr;
    s[Sc.AccumMode] = accumMode;
    s[Sc.EmaMomentum] = emaMomentum;
    s[Sc.EmaOneMinusMomentum] = Math.fround(1 - emaMomentum);
    s[Sc.Overwrite] = o.useEma && o.emaOverwriteFrequency && (iterations + 1) % o.emaOverwriteFrequency === 0 ? 1 : 0;
    s[Sc.ClipMode] = ClipMode.Off;

    if (updating) {
      const clip = clipModeOf(o);
      if (clip === ClipMode.Norm || clip === ClipMode.GlobalNorm) {
        yield Phase.Norm;
        reduceNorms(built.norms, clip, clip === ClipMode.Norm ? o.clipnorm! : o.globalClipnorm!);
      }
      s[Sc.ClipMode] = clip;
    }
    yield Phase.Update;
    this.#steps++;
  }

  /** The error a failed phase becomes; a norm phase only reads, an update phase may be half done. */
  #failed(phase: Phase, cause: unknown): StepError {
    const corrupted = phase === Phase.Update || (cause instanceof StepError && cause.stateCorrupted);
    const error = new StepError(
      `step ${this.#steps + 1} of optimizer '${this.name}' failed in the ${phase === Phase.Norm ? 'norm' : 'update'} phase: ` +
        `${cause instanceof Error ? cause.message : String(cause)}` +
        (corrupted
          ? '; its state may be partly updated: rebuild it (new optimizer, restored variables)'
          : '; nothing was changed'),
      { cause, stateCorrupted: corrupted },
    );
    if (corrupted) this.#broken = error;
    return error;
  }

  /** Scalars fixed for the optimizer's life, and the per-variable weight-decay flags. */
  #initScalars(arena: ArenaDescriptor, variables: readonly Variable[]): void {
    const o = this.#options;
    const f = Math.fround;
    const s = arena.scalars;
    s[Sc.Rho] = f(o.rho);
    s[Sc.OneMinusRho] = f(1 - o.rho);
    s[Sc.Epsilon] = f(o.epsilon);
    s[Sc.Momentum] = o.momentum > 0 ? f(o.momentum) : 0;
    s[Sc.LossScale] = o.lossScaleFactor === null ? 0 : f(o.lossScaleFactor);
    s[Sc.LossScaleOn] = o.lossScaleFactor === null ? 0 : 1;
    s[Sc.AccumSteps] = o.gradientAccumulationSteps ?? 0;
    const clip = clipModeOf(o);
    s[Sc.ClipValue] = clip === ClipMode.Norm ? f(o.clipnorm!) : clip === ClipMode.Value ? f(o.clipvalue!) : 0;
    s[Sc.WeightDecay] = o.weightDecay === null ? 0 : f(o.weightDecay);
    s[Sc.WeightDecayOn] = o.weightDecay === null ? 0 : 1;
    s[Sc.EmaOn] = o.useEma ? 1 : 0;
    variables.forEach((v, i) => {
      const excluded = this.#excludedVariables.has(v) || (this.#excludedPattern?.test(v.name) ?? false);
      arena.varParams[i * VP.Stride + VP.Decay] = excluded ? 0 : 1;
    });
  }

  // ---- plumbing ---------------------------------------------------------------------------

  /**
   * Runs `work` after every earlier call has settled: calls never interleave. Whether the
   * optimizer is still usable is checked when the work starts, so a call queued behind a step
   * that broke the state rejects without running. The returned promise is the caller's alone:
   * the queue waits on a separate one, so a failure nobody awaits is an unhandled rejection.
   */
  #serialized(work: () => Promise<void>, { whenUsable = true } = {}): Promise<void> {
    this.#pending++;
    const previous = this.#queue;
    let release!: () => void;
    this.#queue = new Promise<void>((resolve) => (release = resolve));
    return (async () => {
      await previous; // never rejects
      try {
        if (whenUsable) this.#assertUsable();
        await work();
      } finally {
        this.#pending--;
        release();
      }
    })();
  }

  #warnMissing(names: readonly string[]): void {
    const fresh = names.filter((n) => !this.#warnedMissing.has(n));
    if (fresh.length === 0) return;
    for (const n of fresh) this.#warnedMissing.add(n);
    process.emitWarning(
      `Gradients do not exist for variables ${fresh.map((n) => `'${n}'`).join(', ')} when applying optimizer '${this.name}'; they are not updated this step.`,
      { code: 'RMSPROP_POOL_MISSING_GRADIENTS' },
    );
  }

  #indexOf(built: Built, v: Variable): number {
    const i = built.index.get(v);
    if (i === undefined) {
      throw new Error(`Variable '${v?.name}' was not built with optimizer '${this.name}'`);
    }
    return i;
  }

  #requireBuilt(what: string): Built {
    this.#assertUsable();
    if (this.#built === null)
      throw new Error(
        `${what}: optimizer '${this.name}' is not built yet; call build(variables) or apply(grads, variables) first`,
      );
    return this.#built;
  }

  /** Calls that read or write the state directly must not race a queued apply()/step(). */
  #assertIdle(what: string, why = 'wait for the pending apply()/step() first'): void {
    if (this.#pending > 0) throw new Error(`${what}: ${why}`);
  }

  /** A synchronous step must not touch gradients or state that a queued call is about to use. */
  #assertNothingPending(): void {
    this.#assertIdle(
      `optimizer '${this.name}'`,
      'a synchronous step cannot overtake pending apply()/step() calls; await them first',
    );
  }

  #assertUsable(): void {
    if (this.#closed) throw new Error(`optimizer '${this.name}' is closed`);
    if (this.#broken !== null)
      throw new Error(`optimizer '${this.name}' must be rebuilt: ${this.#broken.message}`, { cause: this.#broken });
  }
}

function isVariableArray(x: unknown): x is readonly Variable[] {
  return Array.isArray(x) && x.every((v) => v instanceof Variable);
}

/** Variable `i`'s part of a field (a live view), or null when the options need no such slot. */
function slotOf(built: Built, i: number, field: Field): FloatArray | null {
  const [group, offset] = built.placement[i]!;
  const whole = built.views[group]![field];
  return whole === null ? null : whole.subarray(offset, offset + built.variables[i]!.size);
}

/** The arrays the options need: value, grad, velocity, then the optional slots. */
function fieldsOf(o: ResolvedOptions): Field[] {
  return fieldsFor({
    momentum: o.momentum > 0,
    centered: o.centered,
    ema: o.useEma,
    accumulation: Boolean(o.gradientAccumulationSteps),
  });
}

function clipModeOf(o: ResolvedOptions): number {
  if (o.clipnorm && o.clipnorm > 0) return ClipMode.Norm;
  if (o.globalClipnorm && o.globalClipnorm > 0) return ClipMode.GlobalNorm;
  if (o.clipvalue && o.clipvalue > 0) return ClipMode.Value;
  return ClipMode.Off;
}

/** Factory form: `rmsprop(options)` is `new RMSprop(options)`. */
export function rmsprop(options: RMSpropOptions = {}): RMSprop {
  return new RMSprop(options);
}
