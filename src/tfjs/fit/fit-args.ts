/**
 * The arguments of `fitDataParallel` and `fitDatasetDataParallel`: tfjs-layers' `ModelFitArgs`
 * and `ModelFitDatasetArgs` under their own names and meanings, and the trainer's own. Checked
 * on the calling thread before anything starts; whatever is not supported is refused by name.
 */
import type * as TF from '@tensorflow/tfjs-core';
import { refuseUnknownKeys } from '../../common/option-keys.js';
import { quote } from '../../common/quote.js';
import { RMSprop } from '../../optimizer/optimizer.js';
import type { RMSpropOptions } from '../../optimizer/options.js';
import type { TfjsBackend, TfjsReplicaOptions } from '../replica-options.js';

/** A class index's weight in the loss (tfjs's `ClassWeight`). */
export type ClassWeight = Readonly<Record<number, number>>;

/** A callback as tfjs-layers' `fit` takes it: an object of its callback's methods (a `CustomCallbackArgs`) or a `Callback`. */
export type FitCallback = object;

/** Rows as the fit functions take them: a tensor (its first axis the rows), or a typed array of whole rows. */
export type FitRows = TF.Tensor | Float32Array | Int32Array;

/** What both fit functions take besides tfjs's arguments: how the replicas train. */
export interface DataParallelArgs {
  /**
   * The module exporting `createModel()` that each replica thread builds the model from (a `URL`,
   * a `file:` URL or an absolute path), as `tfjsReplica` takes it. Default: none, and each
   * replica thread rebuilds the model from its topology (`model.toJSON()`); a model with a
   * custom layer or a loss function needs a factory module.
   */
  readonly factory?: string | URL;
  /** The replicas' tfjs backend ('wasm' where installed, else 'cpu'). */
  readonly backend?: TfjsBackend;
  /** On wasm, the gradients' kernels ('fast', the default, or tfjs-wasm's own 'tfjs'). */
  readonly kernels?: TfjsReplicaOptions['kernels'];
  /** Replica threads: a number (at most `microBatches`), or 'auto' (the default): one per core. */
  readonly replicas?: number | 'auto';
  /**
   * Micro-batches per batch: each a gradient shard, computed by one replica. The bytes depend on
   * it, never on `replicas`. Default: the optimizer's when it is an `RMSprop`, else 4.
   */
  readonly microBatches?: number;
  /** Seeds the shuffling and the micro-batches' randomness (Dropout): an integer in [0, 2^32). Default 0. */
  readonly seed?: number;
  /**
   * The optimizer: an `RMSprop` (kept open, and built over the model's weights for the next
   * call), or its options. Default: the model's own where it was compiled with `tfjsOptimizer`.
   */
  readonly optimizer?: RMSprop | RMSpropOptions;
  /** Bound on one step's gradients, in ms (`DataParallelTrainer`'s). */
  readonly stepTimeoutMs?: number;
  /** tfjs's: 0 silent, 1 (the default) a progress bar per epoch, 2 one line per epoch; on stderr. */
  readonly verbose?: 0 | 1 | 2;
  /** tfjs's callbacks: `onTrainBegin`, `onEpochEnd`, ..., `tf.callbacks.earlyStopping(...)`; run on this thread. */
  readonly callbacks?: FitCallback | readonly FitCallback[];
  /** tfjs's: the epoch to start at (`epochs` is the last one's index + 1). Default 0. */
  readonly initialEpoch?: number;
  /** tfjs's `yieldEvery`, for its `onYield` callbacks ('auto', 'batch', 'epoch', 'never' or ms). */
  readonly yieldEvery?: 'auto' | 'batch' | 'epoch' | 'never' | number;
  /** tfjs's: each class index's weight in the training loss. */
  readonly classWeight?: ClassWeight;
  /**
   * Called on this thread after each step with its times in ms (not one of tfjs's arguments):
   * the replicas' gradients, batch staging included, and the optimizer's update.
   */
  readonly onStepTimings?: (timings: { readonly gradientsMs: number; readonly updateMs: number }) => void;
}

/** `fitDataParallel`'s arguments: tfjs's `ModelFitArgs`, and {@link DataParallelArgs}. */
export interface FitDataParallelArgs extends DataParallelArgs {
  /** Rows per step. Default 32. */
  readonly batchSize?: number;
  /** Passes over the data. Default 1. */
  readonly epochs?: number;
  /** The share of the rows, taken from the end before any shuffling, held out to validate on after each epoch. */
  readonly validationSplit?: number;
  /** `[x, y]` to validate on after each epoch (over `validationSplit`). */
  readonly validationData?: readonly [FitRows, FitRows];
  /** Shuffle the training rows before each epoch, seeded by `seed` and the epoch. Default true. */
  readonly shuffle?: boolean;
  /** One weight per training row for its loss (Keras's `sample_weight`). */
  readonly sampleWeight?: TF.Tensor | Float32Array;
  /** Batches per epoch: each epoch trains on the first `stepsPerEpoch` batches of its order. Default: all. */
  readonly stepsPerEpoch?: number;
}

/** A dataset as tfjs-data's `Dataset` is read: an iterator of batches, `{ xs, ys }` tensors. */
export interface FitDataset {
  iterator(): Promise<{ next(): Promise<{ value: unknown; done: boolean }> }>;
}

