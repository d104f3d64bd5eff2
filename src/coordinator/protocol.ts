/**
 * What the coordinator and its compute workers exchange. Large arrays never travel in
 * messages: the data set, θ, v and the Gauss-Newton subset live in SharedArrayBuffers
 * handed to every worker once (workerData); a task names a chunk and the versions of θ,
 * v and S it needs. A result is one chunk's float32 partial sum, moved (not copied) back.
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
  attempt: number;
}

export interface TaskResult {
  loss?: number;
  /** dim float32 values: the chunk's gradient or Gv sum */
  vector?: Float32Array;
  /** milliseconds of compute inside the worker */
  computeMs: number;
}
