/**
 * The pass engine: every pass of training and evaluation (f+∇f, f, one Gv, accuracy or
 * squared error) as
 * plan → dispatch → reduce in chunk order → mean, over any transport (src/engine/
 * transport.ts): in-process, a pool of threads, or remote worker processes. Written once,
 * so the trajectory is bitwise the same on every transport and for any number of workers.
 *
 * - Plan: chunk k of a pass is what src/engine/plan.ts says.
 * - Dispatch: at most `capacity` chunks sent and not yet summed; Gv chunks are sticky
 *   (a worker keeps the linearization of its chunks during a CG solve), and so are the
 *   f+∇f chunks that prepare them (`gaussNewtonPrefix`).
 * - Failures: a chunk whose worker throws or goes away is sent again; after `maxAttempts`
 *   failures of one chunk the pass fails with a PassError naming it and the cause.
 * - Reduce: float64 sums in chunk order as results arrive (OrderedSum), then the mean.
 * - `abort()`: no further chunk is sent or handed to a worker, chunks already handed over
 *   settle (none is retried), and the pass rejects with an AbortError; so do all later
 *   passes.
 */
import { AbortError } from '../errors.js';
import type {
  GaussNewtonProblem,
  LinearOperator,
  LossAndGradient,
  LossAndGradientOptions,
  LossOptions,
  ProgressFn,
} from '../solver/problem.js';
import { reportProgress, type EvalSetName, type Evaluation } from './evaluation.js';
import { isSticky } from './placement.js';
import { checkBsize, chunkCount, sharedChunks } from './plan.js';
import { divideBy, fractionOf, meanOf, OrderedSum } from './reduce.js';
import type { ChunkResult, Task, TaskKind } from './task.js';
import type { Transport } from './transport.js';

export class PassError extends Error {
  override name = 'PassError';
}

export interface EngineOptions {
  /** number of parameters */
  dim: number;
  /** training samples l */
  numSamples: number;
  /** samples per chunk (default 1024) */
  bsize?: number;
  /**
   * chunks per result of the f+∇f, f and Gv passes (default 1): each task covers a fixed
   * group of this many consecutive chunks, computed on one worker and summed there in chunk
   * order (float64, rounded once to float32), and the engine sums the groups in order. The
   * groups are the plan's, not the workers': trajectories stay the same for any number of
   * workers and any transport given the same value, and 1 is the chunk-by-chunk reduction.
   * Fewer, larger results: fewer bytes over NATS, and fewer tasks to spread over workers.
   */
  chunksPerResult?: number;
  /** attempts per chunk before the pass fails (default 3) */
  maxAttempts?: number;
  /** sizes of the held-out sets the transport's workers hold (absent: accuracy is NaN) */
  evalSizes?: Partial<Record<EvalSetName, number>>;
  /**
   * those of them with real-valued targets: their 'accuracy' chunks give squared errors
   * (`squaredError`; their accuracy is NaN), the others' correct counts
   */
  evalTargets?: readonly EvalSetName[];
}

export interface PassStats {
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
  /** the worker that computed it */
  worker: string;
}

/**
 * Whether `a` is `b`'s first a.length entries (a plain loop: `every` with a closure took
 * 2.6 ms at 269k entries, this 0.5).
 */
function isPrefixOf<T extends Float64Array | Int32Array>(a: T, b: T): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A piece of state and its version: `set` publishes a new version only when `reuses(value,
 * last)` says the last one published does not serve, so workers keep what they derived from
 * it across passes.
 */
class Versioned<T extends Float64Array | Int32Array> {
  version = 0;
  private last: T | null = null;

  constructor(
    private readonly reuses: (value: T, last: T) => boolean,
    private readonly publish: (version: number, value: T) => void,
  ) {}

  set(value: T): number {
    if (this.last && this.reuses(value, this.last)) return this.version;
    this.last = value.slice() as T;
    this.publish(++this.version, value);
    return this.version;
  }
}

/**
 * A θ and its version: a new version only when θ changed, so workers keep their parameter
 * tensors and prepared Gv chunks across passes at the same θ.
 */
const versionedTheta = (publish: (version: number, theta: Float32Array) => void) =>
  new Versioned<Float64Array>(
    (theta, last) => theta.length === last.length && isPrefixOf(theta, last),
    (version, theta) => publish(version, new Float32Array(theta)),
  );

