/**
 * `startTraining`: training that never blocks its host. The whole run (data loading, the
 * solver, CG, the reductions, the accuracy passes, checkpoints, and its Piscina pool of
 * compute workers) runs in a worker thread of its own (workers/trainer.ts); the host gets
 * a TrainingHandle at once and talks to the thread with comlink: progress events,
 * abort, pause/resume at an iteration boundary, snapshots of θ, and the result.
 *
 * Sharing the machine (the host-wide rule): the compute threads of all trainings started
 * from one process come out of one budget, `computeWorkerCap` (default: the machine's
 * available parallelism; `setComputeWorkerCap` changes it). A training asks for `workers`
 * compute threads (default: the whole cap; 0 = its training thread computes, which takes
 * one) and gets, when it starts, as many as are free up to that number; when none is
 * free it waits, in start order, until a training ends. The count is fixed for the run
 * (the trajectory is the same for any count; `result.workers` says what it got). A
 * paused training keeps its threads. The training threads themselves (coordinators,
 * mostly idle while their pools compute) are not counted.
 *
 * Every thread a training started is gone when its `result` settles: the compute pool is
 * closed inside the thread, then the thread's ports are released and it exits by itself
 * (it is terminated if it has not after EXIT_GRACE_MS), and only then are its compute
 * slots given back.
 *
 * tfjs-node: a training that may run on the native backend (backend 'tensorflow', or
 * 'auto' where tfjs-node is installed) first loads tfjs-node on the host's thread, once
 * per process. Otherwise libtensorflow would be unloaded with the last worker thread that
 * used it, and the process would crash at exit in TensorFlow's exit handlers. Loading it
 * stalls the host's event loop once, for about half a second: a server can take that at
 * start-up (`await nativeUnavailable()`) or pass backend 'wasm'. The main thread's
 * loading also sets TensorFlow's one-thread-per-context environment, which
 * libtensorflow reads from the main thread only.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { nativeUnavailable } from '../backend/select.js';
import { budget } from './budget.js';
import { RunError } from '../errors.js';
import { layersModel, saveModel, type SavedModel } from '../model/keras.js';
import { Network } from '../model/network.js';
import { CallbackRunner } from '../run/callbacks.js';
import { validateOptions, type TfjsTrainOptions } from '../run/options.js';
import { fromTfjs } from '../run/prepare.js';
import type { ProgressFn } from '../solver/problem.js';
import type { PhaseSeconds } from '../solver/report.js';
import type { TrainIteration, TrainOptions, TrainResult } from '../run/train.js';
import {
  Comlink,
  type HookCall,
  type TrainerApi,
  type TrainerEvents,
  type WireOptions,
  type WireResult,
  type WireSnapshot,
} from './wire.js';

/**
 * The options of `startTraining`: those of `train`, except `onBoundary` (the training
 * thread uses it). `onIteration`, `onProgress`, `callbacks` and `signal` stay on the host:
 * the callbacks are called from the thread's events (tfjs's callbacks awaited, the run
 * waiting for them), and an aborted `signal` calls `abort()`. A tf.LayersModel as `model`
 * stays on the host too: its spec and weights go to the thread, and its weights are set
 * to θ after every iteration and at the end, as with `train`; tensors as `data` are copied.
 * `workers` is an upper bound under the host-wide compute budget (see the module comment).
 */
export type StartOptions = Omit<TfjsTrainOptions, 'onBoundary'>;

/** The events of a TrainingHandle (Node EventEmitter events). */
export interface TrainingEvents {
  /** an iteration completed: what `onIteration` receives */
  iteration: [it: TrainIteration, phases: PhaseSeconds];
  /** chunks of a long pass completed: what `onProgress` receives */
  progress: Parameters<ProgressFn>;
}

/** A snapshot held in memory: θ after iteration `iter`, as a tfjs Layers model. */
export interface ModelSnapshot {
  iter: number;
  params: Float32Array;
  /** the model as `saveModel` would write it (with the input preprocessing layers, if any); dispose it when done */
  model: tf.Sequential;
}

/** A snapshot written to a folder (model.json + weights.bin, loadable with tf.loadLayersModel). */
export interface SavedSnapshot {
  iter: number;
  params: Float32Array;
  dir: string;
}

/** The thread entry: compiled JS next to dist/, or the TypeScript sources through tsx. */
function trainerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, '..', '..', 'workers', 'trainer.js');
  if (import.meta.url.endsWith('.js') && existsSync(built)) return built;
  return join(here, '..', '..', 'workers', 'trainer-dev.mjs');
}

/** How long a training thread may take to exit by itself once its run has ended (ms). */
const EXIT_GRACE_MS = 10_000;

/** What the host keeps of a finished run to answer snapshot() after the thread is gone. */
type Finished =
  | { ok: true; result: TrainResult; model: SavedModel & { iter: number } }
  | { ok: false; error: unknown };

