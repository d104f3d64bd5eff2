/**
 * tfjs-newton: what a user calls. Training (`train`, `startTraining` for a service, the
 * first-order baselines), evaluation, data, models, the options and their checks, the
 * registries a user extends (transports), and the errors. The machinery beneath (the
 * solver, the pass engine, problems, autodiff, checkpoints, the NATS worker) is
 * `tfjs-newton/advanced`.
 */
export {
  train,
  type TrainOptions,
  type TfjsTrainOptions,
  type TrainResult,
  type TrainIteration,
  type IterationBoundary,
} from './run/train.js';
export { newtonFit, type NewtonFitOptions, type NewtonHistory } from './run/fit.js';
export type {
  FitCallbacks,
  BaseCallback,
  CustomCallbackArgs,
  RunLogs,
  RunParams,
} from './run/callbacks.js';
export type { TensorData } from './data/tensors.js';
export {
  trainFirstOrder,
  OPTIMS,
  type Optim,
  type FirstOrderOptions,
  type FirstOrderResult,
  type EpochReport,
} from './run/baseline.js';
export {
  startTraining,
  TrainingHandle,
  type StartOptions,
  type TrainingEvents,
  type ModelSnapshot,
  type SavedSnapshot,
} from './host/start.js';
export { setComputeWorkerCap, computeWorkerUsage, type ComputeWorkerUsage } from './host/budget.js';
export { evaluate, accuracy, type EvalReport } from './run/evaluate.js';
export { readLogRecord, type LogRecord } from './run/records.js';
export {
  validateOptions,
  workersWarning,
  defaultC,
  withDefaults,
  TRAIN_DEFAULTS,
  NEWTON_OPTIONS,
  FIRST_ORDER_OPTIONS,
  type OptionError,
} from './run/options.js';
export type { OptionSpec, OptionKind, Range } from './run/schema.js';
export { NEWTON_METHODS, LineSearchError, type NewtonMethod } from './solver/newton.js';
export {
  registerTransport,
  transportNames,
  type TransportUnit,
  type TransportSetup,
  type TransportOptions,
} from './transport/registry.js';
export type { NatsRunOptions } from './transport/nats/coordinator.js';
export { loadData, type DataOptions } from './data/load.js';
export { loadDigits } from './data/digits.js';
export type { Dataset, TrainTest, Preprocessing } from './data/dataset.js';
export { presetModel } from './model/presets.js';
export type { ModelSpec, LayerSpec, Activation } from './model/spec.js';
export { LOSSES, type LossKind } from './model/loss.js';
export {
  saveModel,
  loadModel,
  layersModel,
  specOfLayersModel,
  paramsOfLayersModel,
  setLayersModelParams,
  type SavedModel,
} from './model/keras.js';
export {
  initBackend,
  nativeUnavailable,
  BACKENDS,
  type BackendChoice,
  type BackendName,
} from './backend/select.js';
export { UsageError, RunError, AbortError } from './errors.js';
export { DataError } from './data/errors.js';

/**
 * Until 0.3, the advanced names are also exported from here, as they were before the two
 * tiers (deprecated: import them from 'tfjs-newton/advanced').
 */
export * from './advanced.js';
