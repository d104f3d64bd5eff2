/**
 * What the coordinator and its compute workers exchange. Large arrays never travel in
 * messages: the data set, the held-out sets, θ, v and the Gauss-Newton subset live in
 * SharedArrayBuffers handed to every worker once (workerData); a task names a chunk and the versions of θ,
 * v and S it needs. A chunk's float32 partial sum (gradient or Gv) is written into the
 * shared result slot the task names, so that results cost the coordinator no allocation
 * (and no garbage collection) and messages stay a few bytes long.
 */
import type { LossKind } from '../model/loss.js';
import type { ModelSpec } from '../model/spec.js';
import type { BackendName } from '../backend/select.js';
import type { GvMethod } from '../autodiff/evaluator.js';
import type { EvalSetName } from './evaluation.js';

/** A held-out set in shared memory (samples of the training set's shape and classes). */
export interface SharedEvalSet {
  n: number;
  /** n × prod(inputShape) float32 */
  x: SharedArrayBuffer;
  /** n int32 */
  labels: SharedArrayBuffer;
}

export interface SharedSetup {
  spec: ModelSpec;
  loss: LossKind;
  backend: BackendName;
  /** how workers compute Gauss-Newton products */
  gv: GvMethod;
  inputShape: number[];
  numClasses: number;
  n: number;
  /** n × prod(inputShape) float32 */
  x: SharedArrayBuffer;
  /** n int32 */
  labels: SharedArrayBuffer;
  /** numParams float32: the θ of version `thetaVersion` of the current task */
  theta: SharedArrayBuffer;
  /** numParams float32: the v of the current CG step */
  v: SharedArrayBuffer;
  /** up to n int32: the current Gauss-Newton subset (length in the task) */
  subset: SharedArrayBuffer;
  bsize: number;
  /** numParams: the length of θ, v and of a result slot */
  dim: number;
  /** slots × dim float32: chunk results, written by workers, read by the coordinator */
  results: SharedArrayBuffer;
  /** the held-out sets of 'correct' tasks, given once like the training data */
  evalSets: Partial<Record<EvalSetName, SharedEvalSet>>;
  /**
   * numParams float32: the θ of 'correct' tasks (version `thetaVersion` of such a task,
   * counted apart from the training θ's versions), so that an accuracy pass at another θ
   * leaves the training θ and prepared Gauss-Newton chunks of a CG solve alone
   */
  evalTheta: SharedArrayBuffer;
  /** testing hook: the worker thread exits on these chunks (see FaultPlan) */
  faults?: FaultPlan;
}

/**
 * Makes workers die on purpose, for tests: on `kind` chunk `chunk`, at attempts <
 * `attempts`, from θ version `fromThetaVersion` on (default 0: always).
 */
export interface FaultPlan {
  kind: TaskKind;
  chunk: number;
  attempts: number;
  mode: 'exit' | 'throw';
  fromThetaVersion?: number;
}

export type TaskKind = 'lossGrad' | 'loss' | 'gv' | 'correct';

export interface Task {
  kind: TaskKind;
  /** chunk index: of 0..n-1 in ranges of bsize (lossGrad, loss; correct: of the set's samples), or of the subset (gv) */
  chunk: number;
  /** the version of θ in `theta` (lossGrad, loss, gv) or in `evalTheta` (correct) */
  thetaVersion: number;
  /** for correct: the held-out set */
  set?: EvalSetName;
  /** for gv: the subset's version and length (v is read from its buffer at every task) */
  subsetVersion?: number;
  subsetLength?: number;
  /** the result slot to write a vector result into (lossGrad, gv) */
  slot: number;
  attempt: number;
}

export interface TaskResult {
  loss?: number;
  /** for correct: the number of the chunk's samples classified correctly */
  correct?: number;
  /** when the worker's compute of the chunk started and ended (ms since the epoch, sub-ms precise) */
  start: number;
  end: number;
  /** the worker thread that computed it (worker_threads threadId) */
  thread: number;
}
