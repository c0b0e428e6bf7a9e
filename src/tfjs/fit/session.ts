/**
 * What a fit trains with, from its start to its end: the model's weights as variables, the
 * optimizer, and a `DataParallelTrainer` of `tfjsReplica` threads that rebuild the model (from
 * its topology, or from the factory module) and compute its compiled loss and metrics. The
 * session turns a step's and a validation's values into tfjs's logs, and writes the trained
 * weights back into the model.
 */
import { RMSprop } from '../../optimizer/optimizer.js';
import type { Variable } from '../../optimizer/variable.js';
import { DataParallelTrainer, type Batch, type BatchArray, type Evaluation } from '../../training/trainer.js';
import { assignToModel, modelVariables, tfjsReplica } from '../data-parallel.js';
import { isTfjsLoss } from '../losses.js';
import type { TfjsReplicaOptions } from '../replica-options.js';
import { modelRow, type TrainableModel } from '../replica.js';
import { TfjsRMSprop } from '../adapter.js';
import type { ArgsCheck, CheckedDataParallelArgs, DataParallelArgs } from './fit-args.js';
import type { Logs } from './callbacks.js';

/** What a fit needs of a tfjs-layers model: a compiled one (`LayersModel`). */
export interface FitModel extends TrainableModel {
  readonly metricsNames?: readonly string[];
  readonly metrics?: unknown;
  readonly optimizer?: unknown;
  stopTraining?: boolean;
  history?: unknown;
  toJSON(unused?: null, returnString?: boolean): unknown;
}

/** The variables each optimizer was built over by a fit, and the model they hold: a later fit goes on with them. */
const builtFor = new WeakMap<RMSprop, { model: FitModel; variables: Variable[] }>();

const f32 = Math.fround;

export class FitSession {
  readonly trainer: DataParallelTrainer;
  readonly optimizer: RMSprop;
  readonly variables: readonly Variable[];
  /** The logs' names: the model's metrics names ('loss' first). */
  readonly labels: readonly string[];
  /** Values per input and per target row. */
  readonly widths: { readonly x: number; readonly y: number };
  readonly #model: FitModel;
  /** Whether the optimizer is this fit's, to close at its end. */
  readonly #ownsOptimizer: boolean;
  readonly #onStepTimings: DataParallelArgs['onStepTimings'];

