/**
 * `model.fit` and `model.fitDataset` on every core: tfjs-layers' loop, with its arguments, its
 * callbacks and its `History`, where each batch's gradients are computed by replica threads and
 * applied by this library's RMSprop. One epoch loop, two sources of batches: rows of tensors or
 * typed arrays (gathered in a seeded order), or a tf.data dataset read on this thread (a dataset
 * cannot cross threads; its batches' rows can).
 */
import { ArgsCheck, checkDataParallelArgs, FIT_DATASET_KEYS, FIT_KEYS } from './fit-args.js';
import type { FitDataParallelArgs, FitDataset, FitDatasetDataParallelArgs, FitRows } from './fit-args.js';
import { fitCallbacks, type CallbackClasses, type FitParams, type FitHistory, type Logs } from './callbacks.js';

export type { FitHistory } from './callbacks.js';
import { BatchGather, dataOf, epochOrder, rowWeights, sliceData, type Data } from './rows.js';
import { FitSession, type FitModel } from './session.js';
import type { Batch, BatchArray } from '../../training/trainer.js';

/** Where an epoch's batches come from, and what to validate on after it. */
interface EpochSource {
  /** The epoch's batches, in order, the last one marked (validation follows its step, as in tfjs's loop). */
  batches(
    epoch: number,
  ):
    | Iterable<{ batch: Batch<BatchArray, BatchArray>; last: boolean }>
    | AsyncIterable<{ batch: Batch<BatchArray, BatchArray>; last: boolean }>;
  /** Whether the source ran dry before the epoch's batches were all read (training stops). */
  readonly exhausted: boolean;
  /** The validation logs after an epoch, or null without validation. */
  readonly validate: ((logs: Logs) => Promise<void>) | null;
}

/**
 * Trains `model` as `model.fit(x, y, args)` does, with each batch's gradients computed by replica
 * threads: the weights are written back into `model` after each epoch (before `onEpochEnd`) and
 * at the end; resolves to tfjs's `History`, whose logs carry `loss`, the model's compiled metrics
 * and their `val_` values.
 *
 * @example
 * ```ts
 * model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
 * const history = await fitDataParallel(model, xs, ys, {
 *   epochs: 5, batchSize: 64, validationSplit: 0.1, optimizer: { learningRate: 1e-3 },
 *   callbacks: [tf.callbacks.earlyStopping({ monitor: 'val_loss' })],
 * });
 * ```
 */
export async function fitDataParallel(
  model: FitModel,
  x: FitRows,
  y: FitRows,
  args: FitDataParallelArgs = {},
): Promise<FitHistory> {
  const check = new ArgsCheck('fitDataParallel', args as Record<string, unknown>);
  check.keys(FIT_KEYS);
  const checked = checkDataParallelArgs(check, false);
  const batchSize = check.count('batchSize', 32);
  const stepsPerEpoch = check.optionalCount('stepsPerEpoch');
  const { validationSplit, validationData, shuffle = true } = args;
  if (
    validationSplit !== undefined &&
    !(typeof validationSplit === 'number' && validationSplit >= 0 && validationSplit < 1)
  ) {
    throw check.refuse('validationSplit', 'a number from 0 up to, not including, 1');
  }
  if (validationData !== undefined && (!Array.isArray(validationData) || validationData.length !== 2)) {
    throw check.refuse('validationData', '[x, y] (tfjs does not support validation sample weights either)');
  }
  if (typeof shuffle !== 'boolean') throw check.refuse('shuffle', 'a boolean');
  return await training(model, check, checked, (session) => {
    let data = dataOf(x, y, session.widths, 'fitDataParallel: the training data');
    data = { ...data, weights: rowWeights(data.y, args.sampleWeight, args.classWeight, check.caller) };
    let validation: Data | null = null;
    if (validationData !== undefined) {
      validation = dataOf(
        validationData[0],
        validationData[1],
        session.widths,
        'fitDataParallel: `args.validationData`',
      );
    } else if (validationSplit !== undefined && validationSplit > 0) {
      // taken from the end, before any shuffling, as tfjs does
      const splitAt = Math.floor(data.x.count * (1 - validationSplit));
      validation = sliceData(data, splitAt, data.x.count);
      data = sliceData(data, 0, splitAt);
    }
    const batches = Math.ceil(data.x.count / batchSize);
    if (stepsPerEpoch !== null && stepsPerEpoch > batches) {
      throw check.refuse('stepsPerEpoch', `at most the data's ${batches} batches of ${batchSize}`);
    }
    const gather = new BatchGather(data, batchSize);
    const order = new Int32Array(data.x.count);
    const source: EpochSource = {
      exhausted: false,
      *batches(epoch) {
        epochOrder(order, shuffle, checked.seed, epoch);
        const count = stepsPerEpoch ?? batches;
        for (let b = 0; b < count; b++) {
          const batch = gather.batch(order, b * batchSize, Math.min(data.x.count, (b + 1) * batchSize));
          yield { batch, last: b === count - 1 };
        }
      },
      validate: validation && ((logs) => validateRows(session, validation, batchSize, logs)),
    };
    const params = { samples: data.x.count, steps: stepsPerEpoch, batchSize };
    return { source, params };
  });
}

