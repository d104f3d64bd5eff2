/**
 * The Gauss-Newton problem evaluated in the current thread: data split into fixed chunks
 * of `bsize` samples, chunk results reduced in float64 in chunk order. Also the accuracy
 * on held-out sets (Evaluation), by an evaluator per set, so the training evaluator's θ
 * and prepared Gauss-Newton chunks are left alone.
 */
import { ChunkEvaluator, listChunks, rangeChunks, type GvMethod } from '../autodiff/evaluator.js';
import type { Dataset } from '../data/dataset.js';
import type { LossKind } from '../model/loss.js';
import type { Network } from '../model/network.js';
import type { GaussNewtonProblem, LinearOperator, ProgressFn } from '../solver/problem.js';
import { checkEvalSet, reportProgress, type EvalSetName, type EvalSets, type Evaluation } from './evaluation.js';
import { divideBy, fractionOfChunks, meanOfChunks, sumInOrder } from './reduce.js';

export class LocalProblem implements GaussNewtonProblem, Evaluation {
  onProgress?: ProgressFn;
  readonly dim: number;
  readonly numSamples: number;
  private readonly evaluator: ChunkEvaluator;
  private readonly evalEvaluators: Partial<Record<EvalSetName, ChunkEvaluator>> = {};

  constructor(
    net: Network,
    data: Dataset,
    loss: LossKind,
    readonly bsize = 1024,
    evalSets: EvalSets = {},
    gv: GvMethod = 'linearized',
  ) {
    this.evaluator = new ChunkEvaluator(net, data, loss, gv);
    this.dim = net.numParams;
    this.numSamples = data.n;
    for (const name of ['test', 'val'] as const) {
      const set = evalSets[name];
      if (!set) continue;
      checkEvalSet(name, set, data);
      this.evalEvaluators[name] = new ChunkEvaluator(net, set, loss);
    }
  }

  async lossAndGradient(theta: Float64Array): Promise<{ loss: number; grad: Float64Array }> {
    this.evaluator.setParams(theta);
    const chunks = rangeChunks(this.numSamples, this.bsize);
    const parts = chunks.map((rows, i) => {
      const r = this.evaluator.lossAndGradient(rows);
      this.onProgress?.('f+grad', i + 1, chunks.length);
      return r;
    });
    return meanOfChunks(parts, this.numSamples, this.dim);
  }

  async loss(theta: Float64Array): Promise<number> {
    this.evaluator.setParams(theta);
    let loss = 0;
    const chunks = rangeChunks(this.numSamples, this.bsize);
    chunks.forEach((rows, i) => {
      loss += this.evaluator.lossSum(rows);
      this.onProgress?.('f', i + 1, chunks.length);
    });
    return loss / this.numSamples;
  }

  async gaussNewton(theta: Float64Array, subset: Int32Array): Promise<LinearOperator> {
    const ev = this.evaluator;
    ev.setParams(theta);
    const chunks = listChunks(subset, this.bsize);
    ev.prepareGaussNewton(chunks);
    const ids = chunks.map((_, i) => i);
    const dim = this.dim;
    return {
      async apply(v, into) {
        return divideBy(sumInOrder(ev.gaussNewton(ids, v), dim, into), subset.length);
      },
      async release() {
        ev.releaseGaussNewton();
      },
    };
  }

  async accuracy(theta: Float64Array, set: EvalSetName): Promise<number> {
    const ev = this.evalEvaluators[set];
    if (!ev || ev.data.n === 0) return NaN;
    ev.setParams(theta);
    const chunks = rangeChunks(ev.data.n, this.bsize);
    const counts = chunks.map((rows, i) => {
      const c = ev.correctCount(rows);
      reportProgress(this.onProgress, 'accuracy', i + 1, chunks.length);
      return c;
    });
    return fractionOfChunks(counts, ev.data.n);
  }

  async close(): Promise<void> {
    this.evaluator.dispose();
    for (const ev of Object.values(this.evalEvaluators)) ev.dispose();
  }
}
