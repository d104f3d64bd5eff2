/**
 * tfjs-newton/advanced: the machinery beneath `train`, for those who build on it. The
 * solver (NewtonCG over any GaussNewtonProblem, CG, the solver's option table), the pass
 * engine and its transports, the autodiff of a chunk (Gv by linearization or double VJP),
 * layers and losses by registry, checkpoints, kernels, the NATS worker, and the pieces of a
 * run (prepareRun, resolveModel).
 */
export {
  NewtonCG,
  NEWTON_DEFAULTS,
  HF_METHOD,
  SIMPLENN_METHOD,
  METHOD_OPTIONS,
  resolveNewtonOptions,
  methodIdentity,
  type NewtonOptions,
  type NewtonSettings,
  type MethodOptions,
  type IterationReport,
  type NewtonState,
} from './solver/newton.js';
export {
  SOLVER_OPTION_SPECS,
  SOLVER_OPTION_KEYS,
  SOLVER_DEFAULTS,
  solverOptionsOf,
} from './solver/options.js';
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
export type { Evaluation, EvalSets, EvalSetName } from './engine/evaluation.js';
export { openProblem, openTransport, transportUnit } from './transport/registry.js';
export { LocalProblem, InProcessTransport } from './transport/in-process.js';
export {
  PoolProblem,
  PoolError,
  ThreadTransport,
  type PoolOptions,
  type ThreadOptions,
} from './transport/threads.js';
export { NatsTransport, NatsRunError, type WorkerTraffic } from './transport/nats/coordinator.js';
export { NatsWorker, type WorkerOptions } from './transport/nats/worker.js';
export { connectNats, NatsConnectError, type NatsOptions } from './transport/nats/connect.js';
export { ChunkEvaluator, GV_METHODS, type GvMethod } from './autodiff/evaluator.js';
export { Linearization } from './autodiff/linearized.js';
export { gaussNewtonProduct, jvp, vjp, lossAndGradient } from './autodiff/gauss-newton.js';
export { Network } from './model/network.js';
export { layoutOf, type ModelLayout } from './model/spec.js';
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
  type LossUnit,
} from './model/loss.js';
export { specFromKeras, kerasModel } from './model/keras.js';
export { Rng } from './rng.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  checkSameRun,
  LEGACY_METHOD_IDENTITY,
  type Checkpoint,
  type RunIdentity,
} from './checkpoint.js';
export { registerNewtonKernels } from './backend/kernels.js';
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
} from './data/dataset.js';
export { prepareRun, resolveModel } from './run/prepare.js';
export { logRecord, epochRecord } from './run/records.js';
export { optionSchema, RENAMED_OPTIONS, checkRenamedFlags } from './run/options.js';
