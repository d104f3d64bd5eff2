/**
 * The Gauss-Newton problem computed by a Piscina pool of long-lived worker threads.
 *
 * Every pass is split into fixed chunks (ranges of `bsize` samples for f and ∇f, pieces
 * of `bsize` of the subset S for Gv); chunks go to whichever worker is free; results are
 * reduced in float64 in chunk order as they arrive, so the trajectory is bitwise the same
 * for any number of workers. A chunk whose worker throws or dies is run again (Piscina
 * replaces dead threads); after `maxAttempts` failures of one chunk the pass fails with a
 * PoolError naming it and the cause.
 *
 * `abort()` stops the pass under way: no further chunk is sent or started (chunks still in
 * Piscina's queue stay there until `close()`), the chunks already handed to a worker are
 * left to settle (none is retried), and the pass rejects with an AbortError; so do all
 * later passes.
 *
 * Keeping the cores busy: each worker is sent its next chunk while it computes the
 * current one (no round trip between chunks), and chunk results land in a ring of
 * `slots` shared result slots (chunk k in slot k mod slots; chunk k is sent only once
 * chunk k − slots has been added to the sum), so the main thread allocates nothing per
 * chunk and the memory held for results is bounded.
 *
 * Accuracy on held-out sets (Evaluation) runs as a pass of 'correct' tasks: the sets are
 * shared with the workers once, θ goes into its own buffer (evalTheta, with its own
 * versions), and per-chunk counts are summed in chunk order like losses.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { GvMethod } from '../autodiff/evaluator.js';
import { oneTensorflowThreadPerContext, type BackendName } from '../backend/select.js';
import { sampleSize, type Dataset } from '../data/dataset.js';
import type { LossKind } from '../model/loss.js';
import type { Network } from '../model/network.js';
import { AbortError } from '../errors.js';
import type { GaussNewtonProblem, LinearOperator, ProgressFn } from '../solver/problem.js';
import { checkEvalSet, reportProgress, type EvalSetName, type EvalSets, type Evaluation } from './evaluation.js';
import type { FaultPlan, SharedEvalSet, SharedSetup, Task, TaskKind, TaskResult } from './protocol.js';
import { divideBy, fractionOf, meanOf, OrderedSum } from './reduce.js';

export class PoolError extends Error {
  override name = 'PoolError';
}

export interface PoolOptions {
  /** worker threads (default: available parallelism), each with its own backend */
  workers?: number;
  bsize?: number;
  backend: BackendName;
  /** how Gauss-Newton products are computed (default linearized) */
  gv?: GvMethod;
  /** attempts per chunk before the pass fails (default 3) */
  maxAttempts?: number;
  /** result slots of numParams float32 each (default 4 per worker): chunks in flight or waiting for their turn in the sum */
  slots?: number;
  /** testing hook: make workers die on a chunk */
  faults?: FaultPlan;
  /** held-out sets for `accuracy` (copied into shared memory once) */
  evalSets?: EvalSets;
}

export interface PoolStats {
  tasks: number;
  retries: number;
  /** ms spent inside workers' compute, summed over tasks */
  computeMs: number;
}

/** One chunk computed by a worker: when its compute started and ended (ms since the epoch). */
export interface TaskSpan {
  kind: TaskKind;
  chunk: number;
  start: number;
  end: number;
  /** the worker thread's id */
  thread: number;
}

/** The worker entry: compiled JS next to dist/, or the TypeScript sources through tsx. */
function workerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, '..', '..', 'workers', 'compute.js');
  if (import.meta.url.endsWith('.js') && existsSync(built)) return built;
  return join(here, '..', '..', 'workers', 'compute-dev.mjs');
}

function shared(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(4, bytes));
}

/** Tasks a worker holds at once: one computing, the next one waiting in the worker. */
const TASKS_PER_WORKER = 2;

type Balancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>;

/** Set by the balancer when it hands a task's current attempt to a worker. */
interface Ticket {
  dispatched: boolean;
}