/**
 * A training running in its own thread (see `startTraining`). Its events are Node
 * EventEmitter events: 'iteration' (an iteration's report) and 'progress' (pass, chunks
 * done, chunks in the pass). Listeners run on the host's thread; one that throws aborts
 * the run, and `result` rejects with its error (as with `train`'s callbacks).
 */
export class TrainingHandle extends EventEmitter<TrainingEvents> {
  /** What `train` returns, once the run has ended and its threads are gone; rejects with the run's error (the same class and message). */
  readonly result: Promise<TrainResult>;
  /**
   * Resolves with the training thread's exit code once it has exited: 0 when it ended by
   * itself after the run (nothing left running in it), 1 if it had to be terminated.
   */
  readonly exited: Promise<number>;
  /** The training thread's id. */
  readonly threadId: number;
  private readonly worker: Worker;
  private readonly remote: Comlink.Remote<TrainerApi>;
  /** aborts the wait for compute threads, and marks the run for abort once it starts */
  private readonly stop = new AbortController();
  private finished: Finished | null = null;
  private listenerError: { error: unknown } | null = null;
  /** the fit-style hooks run here (tfjs callbacks, the caller's model), from trainBegin on */
  private runner: CallbackRunner | null = null;

  /** @internal use `startTraining` */
  constructor(options: StartOptions) {
    super();
    const { onIteration, onProgress, signal, workers: asked, nats, callbacks, ...given } = options;
    // the caller's model and tensors cross as a spec, θ and arrays; the model stays here
    const tfjs = fromTfjs(given);
    const rest: WireOptions = {
      ...tfjs.options,
      ...(tfjs.initialParams ? { initialParams: tfjs.initialParams } : {}),
      ...(callbacks !== undefined || tfjs.model ? { hooks: true } : {}),
    };
    // a function does not cross to the thread: the thread sends the status lines back
    const { onStatus, ...natsOptions } = nats ?? {};
    const trainOptions: WireOptions = nats
      ? { ...rest, nats: natsOptions as WireOptions['nats'], natsStatus: onStatus !== undefined }
      : rest;
    const mayBeNative =
      trainOptions.backend === undefined ||
      trainOptions.backend === 'auto' ||
      trainOptions.backend === 'tensorflow';
    this.worker = new Worker(trainerFile());
    this.threadId = this.worker.threadId;
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    let crash: unknown = null;
    this.worker.on('error', (e) => (crash ??= e));
    this.remote = Comlink.wrap<TrainerApi>(nodeEndpoint(this.worker));
    const deliver = (call: () => void) => {
      try {
        call();
      } catch (e) {
        this.listenerError ??= { error: e };
        this.abort();
      }
    };
    const events: TrainerEvents = {
      iteration: (it, phases) =>
        deliver(() => {
          onIteration?.(it, phases);
          this.emit('iteration', it, phases);
        }),
      progress: (pass, done, total) =>
        deliver(() => {
          onProgress?.(pass, done, total);
          this.emit('progress', pass, done, total);
        }),
      natsStatus: (line) => deliver(() => onStatus?.(line)),
      hook: async (call) => {
        try {
          return await this.hook(call, () => new CallbackRunner(callbacks, tfjs.model));
        } catch (e) {
          this.listenerError ??= { error: e };
          this.abort();
          return true;
        }
      },
    };
    const onSignal = () => this.abort();
    signal?.addEventListener('abort', onSignal, { once: true });
    if (signal?.aborted) this.abort();

    const run = async (): Promise<TrainResult> => {
      const want = asked === undefined ? budget.cap : asked;
      const slots = await budget.acquire(Math.max(1, want), this.stop.signal);
      try {
        // tfjs-node on this thread too, before any other thread loads it (module comment)
        if (mayBeNative) await nativeUnavailable();
        const workers = asked === 0 || slots === 0 ? 0 : slots;
        const threadGone = this.exited.then((code) => {
          throw (
            crash ?? new RunError(`the training thread exited (code ${code}) before its result`)
          );
        });
        const wire = await Promise.race([
          this.remote.run({ ...trainOptions, workers }, Comlink.proxy(events)),
          threadGone,
        ]);
        if (this.listenerError) throw this.listenerError.error;
        const { spec, loss, preprocessing, iter, ...rest } = wire;
        const result: TrainResult = { ...rest, network: new Network(spec) };
        this.finished = {
          ok: true,
          result,
          model: { spec, theta: result.params, loss, preprocessing, iter },
        };
        return result;
      } finally {
        signal?.removeEventListener('abort', onSignal);
        // the thread's last listener goes: with its pool closed and its event port released,
        // it exits by itself (code 0); a thread still holding something is ended
        this.remote[Comlink.releaseProxy]();
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([
          this.exited.then(() => false),
          new Promise<boolean>((r) => (timer = setTimeout(r, EXIT_GRACE_MS, true))),
        ]);
        clearTimeout(timer);
        if (late) await this.worker.terminate();
        await this.exited;
        budget.release(slots);
        this.runner?.dispose();
      }
    };
    this.result = run().catch((error: unknown) => {
      this.finished ??= { ok: false, error };
      throw error;
    });
  }