/**
 * Trains `model` as `model.fitDataset(dataset, args)` does: this thread reads the dataset's
 * batches (`{ xs, ys }` tensors) and hands their rows to the replicas, which compute each batch's
 * gradients. Resolves to tfjs's `History`.
 */
export async function fitDatasetDataParallel(
  model: FitModel,
  dataset: FitDataset,
  args: FitDatasetDataParallelArgs,
): Promise<FitHistory> {
  const check = new ArgsCheck('fitDatasetDataParallel', (args ?? {}) as unknown as Record<string, unknown>);
  if (typeof (dataset as Partial<FitDataset> | null)?.iterator !== 'function') {
    throw new TypeError('fitDatasetDataParallel: `dataset` must be a tf.data Dataset (an object with iterator())');
  }
  if ((args as { validationSplit?: unknown } | undefined)?.validationSplit !== undefined) {
    throw check.refuse('validationSplit', 'left out: fitDataset takes validationData instead, as tfjs');
  }
  check.keys(FIT_DATASET_KEYS);
  const checked = checkDataParallelArgs(check, true);
  const batchesPerEpoch = check.optionalCount('batchesPerEpoch');
  const validationBatchSize = check.count('validationBatchSize', 32);
  const validationBatches = check.optionalCount('validationBatches');
  const { validationData, classWeight } = args;
  const isDataset = (v: unknown): v is FitDataset => typeof (v as Partial<FitDataset> | null)?.iterator === 'function';
  if (
    validationData !== undefined &&
    !isDataset(validationData) &&
    !(Array.isArray(validationData) && validationData.length === 2)
  ) {
    throw check.refuse('validationData', 'a dataset of { xs, ys } batches, or [x, y]');
  }
  return await training(model, check, checked, async (session) => {
    const rowsOfBatch = (value: unknown, what: string): Batch<BatchArray, BatchArray> => {
      const { xs, ys } = (value ?? {}) as { xs?: unknown; ys?: unknown };
      const data = dataOf(xs as FitRows, ys as FitRows, session.widths, `fitDatasetDataParallel: ${what}`);
      for (const t of [xs, ys]) (t as { dispose?: () => void }).dispose?.(); // read: the dataset's tensors are done with
      const weights = rowWeights(data.y, undefined, classWeight, check.caller);
      return {
        inputs: data.x.values,
        targets: data.y.values,
        rows: data.x.count,
        ...(weights && { sampleWeights: weights }),
      };
    };
    let iterator = batchesPerEpoch === null ? null : await dataset.iterator();
    const source: EpochSource & { exhausted: boolean } = {
      exhausted: false,
      async *batches() {
        // without batchesPerEpoch each epoch reads the dataset anew; with it, on from the last epoch
        if (batchesPerEpoch === null) iterator = await dataset.iterator();
        // one batch read ahead: whether a batch is the epoch's last is known when it is trained on
        let next = await iterator!.next();
        for (let b = 0; !next.done && (batchesPerEpoch === null || b < batchesPerEpoch); b++) {
          const batch = rowsOfBatch(next.value, `batch ${b}`);
          const quota = batchesPerEpoch !== null && b === batchesPerEpoch - 1;
          next = quota ? { value: undefined, done: false } : await iterator!.next();
          if (next.done && batchesPerEpoch !== null) {
            process.emitWarning(
              `fitDatasetDataParallel: the dataset ran out after ${b + 1} batches of an epoch's batchesPerEpoch (${batchesPerEpoch}); training stops (dataset.repeat() makes more)`,
            );
            source.exhausted = true;
          }
          yield { batch, last: quota || (next.done && !source.exhausted) };
        }
      },
      validate:
        validationData === undefined
          ? null
          : async (logs) => {
              if (!isDataset(validationData)) {
                const data = dataOf(
                  validationData[0],
                  validationData[1],
                  session.widths,
                  'fitDatasetDataParallel: `args.validationData`',
                );
                return await validateRows(session, data, validationBatchSize, logs);
              }
              // each batch of the validation dataset is one chunk, as tfjs's evaluateDataset weighs them
              const rows: number[] = [];
              const values: number[][] = [];
              const batches = await validationData.iterator();
              for (let b = 0; validationBatches === null || b < validationBatches; b++) {
                const next = await batches.next();
                if (next.done) break;
                const batch = rowsOfBatch(next.value, `validation batch ${b}`);
                const evaluation = await session.trainer.evaluate(batch, batch.rows);
                rows.push(batch.rows);
                values.push([...evaluation.values[0]!]);
              }
              session.validationLogs({ rows, values }, logs);
            },
    };
    return { source, params: { samples: null, steps: batchesPerEpoch, batchSize: null } };
  });
}