/**
 * The least busy worker (Piscina's own rule) for tasks without affinity; a task with
 * `{ worker: k }` in its queue options waits for worker k mod (live workers), in the order
 * of their ids, rather than going to another one. A task whose worker dies is retried by
 * the pool and lands on whichever worker then holds that position.
 */
const affinityBalancer: Balancer = (task, workers) => {
  const live = workers.filter((w) => !w.terminating && !w.destroyed);
  const want = ((task as unknown as Record<symbol, { worker?: number } | null>)[Piscina.queueOptionsSymbol] ?? null)?.worker;
  if (want === undefined) {
    const free = live.filter((w) => w.currentUsage < TASKS_PER_WORKER);
    return free.length === 0 ? null : free.reduce((a, b) => (b.currentUsage < a.currentUsage ? b : a));
  }
  if (live.length === 0) return null;
  const w = live.sort((a, b) => a.id - b.id)[want % live.length];
  return w.currentUsage < TASKS_PER_WORKER ? w : null;
};

/**
 * A θ shared with the workers and its version: `set` writes a new θ and bumps the version
 * only when θ changed, so workers keep what they derived from it (their parameter tensors,
 * prepared Gv chunks) across passes at the same θ.
 */
class VersionedTheta {
  version = 0;
  private readonly shared: Float32Array;
  private last: Float64Array | null = null;

  constructor(buffer: SharedArrayBuffer) {
    this.shared = new Float32Array(buffer);
  }

  /** Publishes θ; returns its version. */
  set(theta: Float64Array): number {
    if (this.last && this.last.length === theta.length && this.last.every((x, i) => x === theta[i])) return this.version;
    this.shared.set(theta);
    this.last = Float64Array.from(theta);
    return ++this.version;
  }
}

const PASS_NAMES = { lossGrad: 'f+grad', loss: 'f', gv: 'Gv', correct: 'accuracy' } as const;

/** A data set's samples and labels copied into shared memory. */
function shareData(data: Dataset): { x: SharedArrayBuffer; labels: SharedArrayBuffer } {
  const m = sampleSize(data);
  const x = shared(data.n * m * 4);
  new Float32Array(x).set(data.x.subarray(0, data.n * m));
  const labels = shared(data.n * 4);
  new Int32Array(labels).set(data.labels.subarray(0, data.n));
  return { x, labels };
}

export class PoolProblem implements GaussNewtonProblem, Evaluation {
  onProgress?: ProgressFn;
  /** called for every chunk a worker completed (diagnostics: the scaling benchmark's timeline) */
  onTask?: (span: TaskSpan) => void;
  readonly dim: number;
  readonly numSamples: number;
  readonly workers: number;
  readonly stats: PoolStats = { tasks: 0, retries: 0, computeMs: 0 };
  private readonly pool: Piscina<Task, TaskResult>;
  /** θ of the training passes (lossGrad, loss, gv) */
  private readonly theta: VersionedTheta;
  /** θ of accuracy passes: its own buffer and versions, so a CG solve's prepared chunks stay valid */
  private readonly evalTheta: VersionedTheta;
  private readonly v: Float32Array;
  private readonly subset: Int32Array;
  private readonly results: SharedArrayBuffer;
  private readonly slots: number;
  private readonly bsize: number;
  private readonly maxAttempts: number;
  private subsetVersion = 0;
  private readonly evalSizes: Partial<Record<EvalSetName, number>> = {};
  private aborted: { reason: unknown } | null = null;
  /** the passes under way: each stops sending chunks and abandons its undispatched ones */
  private readonly abortHooks = new Set<() => void>();

