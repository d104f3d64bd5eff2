/**
 * The threads transport: a Piscina pool of long-lived worker threads, each with its own
 * backend (workers/compute.ts, src/transport/thread-worker.ts). Large arrays never travel
 * in messages: the data set, the held-out sets, θ, v and the subset live in
 * SharedArrayBuffers handed to every worker once (workerData); a task names a chunk and
 * versions, and a chunk's vector result is written into the shared result slot the task
 * names, so results cost no allocation and messages stay a few bytes long.
 *
 * Scheduling: each worker holds up to two tasks (the next one waits in the worker while
 * the current one computes: no round trip between chunks); sticky tasks (Gv chunk k) go
 * to worker k mod workers, in the order of their ids, so no worker prepares a chunk twice
 * in one CG solve. A task whose worker dies rejects (Piscina replaces the thread), and
 * the engine sends it again.
 *
 * `threads` is its unit (registry.ts); `PoolProblem` the pass engine over it.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { GvMethod } from '../autodiff/evaluator.js';
import { oneTensorflowThreadPerContext, type BackendName } from '../backend/select.js';
import { sampleSize, type Dataset } from '../data/dataset.js';
import { PassEngine, PassError } from '../engine/engine.js';
import type { EvalSetName, EvalSets } from '../engine/evaluation.js';
import { checkBsize } from '../engine/plan.js';
import { stickyWorker, taskPosition } from '../engine/placement.js';
import type { ChunkResult, FaultPlan, Task } from '../engine/task.js';
import type { RunOptions, Transport } from '../engine/transport.js';
import type { LossKind } from '../model/loss.js';
import type { Network } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';
import { FAULTS, faultsOf, withFaults } from './faults.js';
import { engineOptionsOf, type TransportUnit } from './unit.js';

/** A data set in shared memory. */
export interface SharedData {
  n: number;
  /** n × prod(inputShape) float32 */
  x: SharedArrayBuffer;
  /** n int32 */
  labels: SharedArrayBuffer;
  /** n × numClasses float32 real-valued targets, when the set has them */
  targets?: SharedArrayBuffer;
}

/** What every worker thread is handed once. */
export interface SharedSetup {
  spec: ModelSpec;
  loss: LossKind;
  backend: BackendName;
  gv: GvMethod;
  inputShape: number[];
  numClasses: number;
  bsize: number;
  data: SharedData;
  evalSets: Partial<Record<EvalSetName, SharedData>>;
  /** numParams float32 each: the training θ, the θ of accuracy passes, the v of the current CG step */
  theta: SharedArrayBuffer;
  evalTheta: SharedArrayBuffer;
  v: SharedArrayBuffer;
  /** up to n int32: the current Gauss-Newton subset (its length is in the task) */
  subset: SharedArrayBuffer;
  /** numParams: the length of θ, v and of a result slot */
  dim: number;
  /** capacity × dim float32: chunk results, written by workers, read by the coordinator */
  results: SharedArrayBuffer;
  /** testing hook (src/transport/faults.ts) */
  faults?: FaultPlan;
}

/** A worker's answer: the result without its vector, which is in the task's slot. */
export type ThreadResult = Omit<ChunkResult, 'vector'> & { hasVector: boolean };

/** Options of the threads transport (a fault plan for tests goes under the FAULTS symbol: `withFaults`, faults.ts). */
export interface ThreadOptions {
  /** worker threads (default: available parallelism), each with its own backend */
  workers?: number;
  bsize?: number;
  backend: BackendName;
  gv?: GvMethod;
  /** shared result slots of numParams float32 (default 4 per worker): chunks in flight or waiting for their turn in the sum */
  slots?: number;
  /** held-out sets for accuracy passes (copied into shared memory once) */
  evalSets?: EvalSets;
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

/** A data set's samples, labels and targets (if any) copied into shared memory. */
function shareData(data: Dataset): SharedData {
  const m = sampleSize(data);
  const x = shared(data.n * m * 4);
  new Float32Array(x).set(data.x.subarray(0, data.n * m));
  const labels = shared(data.n * 4);
  new Int32Array(labels).set(data.labels.subarray(0, data.n));
  if (data.targets === undefined) return { n: data.n, x, labels };
  const k = data.numClasses;
  const targets = shared(data.n * k * 4);
  new Float32Array(targets).set(data.targets.subarray(0, data.n * k));
  return { n: data.n, x, labels, targets };
}

/** Tasks a worker holds at once: one computing, the next one waiting in the worker. */
const TASKS_PER_WORKER = 2;

type Balancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>;

/** What a task carries to the balancer, in its queue options. */
interface Routing {
  /** sticky tasks: the position of the worker among the live ones (mod their count) */
  worker?: number;
  onDispatched(): void;
}

const routingOf = (task: unknown): Routing | null =>
  ((task as Record<symbol, Routing | null>)[Piscina.queueOptionsSymbol] ?? null) as Routing | null;

/**
 * The least busy worker (Piscina's own rule) for tasks without affinity; a task with a
 * `worker` position waits for that worker (mod the live ones, in the order of their ids)
 * rather than going to another one.
 */
const affinityBalancer: Balancer = (task, workers) => {
  const live = workers.filter((w) => !w.terminating && !w.destroyed);
  const want = routingOf(task)?.worker;
  if (want === undefined) {
    const free = live.filter((w) => w.currentUsage < TASKS_PER_WORKER);
    return free.length === 0
      ? null
      : free.reduce((a, b) => (b.currentUsage < a.currentUsage ? b : a));
  }
  const w = stickyWorker(want, live, (x) => x.id);
  return w && w.currentUsage < TASKS_PER_WORKER ? w : null;
};

export class ThreadTransport implements Transport {
  readonly workers: number;
  readonly capacity: number;
  private readonly pool: Piscina<Task, ThreadResult>;
  private readonly setup: SharedSetup;
  private stopped = false;

