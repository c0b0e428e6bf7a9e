/**
 * The RMSprop optimizer: Keras's API over modules that each do one job, laid out like Keras's
 * `base_optimizer.py`; ARCHITECTURE.md maps them. `#applyStep` is Keras's pipeline, top to bottom.
 */
import { quote } from '../common/quote.js';
import type { World } from '../distributed/world.js';
import type { KernelName } from '../kernels/index.js';
import type { FloatArray } from '../memory/dtype.js';
import { Phase } from '../pool/protocol.js';
import { phaseFailure, type StepError } from '../pool/step-error.js';
import { checkGradients, splitPairs, stageGradients, warnMissingGradients, type Gradient } from './gradients.js';
import { resolveNamedOptions } from './auto-name.js';
import { optionsFromConfig } from './keras-config.js';
import {
  currentLearningRate,
  learningRateConfig,
  learningRateSource,
  reassignedLearningRate,
  type LearningRateSource,
} from './learning-rate.js';
import type { LossScaling } from './loss-scaling.js';
import { reduceNorms } from './norms.js';
import {
  checkRuntimeOptions,
  type KerasConfig,
  type LearningRate,
  type ResolvedOptions,
  type RMSpropOptions,
  type RuntimeOptions,
  localMicroBatches,
} from './options.js';
import {
  kerasConfig,
  loadCheckpoint,
  loadStore,
  saveCheckpoint,
  saveStore,
  type Persisted,
  type SaveOptions,
} from './persistence.js';
import {
  bindVariables,
  buildState,
  checkBuildable,
  gatheredStateVariables,
  indexOfVariable,
  isBuiltWith,
  slotBytes,
  stageAll,
  stateVariables,
  type Built,
  takeAverages,
  writeInitialValues,
} from './state.js';
import { stateCounters, type StateVariable } from './state-listing.js';
import { NO_EXCLUSIONS, weightDecayExclusions, type ExcludeFromWeightDecay } from './weight-decay.js';
import { appliedIterations, planStep } from './step-plan.js';
import { CallDiscipline } from './call-discipline.js';
import {
  exchangeFailure,
  gradientsFiniteEverywhere,
  gradientsToOwners,
  normSumsToAll,
  runAwaited,
  runBlocking,
  valuesToAll,
  type StepAction,
} from './step-drivers.js';
import { isVariableArray, Variable } from './variable.js';

/**
 * Keras 3's `keras.optimizers.RMSprop`, its update run by a pool of worker threads over shared memory. Every
 * Keras argument is an option, in camelCase; the numbers are Keras's, and the same for any number of threads.
 *
 * @example
 * ```ts
 * const w = new Variable(new Float32Array(1024).fill(1), { name: 'w' });
 * const opt = new RMSprop({ learningRate: 1e-3, momentum: 0.9, centered: true });
 * opt.build([w]); // w's values move into shared memory
 * w.grad.fill(0.5); // your gradients, written in place
 * await opt.step(); // the zero-copy step
 * await opt.close(); // the worker threads end
 * ```
 */
export class RMSprop {
  readonly #options: ResolvedOptions;
  #learningRate: LearningRateSource;
  /** Keras's `_iterations`: every apply() call, including accumulation-only ones. */
  #steps = 0;
  #built: Built | null = null;
  #excluded = NO_EXCLUSIONS;
  readonly #calls: CallDiscipline;
  readonly #warnedMissing = new Set<string>();
  #lossScaling: LossScaling | null = null;

  constructor(options: RMSpropOptions = {}) {
    this.#options = resolveNamedOptions(options);
    this.#calls = new CallDiscipline(this.#options.name);
    this.#learningRate = learningRateSource(this.#options.learningRate);
  }

  /** Keras's `name` (default: Keras's auto name, 'rm_sprop', 'rm_sprop_1', ...). */
  get name(): string {
    return this.#options.name;
  }

  /** After `close()`: its threads have ended and its variables may be built into another optimizer. */
  get closed(): boolean {
    return this.#calls.closed;
  }

