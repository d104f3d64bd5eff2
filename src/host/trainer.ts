/**
 * The training thread's side of `startTraining`: one `train()` run, driven through the
 * TrainerApi that workers/trainer.ts exposes with comlink. It owns what the host can ask
 * of a run in progress: abort (train's `signal`), pause and resume at an iteration
 * boundary (train's `onBoundary`, awaited), and snapshots of the last committed θ.
 */
import { UsageError } from '../errors.js';
import { saveModel } from '../model/keras.js';
import type { RunHooks } from '../run/callbacks.js';
import { runTraining, type IterationBoundary } from '../run/train.js';
import {
  Comlink,
  type TrainerApi,
  type TrainerEvents,
  type WireOptions,
  type WireResult,
  type WireSnapshot,
} from './wire.js';

/** The run's fit-style hooks, each awaited on the host (where the callbacks and the caller's model are). */
function hooksOnHost(events: TrainerEvents): RunHooks {
  return {
    async trainBegin(params, { spec, theta }) {
      await events.hook({ name: 'trainBegin', params, spec, theta });
    },
    async epochBegin(epoch) {
      await events.hook({ name: 'epochBegin', epoch });
    },
    epochEnd: (epoch, logs, theta) => events.hook({ name: 'epochEnd', epoch, logs, theta }),
    async trainEnd(logs, theta) {
      await events.hook({ name: 'trainEnd', logs, theta });
    },
    dispose() {},
  };
}

export class Trainer implements TrainerApi {
  private readonly controller = new AbortController();
  private started = false;
  private ended = false;
  /** the state at the last boundary (θ a copy: the thread's own) */
  private last: IterationBoundary | null = null;
  /** snapshot() calls waiting for the first boundary */
  private firstBoundary: { resolve: () => void; promise: Promise<void> };
  /** a pause was asked for and not yet resumed */
  private pauseWanted = false;
  /** pause() calls waiting for the boundary where the run stops */
  private pauseWaiters: ((iter: number | null) => void)[] = [];
  /** set while the run waits at a boundary: continues it */
  private wake: (() => void) | null = null;
  /** the boundary the run waits at, while paused */
  private pausedAt: number | null = null;
  /** event calls not yet acknowledged by the host */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor() {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstBoundary = { resolve, promise };
  }

  async run(options: WireOptions, events: TrainerEvents): Promise<WireResult> {
    if (this.started) throw new Error('this training thread has already run a training');
    this.started = true;
    const inFlight = this.inFlight;
    const send = (call: () => unknown) => {
      const p = Promise.resolve(call()).catch(() => {}); // a host listener's error is the host's business
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    };
    const { natsStatus, nats, initialParams, hooks, ...trainOptions } = options;
    try {
      const { network, ...rest } = await runTraining(
        {
          ...trainOptions,
          ...(nats
            ? {
                nats: natsStatus
                  ? { ...nats, onStatus: (line: string) => send(() => events.natsStatus(line)) }
                  : nats,
              }
            : {}),
          signal: this.controller.signal,
          onIteration: (it, phases) => send(() => events.iteration(it, phases)),
          onProgress: (pass, done, total) => send(() => events.progress(pass, done, total)),
          onBoundary: (b) => this.boundary(b),
        },
        { initialParams, hooks: hooks ? hooksOnHost(events) : undefined },
      );
      // a resolved train() has been through its first boundary at least
      const last = this.last!;
      const result: WireResult = {
        ...rest,
        spec: network.spec,
        loss: last.loss,
        preprocessing: last.preprocessing,
        iter: last.iter,
      };
      const buffers = [...new Set([result.params.buffer, result.bestParams.buffer])];
      return Comlink.transfer(result, buffers as ArrayBuffer[]);
    } finally {
      this.end();
      // every event is delivered before the result
      await Promise.all(inFlight);
      (events as Partial<Record<typeof Comlink.releaseProxy, () => void>>)[
        Comlink.releaseProxy
      ]?.();
    }
  }

  /** train's onBoundary: records the committed state; waits there while paused. */
  private async boundary(b: IterationBoundary): Promise<void> {
    this.last = b;
    this.firstBoundary.resolve();
    if (!this.pauseWanted || this.controller.signal.aborted) return;
    const waiting = new Promise<void>((resolve) => (this.wake = resolve));
    // the host has every event up to this boundary before its pause() resolves
    await Promise.all(this.inFlight);
    this.pausedAt = b.iter;
    for (const w of this.pauseWaiters.splice(0)) w(b.iter);
    await waiting;
    this.pausedAt = null;
  }

  private end(): void {
    this.ended = true;
    for (const w of this.pauseWaiters.splice(0)) w(null);
    this.firstBoundary.resolve();
  }

  abort(): void {
    this.controller.abort();
    this.pauseWanted = false;
    this.continue();
  }

  pause(): Promise<number | null> {
    if (this.ended || this.controller.signal.aborted) return Promise.resolve(null);
    this.pauseWanted = true;
    if (this.pausedAt !== null) return Promise.resolve(this.pausedAt);
    return new Promise((resolve) => this.pauseWaiters.push(resolve));
  }

  resume(): void {
    this.pauseWanted = false;
    for (const w of this.pauseWaiters.splice(0)) w(null);
    this.continue();
  }

  private continue(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async snapshot(dir?: string): Promise<WireSnapshot> {
    await this.firstBoundary.promise;
    const b = this.last;
    if (!b)
      throw new UsageError(
        'the training ended before its first iteration: there are no parameters to snapshot',
      );
    if (dir !== undefined)
      await saveModel(dir, {
        spec: b.spec,
        theta: b.params,
        loss: b.loss,
        preprocessing: b.preprocessing,
      });
    const snap: WireSnapshot = {
      iter: b.iter,
      params: Float32Array.from(b.params),
      spec: b.spec,
      loss: b.loss,
      preprocessing: b.preprocessing,
      dir,
    };
    return Comlink.transfer(snap, [snap.params.buffer as ArrayBuffer]);
  }
}
