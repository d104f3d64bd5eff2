/**
 * The compute side of a worker, whatever carries its tasks (a pool thread, the calling
 * thread, a remote worker process): holds the training set and the held-out sets, one
 * ChunkEvaluator for the training set (and one per held-out set, for accuracy tasks: the
 * correct count of a chunk of class labels, the squared error of one of targets), and
 * turns a task plus the state it names into a chunk result: it gathers the chunk's samples
 * (chunkSamples) and hands them to the evaluator. Knows nothing of CG or Newton, nor of how
 * tasks and state travel; holds no state but caches keyed by the versions the engine
 * sends (θ, S).
 */
import { ChunkEvaluator, type GvMethod } from '../autodiff/evaluator.js';
import { initBackend, type BackendName } from '../backend/select.js';
import { chunkSamples, type Dataset, type Rows } from '../data/dataset.js';
import type { LossKind } from '../model/loss.js';
import { Network } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';
import type { EvalSetName } from './evaluation.js';
import { chunkCount, listChunks, rangeChunk, sharedChunks, subsetChunk } from './plan.js';
import { sumInOrder } from './reduce.js';
import type { ChunkResult, Task } from './task.js';

/** What every worker of a run computes on: model, loss, backend, data and chunk size. */
export interface ComputeSetup {
  spec: ModelSpec;
  loss: LossKind;
  /** the backend each worker sets up before its first task; absent: the thread's current one (in-process) */
  backend?: BackendName;
  gv: GvMethod;
  bsize: number;
  data: Dataset;
  evalSets: Partial<Record<EvalSetName, Dataset>>;
}

/** Where the compute reads the state a task names (called only when it needs it). */
export interface StateSource {
  theta(version: number): Float32Array;
  evalTheta(version: number): Float32Array;
  subset(version: number, length: number): Int32Array;
  v(version: number): Float32Array;
}

/** An evaluator of `net` for the samples of `data`, whose classes must be the network's outputs. */
function evaluatorFor(net: Network, data: Dataset, loss: LossKind, gv?: GvMethod): ChunkEvaluator {
  if (data.numClasses !== net.outputSize)
    throw new Error(
      `the model has ${net.outputSize} outputs, the data ${data.numClasses} ${data.targets ? 'targets per sample' : 'classes'}`,
    );
  return new ChunkEvaluator(net, loss, gv);
}

export class ChunkCompute {
  private ev: Promise<ChunkEvaluator> | null = null;
  private thetaVersion = -1;
  private gnKey = '';
  private gnPrepared = new Set<number>();
  private gnChunks: Rows[] = [];
  /** per held-out set: the set, its evaluator (own θ tensors, so the training evaluator's θ and prepared chunks stay) and the θ version it holds */
  private evalEvs = new Map<
    EvalSetName,
    { set: Dataset; ev: ChunkEvaluator; thetaVersion: number }
  >();

  constructor(private readonly setup: ComputeSetup) {}

  /** The evaluator, created once (tasks that arrive while the backend loads wait for the same one). */
  evaluator(): Promise<ChunkEvaluator> {
    this.ev ??= this.createEvaluator();
    return this.ev;
  }

  private async createEvaluator(): Promise<ChunkEvaluator> {
    const s = this.setup;
    if (s.backend) await initBackend(s.backend);
    return evaluatorFor(new Network(s.spec), s.data, s.loss, s.gv);
  }

  /** A held-out set and its evaluator (created on its first task, on the training evaluator's network), at θ of `thetaVersion`. */
  private evalEvaluator(
    train: ChunkEvaluator,
    name: EvalSetName,
    thetaVersion: number,
    state: StateSource,
  ): { set: Dataset; ev: ChunkEvaluator } {
    let e = this.evalEvs.get(name);
    if (!e) {
      const set = this.setup.evalSets[name];
      if (!set) throw new Error(`no ${name} set was given to the workers`);
      e = { set, ev: evaluatorFor(train.net, set, this.setup.loss), thetaVersion: -1 };
      this.evalEvs.set(name, e);
    }
    if (e.thetaVersion !== thetaVersion) {
      e.ev.setParams(state.evalTheta(thetaVersion));
      e.thetaVersion = thetaVersion;
    }
    return e;
  }

