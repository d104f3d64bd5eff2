/**
 * What the pass engine asks of a transport and what comes back: a task names one chunk of
 * one pass and the versions of the state it needs (θ, the subset S, v); the state itself
 * is published to the transport apart from tasks (once per version), so tasks stay a few
 * bytes long however large θ is. A transport moves tasks, state and results; the compute
 * (src/engine/compute.ts) turns a task and its state into a result.
 */
import type { EvalSetName, PassName } from './evaluation.js';

/** A task's pass, by the name progress and the benchmarks report it under: one vocabulary for a pass everywhere. */
export type TaskKind = PassName;

export interface Task {
  kind: TaskKind;
  /** chunk index (src/engine/plan.ts): of the training samples (f+grad, f; of the subset when the task names one), of the subset (Gv), of the held-out set (accuracy) */
  chunk: number;
  /**
   * a reduction group's size G (EngineOptions.chunksPerResult; default 1): the task is
   * group chunk/G and covers chunks chunk .. min(chunk + G, K) − 1 of the pass's K. Its
   * result is the sum of theirs in chunk order, the scalar in float64, the vector in
   * float64 rounded once to float32 (a group of one chunk: that chunk's result, bit for bit).
   */
  group?: number;
  /** the version of the training θ (f+grad, f, Gv) or of the evaluation θ (accuracy) */
  thetaVersion: number;
  /** for accuracy: the held-out set */
  set?: EvalSetName;
  /** for Gv, and for f+grad and f over a sample: the subset's version and length; for Gv: v's version */
  subsetVersion?: number;
  subsetLength?: number;
  /**
   * f+grad over a subset, on the tasks whose chunks the next Gv pass shares (plan.ts,
   * sharedChunks): that pass is at this θ over the subset's first gaussNewtonPrefix
   * indices, so the worker keeps the shared chunks' linearization for it (compute.ts), and
   * the task is sticky (placement.ts) to go where that pass's chunks will
   */
  gaussNewtonPrefix?: number;
  vVersion?: number;
  /** where a transport with shared result memory writes the vector result (the engine keeps at most `capacity` chunks unsummed) */
  slot: number;
  /** 0 for the first try of this chunk in this pass */
  attempt: number;
}

/** A chunk's result as the compute produced it. */
export interface ChunkResult {
  /** the scalar channel: a loss sum (f+grad, f) or a count of correct samples (accuracy) */
  scalar: number;
  /** the float32 partial sum of a vector pass (f+grad: ∇ of the loss sum; Gv: Σ Jᵀ B J v) */
  vector?: Float32Array;
  /** when the compute started and ended (ms since the epoch, sub-ms precise) */
  start: number;
  end: number;
  /** who computed it: a thread id, or a worker's name on a remote transport */
  worker: string;
}

/**
 * Makes workers fail on purpose, for tests: on `kind` chunk `chunk`, at attempts <
 * `attempts`, from θ version `fromThetaVersion` on (default 0: always). `exit` ends the
 * worker (its thread or process), `throw` fails the task.
 */
export interface FaultPlan {
  kind: TaskKind;
  chunk: number;
  attempts: number;
  mode: 'exit' | 'throw';
  fromThetaVersion?: number;
}

/** Whether a fault plan fires on this task. */
export function faultFires(f: FaultPlan | undefined, task: Task): boolean {
  if (!f || f.kind !== task.kind || f.chunk !== task.chunk || task.attempt >= f.attempts)
    return false;
  return task.thetaVersion >= (f.fromThetaVersion ?? 0);
}
