/**
 * The Gauss-Newton problem evaluated in the current thread: data split into fixed chunks
 * of `bsize` samples, chunk results reduced in float64 in chunk order.
 */
import { ChunkEvaluator, listChunks, rangeChunks } from '../autodiff/evaluator.js';
import type { Dataset } from '../data/dataset.js';
import type { LossKind } from '../model/loss.js';
import type { Network } from '../model/network.js';
import type { GaussNewtonProblem, LinearOperator, ProgressFn } from '../solver/problem.js';
import { divideBy, meanOfChunks, sumInOrder } from './reduce.js';

export class LocalProblem implements GaussNewtonProblem {
  onProgress?: ProgressFn;
  readonly dim: number;
  readonly numSamples: number;
  private readonly evaluator: ChunkEvaluator;

  constructor(
    net: Network,
    data: Dataset,
    loss: LossKind,
    readonly bsize = 1024,
  ) {
    this.evaluator = new ChunkEvaluator(net, data, loss);
    this.dim = net.numParams;
    this.numSamples = data.n;
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

  async close(): Promise<void> {
    this.evaluator.dispose();
  }
}