  async run(task: Task, state: StateSource): Promise<ChunkResult> {
    const ev = await this.evaluator();
    const t0 = performance.now();
    const done = (scalar: number, vector?: Float32Array): ChunkResult => ({
      scalar,
      vector,
      start: performance.timeOrigin + t0,
      end: performance.timeOrigin + performance.now(),
      worker: '',
    });
    const bs = this.setup.bsize;
    if (task.kind === 'accuracy') {
      // another data set and θ: the training θ and prepared Gv chunks stay as they are;
      // a set of class labels gives the chunk's correct count, one of real-valued targets
      // its sum of squared errors (the same scalar channel, reduced in chunk order)
      const { set, ev: e } = this.evalEvaluator(ev, task.set!, task.thetaVersion, state);
      const samples = chunkSamples(set, rangeChunk(task.chunk, set.n, bs));
      return done(set.targets ? e.squaredError(samples) : e.correctCount(samples));
    }
    const data = this.setup.data;
    if (task.thetaVersion !== this.thetaVersion) {
      ev.setParams(state.theta(task.thetaVersion));
      this.thetaVersion = task.thetaVersion;
      this.gnKey = '';
    }
    // a reduction group: chunks chunk .. chunk + group − 1 of the pass (fewer at its end),
    // each computed as alone, summed in chunk order (float64), the vector rounded once
    const n = task.subsetVersion === undefined ? data.n : task.subsetLength!;
    const last = Math.min(task.chunk + (task.group ?? 1), chunkCount(n, bs));
    const results = [];
    for (let k = task.chunk; k < last; k++) results.push(this.chunkResult(ev, task, k, state));
    if (results.length === 1) return done(results[0].scalar, results[0].vector);
    let scalar = 0;
    for (const r of results) scalar += r.scalar;
    const vectors = results.flatMap((r) => (r.vector ? [r.vector] : []));
    const dim = vectors[0]?.length;
    return done(
      scalar,
      dim === undefined ? undefined : Float32Array.from(sumInOrder(vectors, dim)),
    );
  }

  /** Chunk k of the task's pass (f+grad, f or Gv). */
  private chunkResult(
    ev: ChunkEvaluator,
    task: Task,
    k: number,
    state: StateSource,
  ): { scalar: number; vector?: Float32Array } {
    const data = this.setup.data;
    const bs = this.setup.bsize;
    // f+grad and f: chunk k of the training samples, or of the subset the task names
    const rows = () =>
      task.subsetVersion === undefined
        ? rangeChunk(k, data.n, bs)
        : subsetChunk(k, state.subset(task.subsetVersion, task.subsetLength!), bs);
    switch (task.kind) {
      case 'f+grad': {
        const m = task.gaussNewtonPrefix;
        if (m !== undefined && k < sharedChunks(task.subsetLength!, m, bs)) {
          // chunk k of the Gv pass over the subset's first m indices, at this θ: kept for it
          this.gaussNewtonOf(ev, task.thetaVersion, task.subsetVersion!, m, state);
          const r = ev.lossAndGradientKeeping(k, chunkSamples(data, rows()));
          if (r.kept) this.gnPrepared.add(k);
          return { scalar: r.loss, vector: r.grad };
        }
        const r = ev.lossAndGradient(chunkSamples(data, rows()));
        return { scalar: r.loss, vector: r.grad };
      }
      case 'f':
        return { scalar: ev.lossSum(chunkSamples(data, rows())) };
      case 'Gv': {
        this.gaussNewtonOf(ev, task.thetaVersion, task.subsetVersion!, task.subsetLength!, state);
        if (!this.gnPrepared.has(k)) {
          ev.prepareGaussNewtonChunk(k, chunkSamples(data, this.gnChunks[k]));
          this.gnPrepared.add(k);
        }
        return { scalar: 0, vector: ev.gaussNewton([k], state.v(task.vVersion!))[0] };
      }
      default:
        throw new Error(`a ${task.kind} task has no training chunks`);
    }
  }

  /**
   * The prepared Gv chunks are those of the subset's first `length` indices at θ version
   * `thetaVersion`: those of another θ, subset or length are dropped. One subset version
   * may serve Gv passes of several lengths (prefixes of a gradient sample). Chunks are
   * prepared lazily, only the ones this worker is given (or keeps from an f+∇f pass).
   */
  private gaussNewtonOf(
    ev: ChunkEvaluator,
    thetaVersion: number,
    subsetVersion: number,
    length: number,
    state: StateSource,
  ): void {
    const key = `${thetaVersion}/${subsetVersion}/${length}`;
    if (key === this.gnKey) return;
    this.gnKey = key;
    this.gnPrepared.clear();
    this.gnChunks = listChunks(state.subset(subsetVersion, length), this.setup.bsize);
    ev.releaseGaussNewton();
  }

  /** Frees the evaluators' tensors (the compute is usable again afterwards). */
  async dispose(): Promise<void> {
    (await this.ev)?.dispose();
    for (const e of this.evalEvs.values()) e.ev.dispose();
    this.evalEvs.clear();
    this.ev = null;
    this.thetaVersion = -1;
    this.gnKey = '';
  }
}