/** Validation on rows: chunks of `chunkRows`, evaluated on the replicas; their logs as tfjs's test loop makes them. */
async function validateRows(session: FitSession, data: Data, chunkRows: number, logs: Logs): Promise<void> {
  const batch = { inputs: data.x.values, targets: data.y.values, rows: data.x.count };
  session.validationLogs(await session.trainer.evaluate(batch, chunkRows), logs);
}

/** What a driver prepares once the session is open: its batches, and what the callbacks' params say of them. */
interface Prepared {
  readonly source: EpochSource;
  readonly params: Pick<FitParams, 'samples' | 'steps' | 'batchSize'>;
}

/**
 * tfjs's fit loop around a session: callbacks set up, then per epoch its batches, each a step
 * with its logs, the validation after the last, the weights written back, `onEpochEnd`; stopped
 * by `model.stopTraining` after a batch or an epoch. The session is closed however it ends.
 */
async function training(
  model: FitModel,
  check: ArgsCheck,
  checked: ReturnType<typeof checkDataParallelArgs>,
  prepare: (session: FitSession) => Prepared | Promise<Prepared>,
): Promise<FitHistory> {
  // tfjs's guard against two fits at once (a protected field of its LayersModel)
  const guarded = model as unknown as { isTraining?: boolean };
  if (guarded.isTraining === true)
    throw new Error(`${check.caller}: cannot start training because another fit() call is ongoing`);
  const classes = (await import('@tensorflow/tfjs-layers')) as unknown as CallbackClasses;
  guarded.isTraining = true;
  let session: FitSession | null = null;
  try {
    session = await FitSession.open(model, check, checked);
    const { source, params } = await prepare(session);
    const labels = session.labels;
    const doValidation = source.validate !== null;
    const { list, history } = fitCallbacks(
      classes,
      model,
      {
        epochs: checked.epochs,
        initialEpoch: checked.initialEpoch,
        ...params,
        verbose: checked.verbose,
        doValidation,
        metrics: doValidation ? [...labels, ...labels.map((l) => `val_${l}`)] : [...labels],
      },
      (check.args as FitDataParallelArgs).callbacks,
      (check.args as FitDataParallelArgs).yieldEvery,
    );
    model.history = history;
    await list.onTrainBegin();
    model.stopTraining = false;
    for (let epoch = checked.initialEpoch; epoch < checked.epochs; epoch++) {
      await list.onEpochBegin(epoch);
      const epochLogs: Logs = {};
      let index = 0;
      for await (const { batch, last } of source.batches(epoch)) {
        const batchLogs: Logs = { batch: index, size: batch.rows };
        await list.onBatchBegin(index, batchLogs);
        await session.step(batch, batchLogs);
        if (last && source.validate !== null) await source.validate(epochLogs);
        await list.onBatchEnd(index, batchLogs);
        index++;
        if (model.stopTraining) break;
      }
      session.writeBack(false); // the callbacks see the epoch's weights
      await list.onEpochEnd(epoch, epochLogs);
      if (model.stopTraining || source.exhausted) break;
    }
    session.writeBack(true);
    await list.onTrainEnd();
    await history.syncData();
    return history;
  } finally {
    guarded.isTraining = false;
    await session?.close();
  }
}