  /** Keras's `optimizer.iterations`: applied updates (calls / gradientAccumulationSteps). */
  get iterations(): number {
    return appliedIterations(this.#steps, this.#options.gradientAccumulationSteps);
  }

  /** Keras's `_iterations`: every `apply()`/`step()` call, accumulation-only ones included. */
  get calls(): number {
    return this.#steps;
  }

  /** Shared memory held, in bytes (values, gradients, the options' slots, alignment); 0 before build, fixed at build. */
  get memoryBytes(): number {
    return this.#built?.arena.groups.reduce((n, g) => n + g.memory.buffer.byteLength, 0) ?? 0;
  }

  /** Bytes of the optimizer's slots this process holds (a rank of a world: its slice's); 0 before build. */
  get slotBytes(): number {
    return this.#built === null ? 0 : slotBytes(this.#built);
  }

  /** The kernel implementation this optimizer runs: 'wasm' (SIMD, the default) or 'js'. */
  get kernels(): KernelName {
    return this.#options.kernels;
  }

  /** Gradient shards per variable (the `microBatches` option): `step()` applies their mean. */
  get microBatches(): number {
    return this.#options.microBatches;
  }

  /** The world this optimizer is one rank of (the `world` option); null: this process alone. */
  get world(): World | null {
    return this.#options.world;
  }

  /** Worker threads in use (0 = the calling thread); null before build. */
  get workers(): number | null {
    return this.#built?.executor.lanes ?? null;
  }

  /** The current learning rate (float32), as the next step will use it; assignable (a number, schedule or function) unless it is a schedule. */
  get learningRate(): number {
    return currentLearningRate(this.#learningRate, this.#steps);
  }

  set learningRate(value: LearningRate) {
    this.#learningRate = reassignedLearningRate(this.#learningRate, value);
  }

  /** Keras's `optimizer.variables`: iteration, learning_rate (if a number), then the slots. */
  get variables(): StateVariable[] {
    return stateVariables(stateCounters(this.#steps, this.#learningRate), this.#built);
  }

  /**
   * `variables` with every slot whole, on every rank of a world (a collective: every rank calls
   * it, after the same steps); copies. One process: `variables`.
   */
  gatheredVariables(): Promise<StateVariable[]> {
    return this.#calls.serialized(() =>
      gatheredStateVariables(stateCounters(this.#steps, this.#learningRate), this.#built),
    );
  }

  /** @internal A `LossScaleOptimizer` takes over this optimizer's loss scaling (once: `scaling` null asks whether it may). */
  attachLossScaling(scaling: LossScaling | null): void {
    if (this.#lossScaling !== null) throw new Error(`optimizer '${this.name}' is already inside a LossScaleOptimizer`);
    this.#lossScaling = scaling;
  }

  /** Keras's `exclude_from_weight_decay`: by variable, or by name pattern (regex search). Before build only. */
  excludeFromWeightDecay(exclusions: ExcludeFromWeightDecay = {}): void {
    this.#calls.assertUsable();
    if (this.#built !== null) {
      throw new Error('`excludeFromWeightDecay()` can only be configured before the optimizer is built.');
    }
    this.#excluded = weightDecayExclusions(exclusions);
  }

  /** Allocates the arena and the pool for these variables and moves their values into shared memory. */
  build(variables: readonly Variable[]): void {
    this.#calls.assertUsable();
    if (isBuiltWith(this.#built, variables, this.name)) return;
    checkBuildable(variables, this, 'build');
    const built = buildState(variables, this.#options, this.#excluded);
    writeInitialValues(built); // an initializer may throw: then nothing is bound, and no thread has started
    bindVariables(built, this);
    this.#built = built;
  }

  /** Keras's `apply(grads, trainable_variables)`. `grads[i]` is for `variables[i]`; null = no gradient. */
  apply(grads: readonly Gradient[], variables?: readonly Variable[]): Promise<void> {
    return this.#calls.serialized(async () => {
      const built = this.#stageApply(grads, variables);
      if (built !== null) await this.#runStep(built);
    });
  }

  /** Keras's `apply_gradients([(grad, variable), ...])`; queued in call order (apply() runs before the first await). */
  async applyGradients(pairs: ReadonlyArray<readonly [Gradient, Variable]>): Promise<void> {
    return await this.apply(...splitPairs(pairs));
  }

  /** The zero-copy step: every built variable's `.grad` is its gradient. */
  step(): Promise<void> {
    return this.#calls.serialized(() => this.#runStep(stageAll(this.#requireBuilt('step()'))));
  }

  /**
   * This rank will not take the step the other ranks of its world are taking (its gradients
   * failed): they fail theirs, naming this rank, instead of waiting for it. Nothing is changed on
   * any rank. One process: nothing to do.
   */
  abandonStep(): Promise<void> {
    return this.#calls.serialized(async () => await this.#built?.world?.agree(true));
  }

  /** `step()` that returns when done, blocking this thread (for callers that cannot await, as a tfjs optimizer); throws if calls are pending. */
  stepSync(): void {
    this.#calls.assertSynchronous(this.#options.world);
    this.#runStepSync(stageAll(this.#requireBuilt('stepSync()')));
  }

  /** `apply()` that returns when the update is done; see `stepSync()`. */
  applySync(grads: readonly Gradient[], variables?: readonly Variable[]): void {
    this.#calls.assertSynchronous(this.#options.world);
    const built = this.#stageApply(grads, variables);
    if (built !== null) this.#runStepSync(built);
  }

  /** Keras's `finalize_variable_values`: with EMA, variables take their moving averages. */
  finalizeVariableValues(variables?: readonly Variable[]): void {
    this.#calls.assertIdle('finalizeVariableValues');
    if (variables !== undefined && !isVariableArray(variables))
      throw new TypeError(
        `finalizeVariableValues: \`variables\` must be an array of Variable, got ${quote(variables)}`,
      );
    if (this.#options.useEma && this.#built !== null) takeAverages(this.#built, variables, this.name);
  }

  /** Keras's `scale_loss`: multiplies by `lossScaleFactor` when set. */
  scaleLoss(loss: number): number {
    const factor = this.#options.lossScaleFactor;
    return factor === null ? loss : loss * factor;
  }

  /** Keras's `get_config()`: snake_case keys and values as Keras writes them. */
  getConfig(): KerasConfig {
    return kerasConfig(this.#options, learningRateConfig(this.#learningRate, this.#steps));
  }

  /** Keras's `save_own_variables`: copies of `variables`, keyed '0', '1', ... in Keras's order. */
  saveOwnVariables(): Record<string, FloatArray> {
    this.#calls.assertIdle('saveOwnVariables');
    return saveStore(this.variables);
  }

  /** Keras's `load_own_variables`; unlike Keras (which warns and skips), a store that does not fit is refused, nothing assigned. */
  loadOwnVariables(store: Readonly<Record<string, ArrayLike<number>>>): void {
    this.#calls.assertIdle('loadOwnVariables');
    loadStore(store, this.persisted());
  }

  /** Checkpoints config, counters and state (`variables: true`: and the variables) to `path`, atomically, after pending steps. */
  save(path: string, options: SaveOptions = {}): Promise<void> {
    return this.#calls.serialized(() => saveCheckpoint(path, options, this.persisted()));
  }

  /**
   * Restores what `save()` wrote, built over `variables` (the saved names, shapes, dtypes, in order), streamed
   * into its memory: continuing gives the bytes of never stopping. All or nothing: a refused file changes nothing.
   */
  static load(path: string, variables?: readonly Variable[], runtime: RuntimeOptions = {}): Promise<RMSprop> {
    return loadCheckpoint(path, variables, (config) => RMSprop.fromConfig(config, runtime).persisted());
  }

  /** @internal This optimizer as persistence reads, builds and restores it (when the call runs); a LossScaleOptimizer's adds its own. */
  persisted(): Persisted<RMSprop> {
    const own: Persisted<RMSprop> = {
      optimizer: this,
      options: this.#options,
      counters: stateCounters(this.#steps, this.#learningRate),
      built: this.#built,
      buildFrom: async (variables, fill) => {
        const built = buildState(variables, this.#options, this.#excluded);
        await fill(built); // a failure drops the arena: nothing is bound, no thread has started
        bindVariables(built, this);
        this.#built = built;
      },
      setCounters: ({ steps, learningRate }) => {
        this.#steps = steps;
        if (learningRate !== null) this.#learningRate = learningRateSource(learningRate);
      },
    };
    return (this.#lossScaling?.persisted(own) as Persisted<RMSprop> | undefined) ?? own;
  }

  /** Keras's `from_config`; accepts what Python's `optimizer.get_config()` prints. */
  static fromConfig(config: KerasConfig, runtime: RuntimeOptions = {}): RMSprop {
    return new RMSprop({ ...optionsFromConfig(config), ...checkRuntimeOptions(runtime, 'fromConfig') });
  }

  /** After the calls already queued (each bounded by `stepTimeoutMs`), stops every worker thread; variables keep their values. */
  close(): Promise<void> {
    return this.#calls.close(async () => await this.#built?.executor.close());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Checks an apply() call completely (throwing before any change), then stages its gradients; null: nothing to apply. */
  #stageApply(grads: readonly Gradient[], variables?: readonly Variable[]): Built | null {
    this.#calls.assertUsable();
    if (variables === undefined) variables = this.#requireBuilt('apply(grads) without variables').variables;
    const missing = checkGradients(grads, variables, localMicroBatches(this.#options));
    if (missing === null) return null;
    // the gradients fit their variables; now the variables must belong to this optimizer
    if (this.#built === null) this.build(variables);
    const indices = variables.map((v) => indexOfVariable(this.#built!, v, this.name));
    warnMissingGradients(missing, this.#warnedMissing, this.name);
    stageGradients(this.#built!.words.variables, grads, variables, indices); // validated: the call takes effect
    return this.#built;
  }

  #runStep(built: Built): Promise<void> {
    return runAwaited(this.#applyStep(built), built, {
      phase: (phase, cause) => this.#failed(phase, cause),
      exchange: (cause) => this.#calls.failed(exchangeFailure(this.name, this.#steps + 1, cause)),
    });
  }

  #runStepSync(built: Built): void {
    runBlocking(this.#applyStep(built), built, (phase, cause) => this.#failed(phase, cause));
  }

  /**
   * One Keras apply() after gradients are in place: (the first time, commit the arena's pages)
   * plan; the norm phase and its reduction, when norm clipping or loss scaling applies; the
   * step's words; the update phase; count. It yields each phase for the caller to run (awaited,
   * or synchronously), so both drivers follow the same pipeline; a phase that fails ends it
   * before the count. A rank of a world also yields its exchanges (world-exchanges.ts): its
   * micro-batches' sum to the slices' owners before the norm phase, the norms' sums after it,
   * the new values after the update.
   */
  *#applyStep(built: Built): Generator<StepAction, void, void> {
    if (!built.committed) yield Phase.Commit; // the threads that will update the arena commit its pages first
    built.committed = true;
    const plan = planStep(this.#options, this.#steps, this.learningRate);
    yield* gradientsToOwners(built, localMicroBatches(this.#options));
    const scaling = this.#lossScaling;
    const lossScale = scaling === null ? null : scaling.scale;
    let globalScale = 0;
    if (plan.norm !== null || scaling !== null) {
      built.words.writer.write(plan, lossScale, 'norm', globalScale);
      yield Phase.Norm; // with loss scaling, also the test for a non-finite gradient
      if (scaling !== null && !(yield* gradientsFiniteEverywhere(built))) return scaling.skipped();
      if (plan.norm !== null) {
        yield* normSumsToAll(built);
        globalScale = reduceNorms(built.norms, plan.norm, scaling !== null);
      }
    }
    built.words.writer.write(plan, lossScale, 'update', globalScale);
    yield Phase.Update;
    yield* valuesToAll(built, plan);
    this.#steps++;
    scaling?.applied();
  }

  /** The error a failed phase becomes; one that may have left the state half updated breaks the optimizer. */
  #failed(phase: Phase, cause: unknown): StepError {
    return this.#calls.failed(phaseFailure(this.name, this.#steps + 1, phase, cause));
  }

  #requireBuilt(what: string): Built {
    this.#calls.assertUsable();
    if (this.#built === null)
      throw new Error(
        `${what}: optimizer '${this.name}' is not built yet; call build(variables) or apply(grads, variables) first`,
      );
    return this.#built;
  }
}

/** Factory form: `rmsprop(options)` is `new RMSprop(options)`. */
export function rmsprop(options: RMSpropOptions = {}): RMSprop {
  return new RMSprop(options);
}