export class PassEngine implements GaussNewtonProblem, Evaluation {
  onProgress?: ProgressFn;
  /** called for every chunk a worker completed (diagnostics: the scaling benchmark's timeline) */
  onTask?: (span: TaskSpan) => void;
  readonly dim: number;
  readonly numSamples: number;
  readonly bsize: number;
  readonly chunksPerResult: number;
  readonly stats: PassStats = { tasks: 0, retries: 0, computeMs: 0 };
  private readonly maxAttempts: number;
  private readonly evalSizes: Partial<Record<EvalSetName, number>>;
  private readonly evalTargets: ReadonlySet<EvalSetName>;
  private readonly theta: Versioned<Float64Array>;
  private readonly evalTheta: Versioned<Float64Array>;
  /**
   * the subset the transport holds: a new version only when the indices are not a prefix
   * of the last ones published, so the gradient sample X and a Gauss-Newton subset S that
   * is its prefix are one version (tasks name the length)
   */
  private readonly subset: Versioned<Int32Array>;
  private vVersion = 0;
  /** v in float32 for the transport, reused by CG step after CG step (a fresh 1 MB array cost 2.7 ms) */
  private vBuffer: Float32Array | null = null;
  private aborted: { reason: unknown } | null = null;
  /** the passes under way: each stops sending chunks and abandons its undispatched ones */
  private readonly abortHooks = new Set<() => void>();

