/**
 * The compute side of a pool worker: owns one ChunkEvaluator over the shared data set
 * (and one per held-out set, for accuracy tasks) and answers tasks. Knows nothing of CG
 * or Newton; holds no state but caches keyed by the versions the coordinator sends.
 */
import { threadId } from 'node:worker_threads';
import { ChunkEvaluator, listChunks, type Rows } from '../autodiff/evaluator.js';
import { initBackend } from '../backend/select.js';
import { Network } from '../model/network.js';
import type { EvalSetName } from './evaluation.js';
import type { SharedSetup, Task, TaskResult } from './protocol.js';

export class ChunkService {
  private ev: Promise<ChunkEvaluator> | null = null;
  private thetaVersion = -1;
  private gnKey = '';
  private gnPrepared = new Set<number>();
  private gnChunks: Rows[] = [];
  /** per held-out set: its evaluator (own θ tensors, so the training evaluator's θ and prepared chunks stay) and the evalTheta version it holds */
  private evalEvs = new Map<EvalSetName, { ev: ChunkEvaluator; thetaVersion: number }>();

  constructor(private readonly setup: SharedSetup) {}

  /** The evaluator, created once (tasks that arrive while the backend loads wait for the same one). */
  private evaluator(): Promise<ChunkEvaluator> {
    this.ev ??= this.createEvaluator();
    return this.ev;
  }

  private async createEvaluator(): Promise<ChunkEvaluator> {
    const s = this.setup;
    await initBackend(s.backend);
    const data = {
      x: new Float32Array(s.x),
      labels: new Int32Array(s.labels),
      n: s.n,
      inputShape: s.inputShape,
      numClasses: s.numClasses,
    };
    return new ChunkEvaluator(new Network(s.spec), data, s.loss, s.gv);
  }

  /** The evaluator of a held-out set (created on its first task, on the training evaluator's network), at θ of `thetaVersion` in evalTheta. */
  private evalEvaluator(train: ChunkEvaluator, name: EvalSetName, thetaVersion: number): ChunkEvaluator {
    let e = this.evalEvs.get(name);
    if (!e) {
      const s = this.setup;
      const set = s.evalSets[name];
      if (!set) throw new Error(`no ${name} set was given to the pool`);
      const data = { x: new Float32Array(set.x), labels: new Int32Array(set.labels), n: set.n, inputShape: s.inputShape, numClasses: s.numClasses };
      e = { ev: new ChunkEvaluator(train.net, data, s.loss), thetaVersion: -1 };
      this.evalEvs.set(name, e);
    }
    if (e.thetaVersion !== thetaVersion) {
      e.ev.setParams(new Float32Array(this.setup.evalTheta));
      e.thetaVersion = thetaVersion;
    }
    return e.ev;
  }

  private injectFault(task: Task): void {
    const f = this.setup.faults;
    if (!f || f.kind !== task.kind || f.chunk !== task.chunk || task.attempt >= f.attempts) return;
    if (task.thetaVersion < (f.fromThetaVersion ?? 0)) return;
    if (f.mode === 'exit') process.exit(1); // in a worker thread: ends this thread only
    throw new Error(`injected fault on ${task.kind} chunk ${task.chunk}`);
  }

  async run(task: Task): Promise<TaskResult> {
    const ev = await this.evaluator();
    this.injectFault(task);
    const t0 = performance.now();
    /** when this chunk's compute started and ended (ms since the epoch) and on which thread */
    const span = () => ({ start: performance.timeOrigin + t0, end: performance.timeOrigin + performance.now(), thread: threadId });
    const bs = this.setup.bsize;
    if (task.kind === 'correct') {
      // another data set and θ (evalTheta): the training θ and prepared Gv chunks stay as they are
      const e = this.evalEvaluator(ev, task.set!, task.thetaVersion);
      const correct = e.correctCount({ start: task.chunk * bs, end: Math.min(e.data.n, (task.chunk + 1) * bs) });
      return { correct, ...span() };
    }
    if (task.thetaVersion !== this.thetaVersion) {
      ev.setParams(new Float32Array(this.setup.theta));
      this.thetaVersion = task.thetaVersion;
      this.gnKey = '';
    }
    const range = { start: task.chunk * bs, end: Math.min(this.setup.n, (task.chunk + 1) * bs) };
    const slot = () => new Float32Array(this.setup.results, task.slot * this.setup.dim * 4, this.setup.dim);
    let loss: number | undefined;
    switch (task.kind) {
      case 'lossGrad': {
        const r = ev.lossAndGradient(range);
        loss = r.loss;
        slot().set(r.grad);
        break;
      }
      case 'loss':
        loss = ev.lossSum(range);
        break;
      case 'gv': {
        const key = `${task.thetaVersion}/${task.subsetVersion}`;
        if (key !== this.gnKey) {
          this.gnKey = key;
          this.gnPrepared.clear();
          const subset = new Int32Array(this.setup.subset, 0, task.subsetLength);
          // chunks are prepared lazily: only the ones this worker is given
          this.gnChunks = listChunks(Int32Array.from(subset), bs);
          ev.releaseGaussNewton();
        }
        if (!this.gnPrepared.has(task.chunk)) {
          ev.prepareGaussNewtonChunk(task.chunk, this.gnChunks[task.chunk]);
          this.gnPrepared.add(task.chunk);
        }
        slot().set(ev.gaussNewton([task.chunk], new Float32Array(this.setup.v))[0]);
        break;
      }
    }
    return { loss, ...span() };
  }

  /** Frees the evaluators' tensors (a worker's service lives as long as its thread; for use in-process). */
  async dispose(): Promise<void> {
    (await this.ev)?.dispose();
    for (const e of this.evalEvs.values()) e.ev.dispose();
    this.evalEvs.clear();
    this.ev = null;
    this.thetaVersion = -1;
    this.gnKey = '';
  }
}