  constructor(net: Network, data: Dataset, loss: LossKind, opts: PoolOptions) {
    this.dim = net.numParams;
    this.numSamples = data.n;
    this.bsize = opts.bsize ?? 1024;
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.workers = opts.workers ?? availableParallelism();
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new RangeError(`workers must be a positive integer, got ${this.workers}`);
    // each worker's TensorFlow context computes on that worker's thread (read when it loads)
    if (opts.backend === 'tensorflow') oneTensorflowThreadPerContext();
    const { x, labels } = shareData(data);
    const evalSets: Partial<Record<EvalSetName, SharedEvalSet>> = {};
    for (const name of ['test', 'val'] as const) {
      const set = opts.evalSets?.[name];
      if (!set) continue;
      checkEvalSet(name, set, data);
      evalSets[name] = { n: set.n, ...shareData(set) };
      this.evalSizes[name] = set.n;
    }
    this.slots = opts.slots ?? 4 * this.workers;
    if (!Number.isInteger(this.slots) || this.slots < 1) throw new RangeError(`slots must be a positive integer, got ${opts.slots}`);
    this.results = shared(this.slots * this.dim * 4);
    const setup: SharedSetup = {
      spec: net.spec,
      loss,
      backend: opts.backend,
      gv: opts.gv ?? 'linearized',
      inputShape: data.inputShape,
      numClasses: data.numClasses,
      n: data.n,
      x,
      labels,
      theta: shared(this.dim * 4),
      v: shared(this.dim * 4),
      subset: shared(data.n * 4),
      bsize: this.bsize,
      dim: this.dim,
      results: this.results,
      evalSets,
      evalTheta: shared(this.dim * 4),
      faults: opts.faults,
    };
    this.theta = new VersionedTheta(setup.theta);
    this.v = new Float32Array(setup.v);
    this.subset = new Int32Array(setup.subset);
    this.evalTheta = new VersionedTheta(setup.evalTheta);
    this.pool = new Piscina<Task, TaskResult>({
      filename: workerFile(),
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: TASKS_PER_WORKER,
      // once aborted, no task starts; a task handed to a worker is marked on its ticket
      loadBalancer: (task, workers) => {
        if (this.aborted) return null;
        const w = affinityBalancer(task, workers);
        if (w) {
          const ticket = ((task as unknown as Record<symbol, { ticket?: Ticket } | null>)[Piscina.queueOptionsSymbol] ?? null)?.ticket;
          if (ticket) ticket.dispatched = true;
        }
        return w;
      },
      workerData: setup,
    });
  }

  /** The pool's threads (for tests and diagnostics). */
  get threads() {
    return this.pool.threads;
  }


