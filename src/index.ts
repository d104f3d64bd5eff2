/** tfjs-newton's public API. */
export {
  train,
  type TrainOptions,
  type TrainResult,
  type TrainIteration,
  type IterationBoundary,
} from './train.js';
export {
  accuracy,
  evaluate,
  resolveModel,
  prepareRun,
  withDefaults,
  TRAIN_DEFAULTS,
  type EvalReport,
} from './run.js';
export {
  startTraining,
  TrainingHandle,
  setComputeWorkerCap,
  computeWorkerUsage,
  type StartOptions,
  type TrainingEvents,
  type ModelSnapshot,
  type SavedSnapshot,
  type ComputeWorkerUsage,
} from './host/start.js';
export {
  trainFirstOrder,
  OPTIMS,
  type Optim,
  type FirstOrderOptions,
  type FirstOrderResult,
  type EpochReport,
} from './baseline.js';
export {
  NewtonCG,
  NEWTON_DEFAULTS,
  NEWTON_METHODS,
  HF_METHOD,
  SIMPLENN_METHOD,
  METHOD_OPTIONS,
  resolveNewtonOptions,
  methodIdentity,
  LineSearchError,
  type NewtonOptions,
  type NewtonSettings,
  type NewtonMethod,
  type MethodOptions,
  type IterationReport,
  type NewtonState,
} from './solver/newton.js';
export {
  conjugateGradient,
  shifted,
  quadraticValue,
  quadraticStalled,
  type Apply,
  type CGResult,
  type CGOptions,
  type CGStop,
  type SavedIterate,
} from './solver/cg.js';
export type {
  GaussNewtonProblem,
  LinearOperator,
  ProgressFn,
  LossAndGradient,
  LossAndGradientOptions,
} from './solver/problem.js';
export {
  PassEngine,
  PassError,
  type EngineOptions,
  type PassStats,
  type TaskSpan,
} from './engine/engine.js';
export type { Transport, RunOptions } from './engine/transport.js';
export type { Task, TaskKind, ChunkResult } from './engine/task.js';
export { ChunkCompute, type ComputeSetup, type StateSource } from './engine/compute.js';
export { rangeChunks, listChunks, chunkCount } from './engine/plan.js';
export { LocalProblem, InProcessTransport } from './transport/in-process.js';
export {
  PoolProblem,
  PoolError,
  ThreadTransport,
  type PoolOptions,
  type ThreadOptions,
} from './transport/threads.js';
export {
  NatsTransport,
  NatsRunError,
  type NatsRunOptions,
  type WorkerTraffic,
} from './transport/nats/coordinator.js';
export { NatsWorker, type WorkerOptions } from './transport/nats/worker.js';
export { connectNats, NatsConnectError, type NatsOptions } from './transport/nats/connect.js';
export { ChunkEvaluator, GV_METHODS, type GvMethod } from './autodiff/evaluator.js';
export { Linearization } from './autodiff/linearized.js';
export type { Evaluation, EvalSets, EvalSetName } from './engine/evaluation.js';
export { gaussNewtonProduct, jvp, vjp, lossAndGradient } from './autodiff/gauss-newton.js';
export { Network } from './model/network.js';
export { presetModel } from './model/presets.js';
export {
  layoutOf,
  type ModelSpec,
  type LayerSpec,
  type Activation,
  type ModelLayout,
} from './model/spec.js';
export {
  LAYERS,
  LAYER_TYPES,
  layerUnit,
  type LayerUnit,
  type LayerType,
  type LinearizedLayer,
  type KerasLayer,
} from './model/layers/index.js';
export { initParams } from './model/init.js';
export {
  applyB,
  curvatureState,
  lossSum,
  lossUnit,
  lossList,
  LOSSES,
  type LossKind,
  type LossUnit,
} from './model/loss.js';
export {
  saveModel,
  loadModel,
  layersModel,
  specFromKeras,
  kerasModel,
  type SavedModel,
} from './model/keras.js';
export { Rng } from './rng.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  checkSameRun,
  LEGACY_METHOD_IDENTITY,
  type Checkpoint,
  type RunIdentity,
} from './checkpoint.js';
export {
  initBackend,
  nativeUnavailable,
  BACKENDS,
  type BackendChoice,
  type BackendName,
} from './backend/select.js';
export { registerNewtonKernels } from './backend/kernels.js';
export { loadData, type DataOptions } from './data/load.js';
export { loadDigits } from './data/digits.js';
export { loadMnistDir, parseIdx } from './data/idx.js';
export { parseCsv, readCsv } from './data/csv.js';
export { parseLibsvm, readLibsvm } from './data/libsvm.js';
export {
  preprocess,
  preprocessingOf,
  datasetDigest,
  chunkSamples,
  type Rows,
  type Samples,
  type Dataset,
  type TrainTest,
  type Preprocessing,
} from './data/dataset.js';
export { UsageError, RunError, AbortError } from './errors.js';
export { validateOptions, workersWarning, defaultC } from './options.js';
export { DataError } from './data/errors.js';