  private constructor(
    model: FitModel,
    optimizer: RMSprop,
    owns: boolean,
    variables: Variable[],
    trainer: DataParallelTrainer,
    onStepTimings: DataParallelArgs['onStepTimings'],
  ) {
    this.#onStepTimings = onStepTimings;
    this.#model = model;
    this.optimizer = optimizer;
    this.#ownsOptimizer = owns;
    this.variables = variables;
    this.trainer = trainer;
    this.labels = model.metricsNames ?? ['loss'];
    const row = modelRow(model);
    const size = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);
    const sparse = (model as { loss?: unknown }).loss === 'sparseCategoricalCrossentropy';
    this.widths = { x: size(row.inputs), y: sparse ? size(row.output.slice(0, -1)) : size(row.output) };
  }

  /**
   * Checks the model and the trainer's arguments, then builds the variables, the optimizer and the
   * trainer and starts the replicas, checking they compute the model's metrics. Nothing is left
   * open when it throws.
   */
  static async open(model: FitModel, check: ArgsCheck, checked: CheckedDataParallelArgs): Promise<FitSession> {
    const args = check.args as DataParallelArgs;
    const replicaOptions = replicaOptionsFor(model, args, check.caller);
    const { optimizer, owns, variables } = optimizerFor(model, checked, check.caller);
    let trainer: DataParallelTrainer | null = null;
    try {
      trainer = new DataParallelTrainer({
        optimizer,
        variables,
        replica: tfjsReplica,
        replicaOptions,
        ...(args.replicas !== undefined && { replicas: args.replicas }),
        ...(args.stepTimeoutMs !== undefined && { stepTimeoutMs: args.stepTimeoutMs }),
        seed: checked.seed,
      });
      builtFor.set(optimizer, { model, variables });
      await trainer.start();
      const expected = (model.metricsNames ?? ['loss']).slice(1);
      if (trainer.metricNames.join() !== expected.join()) {
        throw new Error(
          `${check.caller}: the replicas' model computes the metrics [${trainer.metricNames.join(', ')}], ` +
            `the model was compiled with [${expected.join(', ')}]: compile the factory's model as this one`,
        );
      }
      return new FitSession(model, optimizer, owns, variables, trainer, args.onStepTimings);
    } catch (error) {
      await trainer?.close();
      if (owns) await optimizer.close();
      throw error;
    }
  }

  /** One step on the batch; resolves to its logs: the loss and the metrics, float32 as tfjs's. */
  async step(batch: Batch<BatchArray, BatchArray>, logs: Logs): Promise<void> {
    logs.loss = f32(await this.trainer.step(batch));
    this.#onStepTimings?.(this.trainer.timings);
    this.trainer.metrics.forEach((value, k) => (logs[this.labels[k + 1]!] = f32(value)));
  }

  /** The validation logs (`val_` names) of evaluated chunks: weighted by their rows, as tfjs's test loop sums them. */
  validationLogs({ rows, values }: Evaluation, logs: Logs): void {
    const total = rows.reduce((n, r) => n + r, 0);
    this.labels.forEach((label, k) => {
      let sum = 0;
      values.forEach((chunk, c) => (sum = f32(sum + f32(rows[c]! * chunk[k]!))));
      logs[`val_${label}`] = f32(sum / total);
    });
  }

  /** The trained weights into the model (Keras's fit ends with the moving averages where `useEma` is on). */
  writeBack(final: boolean): void {
    if (final) this.optimizer.finalizeVariableValues(this.variables);
    assignToModel(this.#model, this.variables);
  }

  async close(): Promise<void> {
    try {
      await this.trainer.close();
    } finally {
      if (this.#ownsOptimizer) await this.optimizer.close();
    }
  }
}

/** The replicas' options: the model's topology or the factory, its compiled loss and metrics by name. */
function replicaOptionsFor(model: FitModel, args: DataParallelArgs, caller: string): TfjsReplicaOptions {
  const loss = (model as { loss?: unknown }).loss;
  if (loss === undefined || model.optimizer === undefined) {
    throw new Error(
      `${caller}: the model is not compiled: compile it first, as model.fit needs (model.compile({ optimizer, loss, metrics }))`,
    );
  }
  const compiledMetrics = [model.metrics ?? []].flat();
  const named = compiledMetrics.every((m) => typeof m === 'string');
  if (args.factory === undefined) {
    const why = typeof loss !== 'string' ? 'a loss function' : !named ? 'a metric function' : null;
    if (why !== null) {
      throw new TypeError(
        `${caller}: the model was compiled with ${why}, which cannot reach the replica threads: ` +
          'compile it with names, or pass `args.factory`, a module whose createModel() compiles the model with it',
      );
    }
  }
  return {
    ...(args.factory === undefined ? { topology: model.toJSON(null, false) as object } : { factory: args.factory }),
    ...(typeof loss === 'string' && isTfjsLoss(loss) && { loss }),
    ...(named && { metrics: compiledMetrics }),
    ...(args.backend !== undefined && { backend: args.backend }),
    ...(args.kernels !== undefined && { kernels: args.kernels }),
  };
}

/**
 * The optimizer and the variables it trains: an `RMSprop` given (built by an earlier fit of this
 * model: its variables, the model's current weights written in), options for a new one, or the
 * `RMSprop` inside the model's `tfjsOptimizer`.
 */
function optimizerFor(
  model: FitModel,
  checked: CheckedDataParallelArgs,
  caller: string,
): { optimizer: RMSprop; owns: boolean; variables: Variable[] } {
  const given = checked.optimizer ?? (model.optimizer instanceof TfjsRMSprop ? model.optimizer.optimizer : undefined);
  const emaOverWorld =
    given instanceof RMSprop
      ? given.world !== null && given.getConfig().use_ema === true
      : given?.world != null && given.useEma === true;
  if (emaOverWorld) {
    throw new Error(
      `${caller}: \`args.optimizer\` is one rank of a world with useEma: a fit ends by writing the moving averages ` +
        'into the model, and a rank holds only its slice of them; train with a DataParallelTrainer and gather ' +
        'them with optimizer.gatheredVariables()',
    );
  }
  if (given === undefined) {
    const compiled =
      (model.optimizer as { getClassName?: () => string } | undefined)?.getClassName?.() ?? 'another optimizer';
    throw new TypeError(
      `${caller}: the model was compiled with ${compiled}; a fit on the replicas trains with rmsprop-pool's RMSprop: ` +
        'pass `args.optimizer` (an RMSprop or its options), or compile with tfjsOptimizer(new RMSprop(...))',
    );
  }
  if (!(given instanceof RMSprop)) {
    const optimizer = new RMSprop({ ...given, microBatches: checked.microBatches });
    return { optimizer, owns: true, variables: modelVariables(model) };
  }
  const built = builtFor.get(given);
  if (built === undefined) {
    if (given.memoryBytes > 0) {
      throw new Error(
        `${caller}: \`args.optimizer\` is built over other variables: give a new RMSprop, or its options`,
      );
    }
    return { optimizer: given, owns: false, variables: modelVariables(model) };
  }
  if (built.model !== model) throw new Error(`${caller}: \`args.optimizer\` trained another model: give a new RMSprop`);
  const current = modelVariables(model);
  built.variables.forEach((v, k) => v.value.set(current[k]!.value)); // the model's weights, as the user may have set them
  return { optimizer: given, owns: false, variables: built.variables };
}