  /**
   * Stops the pass under way and every later one (see the class comment and
   * GaussNewtonProblem.abort); `close()` is still needed to stop the threads.
   */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = { reason };
    for (const hook of [...this.abortHooks]) hook();
  }

  private async runChunk(task: Omit<Task, 'attempt'>, ticket: Ticket): Promise<TaskResult> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      try {
        // Gv chunk k goes to worker k mod workers while that worker lives: a worker keeps
        // the linearizations of its own chunks only (half the memory and cache traffic
        // with 2 workers, and no chunk prepared twice in one solve)
        ticket.dispatched = false;
        const queueOptions = task.kind === 'gv' ? { worker: task.chunk, ticket } : { ticket };
        const r = await this.pool.run({ ...task, attempt, [Piscina.queueOptionsSymbol]: queueOptions });
        this.stats.tasks++;
        this.stats.computeMs += r.end - r.start;
        this.onTask?.({ kind: task.kind, chunk: task.chunk, start: r.start, end: r.end, thread: r.thread });
        return r;
      } catch (e) {
        // an aborted pass retries nothing
        if (this.aborted) throw new AbortError(this.aborted.reason);
        lastError = e;
        this.stats.retries++;
      }
    }
    const why = lastError instanceof Error ? lastError.message : String(lastError);
    throw new PoolError(`${task.kind} chunk ${task.chunk} failed ${this.maxAttempts} times; last cause: ${why}`);
  }

  /**
   * Runs chunks 0..chunks−1 of a pass and sums their results in chunk order as they
   * arrive (float64; vectors of `dim`, or losses only when `dim` is 0). At most `slots`
   * chunks are in flight or waiting for their turn in the sum. On failure, waits for the
   * chunks in flight to settle (none writes a slot afterwards), then rejects. On abort,
   * the same, except that chunks not yet handed to a worker are not waited for (they never
   * start), and the error is an AbortError.
   */
  private runAll(kind: TaskKind, chunks: number, dim: number, extra: Partial<Task> = {}, into?: Float64Array): Promise<OrderedSum> {
    if (this.aborted) return Promise.reject(new AbortError(this.aborted.reason));
    const sum = new OrderedSum(dim, into);
    const pass = PASS_NAMES[kind];
    const thetaVersion = this.theta.version;
    let sent = 0;
    /** chunks sent and not settled (nor abandoned on abort) */
    const pending = new Map<number, Ticket>();
    let failure: { error: unknown } | null = null;
    return new Promise((resolve, reject) => {
      const settle = () => {
        if (pending.size > 0) return;
        if (failure) {
          this.abortHooks.delete(onAbort);
          reject(failure.error);
        } else if (sum.added === chunks) {
          this.abortHooks.delete(onAbort);
          resolve(sum);
        }
      };
      const onAbort = () => {
        failure ??= { error: new AbortError(this.aborted?.reason) };
        for (const [chunk, ticket] of pending) if (!ticket.dispatched) pending.delete(chunk);
        settle();
      };
      this.abortHooks.add(onAbort);
      const send = () => {
        while (!failure && sent < chunks && sent < sum.added + this.slots) {
          const chunk = sent++;
          const slot = chunk % this.slots;
          const ticket: Ticket = { dispatched: false };
          pending.set(chunk, ticket);
          this.runChunk({ kind, chunk, slot, thetaVersion, ...extra }, ticket).then(
            (r) => {
              if (!pending.delete(chunk)) return; // abandoned on abort
              if (!failure) {
                // the scalar channel: a loss sum, or a count of correctly classified samples
                sum.add(chunk, { loss: kind === 'correct' ? r.correct : r.loss, vector: dim > 0 ? this.slot(slot) : undefined });
                reportProgress(this.onProgress, pass, sum.added, chunks);
                send();
              }
              settle();
            },
            (e: unknown) => {
              if (!pending.delete(chunk)) return;
              failure ??= { error: e };
              settle();
            },
          );
        }
      };
      send();
      settle(); // a pass of no chunks
    });
  }

  private slot(i: number): Float32Array {
    return new Float32Array(this.results, i * this.dim * 4, this.dim);
  }

  private get dataChunks(): number {
    return Math.ceil(this.numSamples / this.bsize);
  }

  async lossAndGradient(theta: Float64Array): Promise<{ loss: number; grad: Float64Array }> {
    this.theta.set(theta);
    return meanOf(await this.runAll('lossGrad', this.dataChunks, this.dim), this.numSamples);
  }

  async loss(theta: Float64Array): Promise<number> {
    this.theta.set(theta);
    const sum = await this.runAll('loss', this.dataChunks, 0);
    return sum.loss / this.numSamples;
  }

  async gaussNewton(theta: Float64Array, subset: Int32Array): Promise<LinearOperator> {
    this.theta.set(theta);
    this.subset.set(subset);
    const subsetVersion = ++this.subsetVersion;
    const chunks = Math.ceil(subset.length / this.bsize);
    const dim = this.dim;
    return {
      apply: async (v, into) => {
        this.v.set(v);
        return divideBy((await this.runAll('gv', chunks, dim, { subsetVersion, subsetLength: subset.length }, into)).vector!, subset.length);
      },
      release: async () => {},
    };
  }

  async accuracy(theta: Float64Array, set: EvalSetName): Promise<number> {
    if (theta.length !== this.dim) throw new RangeError(`θ has ${theta.length} entries, the model ${this.dim}`);
    const n = this.evalSizes[set] ?? 0;
    if (n === 0) return NaN;
    // θ of accuracy tasks has its own buffer and versions: the training θ (and a CG
    // solve's prepared Gv chunks in the workers) stay valid across this pass
    const thetaVersion = this.evalTheta.set(theta);
    const sum = await this.runAll('correct', Math.ceil(n / this.bsize), 0, { set, thetaVersion });
    return fractionOf(sum, n);
  }

  /** Stops every worker thread. */
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