  /** A fit-style hook of the thread's run, on this thread's CallbackRunner: true to stop. */
  private async hook(call: HookCall, runner: () => CallbackRunner): Promise<boolean> {
    switch (call.name) {
      case 'trainBegin':
        this.runner = runner();
        await this.runner.trainBegin(call.params, call);
        return false;
      case 'epochBegin':
        await this.runner!.epochBegin(call.epoch);
        return false;
      case 'epochEnd':
        return this.runner!.epochEnd(call.epoch, call.logs, call.theta);
      case 'trainEnd':
        await this.runner!.trainEnd(call.logs, call.theta);
        return false;
    }
  }

  /** A remote call, or `fallback` once the run has ended and the thread exited without answering it. */
  private call<T>(request: () => Promise<T>, fallback: () => T | Promise<T>): Promise<T> {
    if (this.finished) return Promise.resolve().then(fallback);
    let answered = false;
    const answer = request().finally(() => (answered = true));
    const unanswered = this.exited.then(async () => {
      await this.result.catch(() => {});
      return answered ? new Promise<never>(() => {}) : fallback();
    });
    return Promise.race([answer, unanswered]);
  }

  /**
   * Stops the run as `train`'s `signal` does: the pass under way ends within about one
   * chunk's compute (a pause is left), the last completed iteration's checkpoint is
   * written (with `out`), and `result` resolves with `interrupted: true`. A training
   * still waiting for compute threads starts none. Idempotent.
   */
  abort(): void {
    if (this.stop.signal.aborted || this.finished) return;
    this.stop.abort();
    void this.call(
      () => this.remote.abort(),
      () => {},
    ).catch(() => {});
  }

  /**
   * Pauses at the next iteration boundary (the current one, if already paused): resolves
   * with the number of iterations completed there, once the run waits there and nothing
   * computes; with null if the run ends, is aborted or is resumed first.
   */
  pause(): Promise<number | null> {
    return this.call(
      () => this.remote.pause(),
      () => null,
    );
  }

  /** Continues a paused run (or cancels a pause not yet reached). */
  resume(): Promise<void> {
    return this.call(
      () => this.remote.resume(),
      () => {},
    );
  }

  /**
   * θ of the last completed iteration (the initial θ before the first): as a tfjs Layers
   * model in memory on this thread (the caller disposes `model`), or, given `dir`,
   * written there as model.json + weights.bin (as `out`'s `last/` is). After the run,
   * the final θ; rejects with the run's error if it failed.
   */
  snapshot(): Promise<ModelSnapshot>;
  snapshot(dir: string): Promise<SavedSnapshot>;
  async snapshot(dir?: string): Promise<ModelSnapshot | SavedSnapshot> {
    const snap = await this.call<WireSnapshot>(
      () => this.remote.snapshot(dir),
      async () => {
        const f = this.finished!;
        if (!f.ok) throw f.error;
        const m = f.model;
        if (dir !== undefined) {
          await tf.ready(); // this thread's tfjs may not have a backend yet
          await saveModel(dir, {
            spec: m.spec,
            theta: m.theta,
            loss: m.loss,
            preprocessing: m.preprocessing,
          });
        }
        return {
          iter: m.iter,
          params: Float32Array.from(m.theta),
          spec: m.spec,
          loss: m.loss,
          preprocessing: m.preprocessing,
          dir,
        };
      },
    );
    if (dir !== undefined) return { iter: snap.iter, params: snap.params, dir };
    await tf.ready();
    return {
      iter: snap.iter,
      params: snap.params,
      model: layersModel({
        spec: snap.spec,
        theta: snap.params,
        loss: snap.loss,
        preprocessing: snap.preprocessing,
      }),
    };
  }
}

/**
 * Starts a training in a worker thread of its own and returns at once: the host's event
 * loop stays free while it runs. Options are those of `train` (checked here, at once:
 * a bad option throws its TypeError or RangeError before any thread starts); `data` given
 * as loaded sets is copied to the thread (a name or path is loaded there). Errors of the
 * run reject `result` as the same classes (UsageError, RunError, DataError, ...).
 *
 * ```ts
 * const h = startTraining({ data: 'fashion-mnist', model: 'mlp:256,256', out: 'runs/f' });
 * h.on('iteration', (it) => console.log(it.iter, it.f, it.testAcc));
 * const { testAcc } = await h.result;
 * ```
 */
export function startTraining(options: StartOptions = {}): TrainingHandle {
  validateOptions(options, 'newton');
  if ((options as TrainOptions).onBoundary !== undefined) {
    throw new TypeError(
      "option 'onBoundary' is not available with startTraining: use the handle's pause() and snapshot()",
    );
  }
  return new TrainingHandle(options);
}
