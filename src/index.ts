export { RMSprop, rmsprop } from './optimizer/optimizer.js';
export { LossScaleOptimizer } from './optimizer/loss-scale-optimizer.js';
export type { LossScaleOptions, LossScaleConfig } from './optimizer/loss-scale-optimizer.js';
export type { SaveOptions } from './optimizer/persistence.js';
export type { ExcludeFromWeightDecay } from './optimizer/weight-decay.js';
export type { Gradient } from './optimizer/gradients.js';
export type { StateVariable } from './optimizer/state-listing.js';
export { Variable } from './optimizer/variable.js';
export type { Float16ArrayLike, Initializer, VariableOptions, VariableOwner } from './optimizer/variable.js';
export type { DType, FloatArray, HalfDType } from './memory/dtype.js';
export {
  toHalfBits,
  fromHalfBits,
  roundToHalf,
  float16Bits,
  fromFloat16Bits,
  bfloat16Bits,
  fromBfloat16Bits,
} from './memory/half.js';
export type { RMSpropOptions, RuntimeOptions, LearningRate, KerasConfig } from './optimizer/options.js';
export { maxWorkers } from './pool/threads.js';
export { StepError } from './pool/step-error.js';
export { mpiWorld, localWorld, isWorld, IntReduction } from './distributed/world.js';
export type { World, IntReductionOp } from './distributed/world.js';
export type { Collectives } from './distributed/collectives.js';
export type { MpiBinding } from './distributed/mpi.js';
export { DataParallelTrainer } from './training/trainer.js';
export type { Batch, BatchArray, Evaluation, TrainerOptions } from './training/trainer.js';
export type {
  CreateReplica,
  MicroBatch,
  Replica,
  EvaluationBatch,
  ReplicaValues,
  ReplicaContext,
  ReplicaVariable,
  RowShape,
} from './training/replica.js';
export { CheckpointError } from './checkpoint/write.js';
export { readCheckpointFile as readCheckpoint } from './checkpoint/read.js';
export type { Checkpoint, NamedArray } from './checkpoint/write.js';
export type { TensorData } from './checkpoint/safetensors.js';
export { SafetensorsError } from './checkpoint/safetensors.js';
export * as schedules from './optimizer/schedules/learning-rate-schedule.js';
export { LearningRateSchedule } from './optimizer/schedules/learning-rate-schedule.js';
export { registerKernels, kernelSet } from './kernels/index.js';
export type { KernelName, BuiltinKernelName } from './kernels/index.js';
export type { Kernels, KernelSet } from './kernels/types.js';
export type { FieldViews, GroupViews, SharedMemory } from './memory/arena.js';
export type { AlwaysField, Field } from './memory/slots.js';