  constructor(net: Network, data: Dataset, loss: LossKind, opts: ThreadOptions) {
    const dim = net.numParams;
    this.workers = opts.workers ?? availableParallelism();
    if (!Number.isInteger(this.workers) || this.workers < 1)
      throw new RangeError(`workers must be a positive integer, got ${this.workers}`);
    this.capacity = opts.slots ?? 4 * this.workers;
    if (!Number.isInteger(this.capacity) || this.capacity < 1)
      throw new RangeError(`slots must be a positive integer, got ${opts.slots}`);
    // each worker's TensorFlow context computes on that worker's thread (read when it loads)
    if (opts.backend === 'tensorflow') oneTensorflowThreadPerContext();
    const evalSets: Partial<Record<EvalSetName, SharedData>> = {};
    for (const name of ['test', 'val'] as const) {
      const set = opts.evalSets?.[name];
      if (set) evalSets[name] = shareData(set);
    }
    this.setup = {
      spec: net.spec,
      loss,
      backend: opts.backend,
      gv: opts.gv ?? 'linearized',
      inputShape: data.inputShape,
      numClasses: data.numClasses,
      bsize: checkBsize(opts.bsize ?? 1024),
      data: shareData(data),
      evalSets,
      theta: shared(dim * 4),
      evalTheta: shared(dim * 4),
      v: shared(dim * 4),
      subset: shared(data.n * 4),
      dim,
      results: shared(this.capacity * dim * 4),
      faults: faultsOf(opts),
    };
    this.pool = new Piscina<Task, ThreadResult>({
      filename: workerFile(),
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: TASKS_PER_WORKER,
      // once stopped, no task starts; a task handed to a worker says so
      loadBalancer: (task, workers) => {
        if (this.stopped) return null;
        const w = affinityBalancer(task, workers);
        if (w) routingOf(task)?.onDispatched();
        return w;
      },
      workerData: this.setup,
    });
  }

  /** The pool's threads (for tests and diagnostics). */
  get threads() {
    return this.pool.threads;
  }

  publishTheta(_version: number, theta: Float32Array): void {
    new Float32Array(this.setup.theta).set(theta);
  }
  publishEvalTheta(_version: number, theta: Float32Array): void {
    new Float32Array(this.setup.evalTheta).set(theta);
  }
  publishSubset(_version: number, subset: Int32Array): void {
    new Int32Array(this.setup.subset).set(subset);
  }
  publishV(_version: number, v: Float32Array): void {
    new Float32Array(this.setup.v).set(v);
  }

  async run(task: Task, options: RunOptions): Promise<ChunkResult> {
    const routing: Routing = {
      onDispatched: options.onDispatched,
      ...(options.sticky ? { worker: taskPosition(task) } : {}),
    };
    const r = await this.pool.run({ ...task, [Piscina.queueOptionsSymbol]: routing } as Task);
    const { hasVector, ...rest } = r;
    const dim = this.setup.dim;
    return {
      ...rest,
      vector: hasVector
        ? new Float32Array(this.setup.results, task.slot * dim * 4, dim)
        : undefined,
    };
  }

  stop(): void {
    this.stopped = true;
  }

  /** Stops every worker thread. */
  async close(): Promise<void> {
    this.stopped = true;
    await this.pool.destroy();
  }
}

/** The threads transport as a unit of the registry (registry.ts): `workers` threads. */
export const threads: TransportUnit = {
  name: 'threads',
  description:
    'a pool of worker threads in this process (Piscina), data and state in shared memory',
  async open(s, o) {
    const opts: ThreadOptions = {
      workers: o.workers,
      bsize: s.bsize,
      backend: s.backend,
      gv: s.gv,
      evalSets: s.evalSets,
    };
    const faults = o[FAULTS];
    return new ThreadTransport(s.net, s.data, s.loss, faults ? withFaults(opts, faults) : opts);
  },
};

/** Options of `PoolProblem`: the threads transport's and the engine's. */
export interface PoolOptions extends ThreadOptions {
  /** attempts per chunk before the pass fails (default 3) */
  maxAttempts?: number;
  /** chunks per result of the training passes (EngineOptions.chunksPerResult; default 1) */
  chunksPerResult?: number;
}

/** The Gauss-Newton problem (and accuracy passes) computed by a pool of worker threads. */
export class PoolProblem extends PassEngine {
  declare readonly transport: ThreadTransport;

  constructor(net: Network, data: Dataset, loss: LossKind, opts: PoolOptions) {
    const engine = engineOptionsOf({
      net,
      data,
      bsize: opts.bsize ?? 1024,
      evalSets: opts.evalSets ?? {},
      chunksPerResult: opts.chunksPerResult,
    });
    super(new ThreadTransport(net, data, loss, opts), {
      ...engine,
      maxAttempts: opts.maxAttempts,
    });
  }

  /** The pool's threads (for tests and diagnostics). */
  get threads() {
    return this.transport.threads;
  }
}

/** @deprecated the name of PassError when only the pool had passes */
export const PoolError = PassError;
