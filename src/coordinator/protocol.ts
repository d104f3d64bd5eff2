/**
 * What the coordinator and its compute workers exchange. Large arrays never travel in
 * messages: the data set, θ, v and the Gauss-Newton subset live in SharedArrayBuffers
 * handed to every worker once (workerData); a task names a chunk and the versions of θ,
 * v and S it needs. A chunk's float32 partial sum (gradient or Gv) is written into the
 * shared result slot the task names, so that results cost the coordinator no allocation
 * (and no garbage collection) and messages stay a few bytes long.
 */
import type { LossKind } from '../model/loss.js';
import type { ModelSpec } from '../model/spec.js';
import type { BackendName } from '../backend/select.js';

export interface SharedSetup {
  spec: ModelSpec;
  loss: LossKind;
  backend: BackendName;
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

export type TaskKind = 'lossGrad' | 'loss' | 'gv';

export interface Task {
  kind: TaskKind;
  /** chunk index: of 0..n-1 in ranges of bsize (lossGrad, loss), or of the subset (gv) */
  chunk: number;
  thetaVersion: number;
  /** for gv: the subset's version and length (v is read from its buffer at every task) */
  subsetVersion?: number;
  subsetLength?: number;
  /** the result slot to write a vector result into (lossGrad, gv) */
  slot: number;
  attempt: number;
}

export interface TaskResult {
  loss?: number;
  /** when the worker's compute of the chunk started and ended (ms since the epoch, sub-ms precise) */
  start: number;
  end: number;
}