/** `fitDatasetDataParallel`'s arguments: tfjs's `ModelFitDatasetArgs`, and {@link DataParallelArgs}. */
export interface FitDatasetDataParallelArgs extends DataParallelArgs {
  /** Passes over the dataset (required, as tfjs requires it). */
  readonly epochs: number;
  /** Batches per epoch, read on from where the last epoch stopped. Default: the dataset to its end, each epoch. */
  readonly batchesPerEpoch?: number;
  /** A dataset of `{ xs, ys }` batches, or `[x, y]`, to validate on after each epoch. */
  readonly validationData?: FitDataset | readonly [FitRows, FitRows];
  /** Rows per validation chunk for `[x, y]` validation data. Default 32. */
  readonly validationBatchSize?: number;
  /** Validation batches read from a validation dataset. Default: all. */
  readonly validationBatches?: number;
}

/** The trainer's part of the arguments, checked, defaults filled in. */
export interface CheckedDataParallelArgs {
  readonly verbose: 0 | 1 | 2;
  readonly initialEpoch: number;
  readonly epochs: number;
  readonly seed: number;
  readonly microBatches: number;
  readonly optimizer: RMSprop | RMSpropOptions | undefined;
}

const DATA_PARALLEL_KEYS = [
  'factory',
  'backend',
  'kernels',
  'replicas',
  'microBatches',
  'seed',
  'optimizer',
  'stepTimeoutMs',
  'verbose',
  'callbacks',
  'initialEpoch',
  'yieldEvery',
  'classWeight',
  'onStepTimings',
  'epochs',
] as const;

/** `fitDataParallel`'s keys. */
export const FIT_KEYS: readonly string[] = [
  ...DATA_PARALLEL_KEYS,
  'batchSize',
  'validationSplit',
  'validationData',
  'shuffle',
  'sampleWeight',
  'stepsPerEpoch',
];

/** `fitDatasetDataParallel`'s keys. */
export const FIT_DATASET_KEYS: readonly string[] = [
  ...DATA_PARALLEL_KEYS,
  'batchesPerEpoch',
  'validationData',
  'validationBatchSize',
  'validationBatches',
];

/** What tfjs's `ModelFitArgs` and `ModelFitDatasetArgs` have that the fit functions refuse, and why. */
const REFUSED: Readonly<Record<string, string>> = {
  validationSteps: 'tfjs takes it only with stepsPerEpoch for symbolic tensors; validate on validationData',
};

/** The checker of one call's arguments: each refusal names the function and the argument. */
export class ArgsCheck {
  constructor(
    readonly caller: string,
    readonly args: Readonly<Record<string, unknown>>,
  ) {}

  refuse(key: string, expected: string): TypeError {
    return new TypeError(`${this.caller}: \`args.${key}\` must be ${expected}, got ${quote(this.args[key])}`);
  }

  /** Throws unless every key is one of `known`, naming the unknown ones (and why, for those tfjs has). */
  keys(known: readonly string[]): void {
    const noun = 'or unsupported `args`';
    refuseUnknownKeys(this.args, { caller: this.caller, known, spelling: 'camelCase', noun, why: REFUSED });
  }

  /** An integer from `min` (default 1) up, or `fallback` when absent. */
  count(key: string, fallback: number, min = 1): number {
    const value = this.args[key] ?? fallback;
    if (!Number.isInteger(value) || (value as number) < min) throw this.refuse(key, `an integer >= ${min}`);
    return value as number;
  }

  /** An integer from `min` up, or null when absent. */
  optionalCount(key: string, min = 1): number | null {
    return this.args[key] === undefined ? null : this.count(key, 0, min);
  }
}

/** Checks the arguments both fit functions share; throws naming the first bad one. */
export function checkDataParallelArgs(check: ArgsCheck, epochsRequired: boolean): CheckedDataParallelArgs {
  const { args } = check;
  if (epochsRequired && args.epochs === undefined)
    throw check.refuse('epochs', 'a positive integer (tfjs requires it)');
  const epochs = check.count('epochs', 1);
  const initialEpoch = check.count('initialEpoch', 0, 0);
  const verbose = args.verbose ?? 1;
  if (verbose !== 0 && verbose !== 1 && verbose !== 2) throw check.refuse('verbose', '0, 1 or 2');
  const seed = check.count('seed', 0, 0);
  if (seed > 2 ** 32 - 1) throw check.refuse('seed', 'an integer from 0 to 2^32 - 1');
  const yieldEvery = args.yieldEvery ?? 'auto';
  if (
    !['auto', 'batch', 'epoch', 'never'].includes(yieldEvery as string) &&
    !(typeof yieldEvery === 'number' && yieldEvery > 0)
  ) {
    throw check.refuse('yieldEvery', "'auto', 'batch', 'epoch', 'never' or a number of ms");
  }
  const { classWeight, optimizer, onStepTimings } = args;
  if (onStepTimings !== undefined && typeof onStepTimings !== 'function')
    throw check.refuse('onStepTimings', 'a function');
  if (classWeight !== undefined && !isClassWeight(classWeight)) {
    throw check.refuse('classWeight', 'an object of class index -> weight (one output: not an array)');
  }
  if (optimizer !== undefined && (optimizer === null || typeof optimizer !== 'object')) {
    throw check.refuse('optimizer', 'an RMSprop or its options');
  }
  const ownMicroBatches = optimizer instanceof RMSprop ? optimizer.microBatches : null;
  const microBatches = check.count('microBatches', ownMicroBatches ?? 4);
  if (ownMicroBatches !== null && microBatches !== ownMicroBatches) {
    throw check.refuse('microBatches', `the optimizer's own (${ownMicroBatches}), or left out`);
  }
  return {
    verbose,
    initialEpoch,
    epochs,
    seed,
    microBatches,
    optimizer: optimizer,
  };
}

function isClassWeight(value: unknown): value is ClassWeight {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  return Object.entries(value).every(([k, w]) => /^\d+$/.test(k) && typeof w === 'number' && Number.isFinite(w));
}
