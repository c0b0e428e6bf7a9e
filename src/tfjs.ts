/**
 * `rmsprop-pool/tfjs`: RMSprop as a TensorFlow.js optimizer (`model.compile({ optimizer })`),
 * data-parallel training of a tfjs-layers model (`fitDataParallel`, as `model.fit`), and the
 * tfjs-wasm kernels training needs.
 * tfjs is an optional peer dependency: this entry loads @tensorflow/tfjs-core, and adds to it the
 * tensor methods tfjs-layers' LSTM and GRU call (`useChainedOps`), which its Node bundle lacks.
 */
export { TfjsRMSprop, tfjsOptimizer, type TrainEndCallback } from './tfjs/adapter.js';
export { useChainedOps } from './tfjs/chained-ops.js';
export { fitDataParallel, fitDatasetDataParallel, type FitHistory } from './tfjs/fit/fit.js';
export type {
  ClassWeight,
  DataParallelArgs,
  FitCallback,
  FitDataParallelArgs,
  FitDataset,
  FitDatasetDataParallelArgs,
  FitRows,
} from './tfjs/fit/fit-args.js';
export type { FitModel } from './tfjs/fit/session.js';
export type { SeededLayer } from './tfjs/random-ops.js';
export { assignToModel, modelVariables, tfjsReplica } from './tfjs/data-parallel.js';
export { TFJS_LOSSES, type TfjsLoss } from './tfjs/losses.js';
export type { CheckedTfjsReplicaOptions, TfjsBackend, TfjsReplicaOptions } from './tfjs/replica-options.js';
export type { TrainableModel } from './tfjs/replica.js';
export {
  kernelFlops,
  profileLines,
  profileTrainingStep,
  type KernelProfile,
  type ProfileOptions,
  type StepProfile,
} from './tfjs/profile.js';
export { useWasmTrainingKernels, type TfjsKernels, type WasmTrainingKernels } from './tfjs/wasm/index.js';