  constructor(
    readonly transport: Transport,
    opts: EngineOptions,
  ) {
    this.dim = opts.dim;
    this.numSamples = opts.numSamples;
    this.bsize = checkBsize(opts.bsize ?? 1024);
    this.chunksPerResult = opts.chunksPerResult ?? 1;
    if (!Number.isInteger(this.chunksPerResult) || this.chunksPerResult < 1)
      throw new RangeError(
        `chunksPerResult must be a positive integer, got ${this.chunksPerResult}`,
      );
    this.maxAttempts = opts.maxAttempts ?? 3;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1)
      throw new RangeError(`maxAttempts must be a positive integer, got ${this.maxAttempts}`);
    this.evalSizes = opts.evalSizes ?? {};
    this.evalTargets = new Set(opts.evalTargets ?? []);
    this.theta = versionedTheta((version, theta) => transport.publishTheta(version, theta));
    this.evalTheta = versionedTheta((version, theta) => transport.publishEvalTheta(version, theta));
    this.subset = new Versioned<Int32Array>(isPrefixOf, (version, subset) =>
      transport.publishSubset(version, subset),
    );
  }

  /** compute workers behind the transport (0: in-process) */
  get workers(): number {
    return this.transport.workers;
  }

  /** Stops the pass under way and every later one (see the module comment); `close()` is still needed. */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = { reason };
    this.transport.stop();
    for (const hook of [...this.abortHooks]) hook();
  }

  private async runChunk(
    task: Omit<Task, 'attempt'>,
    dispatched: { yes: boolean },
  ): Promise<ChunkResult> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      try {
        dispatched.yes = false;
        const r = await this.transport.run(
          { ...task, attempt },
          { sticky: isSticky(task), onDispatched: () => (dispatched.yes = true) },
        );
        this.stats.tasks++;
        this.stats.computeMs += r.end - r.start;
        this.onTask?.({
          kind: task.kind,
          chunk: task.chunk,
          start: r.start,
          end: r.end,
          worker: r.worker,
        });
        return r;
      } catch (e) {
        // an aborted pass retries nothing, nor does a failure the transport says no retry mends
        if (this.aborted) throw new AbortError(this.aborted.reason);
        if ((e as { fatal?: unknown } | null)?.fatal === true) throw e;
        lastError = e;
        this.stats.retries++;
      }
    }
    const why = lastError instanceof Error ? lastError.message : String(lastError);
    throw new PassError(
      `${task.kind} chunk ${task.chunk} failed ${this.maxAttempts} times; last cause: ${why}`,
    );
  }

  /**
   * Runs chunks 0..chunks−1 of a pass and sums their results in chunk order as they
   * arrive (float64; vectors of `dim`, or scalars only when `dim` is 0); a training pass
   * (not accuracy) in tasks of chunksPerResult chunks, summed in the order of the groups.
   * `extra`: what every task adds to its kind, chunk and θ version, or a function of the
   * task's first chunk giving it. On failure, waits for the chunks in flight to settle,
   * then rejects. On abort, the same, except
   * that chunks not yet handed to a worker are not waited for, and the error is an
   * AbortError.
   */
  private runAll(
    kind: TaskKind,
    chunks: number,
    dim: number,
    extra: Partial<Task> | ((chunk: number) => Partial<Task>) = {},
    into?: Float64Array,
    squares = false,
  ): Promise<OrderedSum> {
    if (this.aborted) return Promise.reject(new AbortError(this.aborted.reason));
    const group = kind === 'accuracy' ? 1 : this.chunksPerResult;
    const tasks = Math.ceil(chunks / group);
    const sum = new OrderedSum(dim, into, { squares });
    const capacity = this.transport.capacity;
    const thetaVersion = this.theta.version;
    let sent = 0;
    /** chunks sent and not settled (nor abandoned on abort) */
    const pending = new Map<number, { yes: boolean }>();
    let failure: { error: unknown } | null = null;
    return new Promise((resolve, reject) => {
      const settle = () => {
        if (pending.size > 0) return;
        if (failure) {
          this.abortHooks.delete(onAbort);
          reject(failure.error);
        } else if (sum.added === tasks) {
          this.abortHooks.delete(onAbort);
          resolve(sum);
        }
      };
      const onAbort = () => {
        failure ??= { error: new AbortError(this.aborted?.reason) };
        for (const [chunk, dispatched] of pending) if (!dispatched.yes) pending.delete(chunk);
        settle();
      };
      this.abortHooks.add(onAbort);
      const send = () => {
        while (!failure && sent < tasks && sent < sum.added + capacity) {
          const position = sent++;
          const dispatched = { yes: false };
          pending.set(position, dispatched);
          const chunk = position * group;
          this.runChunk(
            {
              kind,
              chunk,
              ...(group > 1 ? { group } : {}),
              slot: position % capacity,
              thetaVersion,
              ...(typeof extra === 'function' ? extra(chunk) : extra),
            },
            dispatched,
          ).then(
            (r) => {
              if (!pending.delete(position)) return; // abandoned on abort
              if (!failure) {
                if (dim > 0 && r.vector?.length !== dim) {
                  failure = {
                    error: new PassError(
                      `${kind} chunk ${chunk}: a result of ${r.vector?.length ?? 0} values, expected ${dim}`,
                    ),
                  };
                } else {
                  sum.add(position, { loss: r.scalar, vector: dim > 0 ? r.vector : undefined });
                  reportProgress(this.onProgress, kind, sum.added, tasks);
                  send();
                }
              }
              settle();
            },
            (e: unknown) => {
              if (!pending.delete(position)) return;
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

  /**
   * The samples of an f or f+∇f pass: all l (chunks of the training samples), or the
   * subset X, published like S (chunks of X; the tasks name its version and length).
   */
  private samplesOf(options: LossOptions | undefined): {
    n: number;
    chunks: number;
    extra: Partial<Task>;
  } {
    const x = options?.subset;
    if (x === undefined)
      return { n: this.numSamples, chunks: chunkCount(this.numSamples, this.bsize), extra: {} };
    if (x.length < 1 || x.length > this.numSamples)
      throw new RangeError(`a sample of ${x.length} indices, the data has ${this.numSamples}`);
    const subsetVersion = this.subset.set(x);
    return {
      n: x.length,
      chunks: chunkCount(x.length, this.bsize),
      extra: { subsetVersion, subsetLength: x.length },
    };
  }

  /**
   * f and ∇f over all chunks (or those of `subset`); with `{ gradSquares: true }` also
   * gradSquares, the squares of the chunk gradients summed in chunk order in float64 as
   * the chunks are reduced (same tasks, same results: loss and grad are bitwise those
   * without it), and gradChunks.
   */
  async lossAndGradient(
    theta: Float64Array,
    options?: LossAndGradientOptions,
  ): Promise<LossAndGradient> {
    this.theta.set(theta);
    const { n, chunks, extra } = this.samplesOf(options);
    const squares = options?.gradSquares === true;
    const sum = await this.runAll(
      'f+grad',
      chunks,
      this.dim,
      this.keepingFor(options, n, extra),
      undefined,
      squares,
    );
    const mean = meanOf(sum, n);
    // the norm test's K: the vectors summed, one per task (reduction group)
    return squares ? { ...mean, gradChunks: sum.added } : mean;
  }

  /**
   * The f+∇f pass's tasks with the hint `gaussNewtonPrefix` m: the tasks whose chunks the
   * Gv pass over the first m indices of the subset shares (plan.ts, sharedChunks) name m,
   * so their workers keep those chunks' linearization and the tasks go where that pass's
   * chunks will (placement.ts); the other tasks are as without it.
   */
  private keepingFor(
    options: LossAndGradientOptions | undefined,
    n: number,
    extra: Partial<Task>,
  ): Partial<Task> | ((chunk: number) => Partial<Task>) {
    const m = options?.gaussNewtonPrefix;
    if (m === undefined) return extra;
    if (options?.subset === undefined)
      throw new RangeError('gaussNewtonPrefix is a prefix of a subset: give the subset too');
    if (!Number.isInteger(m) || m < 1 || m > n)
      throw new RangeError(
        `gaussNewtonPrefix must be an integer in 1..${n} (the subset), got ${m}`,
      );
    const shared = sharedChunks(n, m, this.bsize);
    return (chunk) => (chunk < shared ? { ...extra, gaussNewtonPrefix: m } : extra);
  }

  async loss(theta: Float64Array, options?: LossOptions): Promise<number> {
    this.theta.set(theta);
    const { n, chunks, extra } = this.samplesOf(options);
    const sum = await this.runAll('f', chunks, 0, extra);
    return sum.loss / n;
  }

  async gaussNewton(theta: Float64Array, subset: Int32Array): Promise<LinearOperator> {
    this.theta.set(theta);
    const subsetVersion = this.subset.set(subset);
    const chunks = chunkCount(subset.length, this.bsize);
    const extra = { subsetVersion, subsetLength: subset.length };
    return {
      apply: async (v, into) => {
        if (v.length !== this.dim)
          throw new RangeError(`v has ${v.length} entries, the model ${this.dim}`);
        const vVersion = ++this.vVersion;
        // one buffer for every CG step (passes run one at a time; see Transport.publishV)
        const v32 = (this.vBuffer ??= new Float32Array(this.dim));
        v32.set(v);
        this.transport.publishV(vVersion, v32);
        const sum = await this.runAll('Gv', chunks, this.dim, { ...extra, vVersion }, into);
        return divideBy(sum.vector!, subset.length);
      },
      // nothing here to free: workers drop a solve's prepared chunks at the next θ or S
      release: async () => {},
    };
  }

  async accuracy(theta: Float64Array, set: EvalSetName): Promise<number> {
    this.checkTheta(theta);
    if (this.evalTargets.has(set)) return NaN; // no classes: see squaredError
    const pass = await this.heldOutPass(theta, set);
    return pass === null ? NaN : fractionOf(pass.sum, pass.n);
  }

  async squaredError(theta: Float64Array, set: EvalSetName): Promise<number> {
    this.checkTheta(theta);
    if (!this.evalTargets.has(set)) return NaN; // class labels: see accuracy
    const pass = await this.heldOutPass(theta, set);
    return pass === null ? NaN : pass.sum.loss;
  }

  private checkTheta(theta: Float64Array): void {
    if (theta.length !== this.dim)
      throw new RangeError(`θ has ${theta.length} entries, the model ${this.dim}`);
  }

  /**
   * The 'accuracy' pass over a held-out set: the chunks' scalars (correct counts, or
   * squared errors for a set of targets) summed in chunk order; null for no samples.
   */
  private async heldOutPass(
    theta: Float64Array,
    set: EvalSetName,
  ): Promise<{ sum: OrderedSum; n: number } | null> {
    const n = this.evalSizes[set] ?? 0;
    if (n === 0) return null;
    // θ of accuracy tasks has its own versions: the training θ (and a CG solve's prepared
    // Gv chunks in the workers) stay valid across this pass
    const thetaVersion = this.evalTheta.set(theta);
    const sum = await this.runAll('accuracy', chunkCount(n, this.bsize), 0, { set, thetaVersion });
    return { sum, n };
  }

  /** Frees the transport's workers. */
  async close(): Promise<void> {
    await this.transport.close();
  }
}
