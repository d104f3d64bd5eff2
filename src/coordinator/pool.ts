/**
 * The Gauss-Newton problem computed by a Piscina pool of long-lived worker threads.
 *
 * Every pass is split into fixed chunks (ranges of `bsize` samples for f and ∇f, pieces
 * of `bsize` of the subset S for Gv); chunks go to whichever worker is free; results are
 * reduced in float64 in chunk order, so the trajectory is bitwise the same for any number
 * of workers. A chunk whose worker throws or dies is run again (Piscina replaces dead
 * threads); after `maxAttempts` failures of one chunk the pass fails with a PoolError
 * naming it and the cause.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { BackendName } from '../backend/select.js';
import { sampleSize, type Dataset } from '../data/dataset.js';
import type { LossKind } from '../model/loss.js';
import type { Network } from '../model/network.js';
import type { GaussNewtonProblem, LinearOperator, ProgressFn } from '../solver/problem.js';
import type { FaultPlan, SharedSetup, Task, TaskKind, TaskResult } from './protocol.js';
import { meanOfChunks, sumInOrder } from './reduce.js';

export class PoolError extends Error {
  override name = 'PoolError';
}

export interface PoolOptions {
  /** worker threads (default: available parallelism; 1 with the tensorflow backend) */
  workers?: number;
  bsize?: number;
  backend: BackendName;
  /** attempts per chunk before the pass fails (default 3) */
  maxAttempts?: number;
  /** testing hook: make workers die on a chunk */
  faults?: FaultPlan;
}

export interface PoolStats {
  tasks: number;
  retries: number;
  /** ms spent inside workers' compute, summed over tasks */
  computeMs: number;
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

const PASS_NAMES = { lossGrad: 'f+grad', loss: 'f', gv: 'Gv' } as const;

export class PoolProblem implements GaussNewtonProblem {
  onProgress?: ProgressFn;
  readonly dim: number;
  readonly numSamples: number;
  readonly workers: number;
  readonly stats: PoolStats = { tasks: 0, retries: 0, computeMs: 0 };
  private readonly pool: Piscina<Task, TaskResult>;
  private readonly theta: Float32Array;
  private readonly v: Float32Array;
  private readonly subset: Int32Array;
  private readonly bsize: number;
  private readonly maxAttempts: number;
  private thetaVersion = 0;
  private lastTheta: Float64Array | null = null;
  private subsetVersion = 0;

  constructor(net: Network, data: Dataset, loss: LossKind, opts: PoolOptions) {
    this.dim = net.numParams;
    this.numSamples = data.n;
    this.bsize = opts.bsize ?? 1024;
    this.maxAttempts = opts.maxAttempts ?? 3;
    const want = opts.workers ?? availableParallelism();
    this.workers = opts.backend === 'tensorflow' ? 1 : want; // one native TensorFlow per process
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new RangeError(`workers must be a positive integer, got ${want}`);
    const m = sampleSize(data);
    const x = shared(data.n * m * 4);
    new Float32Array(x).set(data.x.subarray(0, data.n * m));
    const labels = shared(data.n * 4);
    new Int32Array(labels).set(data.labels.subarray(0, data.n));
    const setup: SharedSetup = {
      spec: net.spec,
      loss,
      backend: opts.backend,
      inputShape: data.inputShape,
      numClasses: data.numClasses,
      n: data.n,
      x,
      labels,
      theta: shared(this.dim * 4),
      v: shared(this.dim * 4),
      subset: shared(data.n * 4),
      bsize: this.bsize,
      faults: opts.faults,
    };
    this.theta = new Float32Array(setup.theta);
    this.v = new Float32Array(setup.v);
    this.subset = new Int32Array(setup.subset);
    this.pool = new Piscina<Task, TaskResult>({
      filename: workerFile(),
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Infinity,
      workerData: setup,
    });
  }

  /** The pool's threads (for tests and diagnostics). */
  get threads() {
    return this.pool.threads;
  }

  private setTheta(theta: Float64Array): void {
    if (this.lastTheta && this.lastTheta.length === theta.length && this.lastTheta.every((x, i) => x === theta[i])) return;
    this.theta.set(theta);
    this.lastTheta = Float64Array.from(theta);
    this.thetaVersion++;
  }

  private async runChunk(task: Omit<Task, 'attempt'>): Promise<TaskResult> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      try {
        const r = await this.pool.run({ ...task, attempt });
        this.stats.tasks++;
        this.stats.computeMs += r.computeMs;
        return r;
      } catch (e) {
        lastError = e;
        this.stats.retries++;
      }
    }
    const why = lastError instanceof Error ? lastError.message : String(lastError);
    throw new PoolError(`${task.kind} chunk ${task.chunk} failed ${this.maxAttempts} times; last cause: ${why}`);
  }

  private runAll(kind: TaskKind, chunks: number, extra: Partial<Task> = {}): Promise<TaskResult[]> {
    let done = 0;
    const pass = PASS_NAMES[kind];
    const tasks = Array.from({ length: chunks }, (_, chunk) =>
      this.runChunk({ kind, chunk, thetaVersion: this.thetaVersion, ...extra }).then((r) => {
        this.onProgress?.(pass, ++done, chunks);
        return r;
      }),
    );
    return Promise.all(tasks);
  }

  private get dataChunks(): number {
    return Math.ceil(this.numSamples / this.bsize);
  }

  async lossAndGradient(theta: Float64Array): Promise<{ loss: number; grad: Float64Array }> {
    this.setTheta(theta);
    const rs = await this.runAll('lossGrad', this.dataChunks);
    return meanOfChunks(rs.map((r) => ({ loss: r.loss!, grad: r.vector! })), this.numSamples, this.dim);
  }

  async loss(theta: Float64Array): Promise<number> {
    this.setTheta(theta);
    const rs = await this.runAll('loss', this.dataChunks);
    let loss = 0;
    for (const r of rs) loss += r.loss!;
    return loss / this.numSamples;
  }

  async gaussNewton(theta: Float64Array, subset: Int32Array): Promise<LinearOperator> {
    this.setTheta(theta);
    this.subset.set(subset);
    const subsetVersion = ++this.subsetVersion;
    const chunks = Math.ceil(subset.length / this.bsize);
    const dim = this.dim;
    return {
      apply: async (v) => {
        this.v.set(v);
        const rs = await this.runAll('gv', chunks, { subsetVersion, subsetLength: subset.length });
        const out = sumInOrder(rs.map((r) => r.vector!), dim);
        for (let i = 0; i < dim; i++) out[i] /= subset.length;
        return out;
      },
      release: async () => {},
    };
  }

  /** Stops every worker thread. */
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
