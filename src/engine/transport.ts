/**
 * The contract between the pass engine and whatever carries its chunks to compute: the
 * calling thread (in-process), a pool of threads, or worker processes on other machines
 * (NATS). A transport moves state, tasks and results; it plans nothing, retries nothing
 * and reduces nothing: that is the engine's (src/engine/engine.ts).
 */
import type { ChunkResult, Task } from './task.js';

export interface RunOptions {
  /** called when the task is handed to a worker (from then on, the task will settle) */
  onDispatched(): void;
  /**
   * the task's chunk keeps prepared state in the worker that computed it (Gv chunks of
   * one CG solve): send every attempt of chunk k to the same worker while it lives
   */
  sticky: boolean;
}

export interface Transport {
  /** compute workers behind this transport (0: the calling thread) */
  readonly workers: number;
  /**
   * how many chunks the engine may have sent and not yet summed; a result's `vector`
   * stays valid until `capacity` more chunks have been sent after it
   */
  readonly capacity: number;
  /** The training θ of version `version` (a new version per change). */
  publishTheta(version: number, theta: Float32Array): void;
  /** The θ of accuracy passes, with versions of its own. */
  publishEvalTheta(version: number, theta: Float32Array): void;
  publishSubset(version: number, subset: Int32Array): void;
  /**
   * v of version `version`, for the Gv pass that follows (passes run one at a time). The
   * engine writes the next version into the same buffer once that pass has settled: keep a
   * copy, or read it only while the pass runs.
   */
  publishV(version: number, v: Float32Array): void;
  /**
   * One attempt of one chunk: resolves with its result, rejects if the worker failed or
   * went away (the engine then decides whether to retry). An error with `fatal: true`
   * (no worker, no server) fails the pass at once: no retry would mend it.
   */
  run(task: Task, options: RunOptions): Promise<ChunkResult>;
  /** From now on no task is handed to a worker (tasks already handed over still settle). */
  stop(): void;
  /** Frees the workers (threads, connections); the transport is unusable afterwards. */
  close(): Promise<void>;
}
