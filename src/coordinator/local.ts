/**
 * The Gauss-Newton problem evaluated in the current thread: data split into fixed chunks
 * of `bsize` samples, chunk results reduced in float64 in chunk order. Also the accuracy
 * on held-out sets (Evaluation), by an evaluator per set, so the training evaluator's θ
 * and prepared Gauss-Newton chunks are left alone.
 *
 * Before each chunk, a pass yields to the event loop (so timers, signals and an
 * AbortSignal's listeners run during long passes) and then stops with an AbortError if
 * `abort()` was called.
 */
import { ChunkEvaluator, listChunks, rangeChunks, type GvMethod } from '../autodiff/evaluator.js';
import type { Dataset } from '../data/dataset.js';
import type { LossKind } from '../model/loss.js';
import type { Network } from '../model/network.js';
import { AbortError } from '../errors.js';
import type { GaussNewtonProblem, LinearOperator, ProgressFn } from '../solver/problem.js';
import { checkEvalSet, reportProgress, type EvalSetName, type EvalSets, type Evaluation } from './evaluation.js';
import { divideBy, fractionOfChunks, meanOfChunks, sumInOrder } from './reduce.js';

export class LocalProblem implements GaussNewtonProblem, Evaluation {
  onProgress?: ProgressFn;
  readonly dim: number;
  readonly numSamples: number;
  private readonly evaluator: ChunkEvaluator;
  private readonly evalEvaluators: Partial<Record<EvalSetName, ChunkEvaluator>> = {};
  private aborted: { reason: unknown } | null = null;

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

  /** Stops the pass under way before its next chunk, and every later pass (see GaussNewtonProblem). */
  abort(reason?: unknown): void {
    this.aborted ??= { reason };
  }

  /** Between chunks: lets the event loop run, then stops if aborted. */
  private async yieldAndCheck(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.aborted) throw new AbortError(this.aborted.reason);
  }

  async lossAndGradient(theta: Float64Array): Promise<{ loss: number; grad: Float64Array }> {
    const chunks = rangeChunks(this.numSamples, this.bsize);
    const parts: { loss: number; grad: Float32Array }[] = [];
    this.evaluator.setParams(theta);
    for (const [i, rows] of chunks.entries()) {
      await this.yieldAndCheck();
      parts.push(this.evaluator.lossAndGradient(rows));
      this.onProgress?.('f+grad', i + 1, chunks.length);
    }
    return meanOfChunks(parts, this.numSamples, this.dim);
  }

  async loss(theta: Float64Array): Promise<number> {
    let loss = 0;
    const chunks = rangeChunks(this.numSamples, this.bsize);
    this.evaluator.setParams(theta);
    for (const [i, rows] of chunks.entries()) {
      await this.yieldAndCheck();
      loss += this.evaluator.lossSum(rows);
      this.onProgress?.('f', i + 1, chunks.length);
    }
    return loss / this.numSamples;
  }

  async gaussNewton(theta: Float64Array, subset: Int32Array): Promise<LinearOperator> {
    const ev = this.evaluator;
    const chunks = listChunks(subset, this.bsize);
    ev.setParams(theta);
    ev.releaseGaussNewton();
    try {
      for (const [i, rows] of chunks.entries()) {
        await this.yieldAndCheck();
        ev.prepareGaussNewtonChunk(i, rows);
      }
    } catch (e) {
      ev.releaseGaussNewton();
      throw e;
    }
    const dim = this.dim;
    return {
      apply: async (v, into) => {
        const parts: Float32Array[] = [];
        for (let i = 0; i < chunks.length; i++) {
          await this.yieldAndCheck();
          parts.push(...ev.gaussNewton([i], v));
          this.onProgress?.('Gv', i + 1, chunks.length);
        }
        return divideBy(sumInOrder(parts, dim, into), subset.length);
      },
      async release() {
        ev.releaseGaussNewton();
      },
    };
  }

  async accuracy(theta: Float64Array, set: EvalSetName): Promise<number> {
    const ev = this.evalEvaluators[set];
    if (!ev || ev.data.n === 0) return NaN;
    const chunks = rangeChunks(ev.data.n, this.bsize);
    const counts: number[] = [];
    ev.setParams(theta);
    for (const [i, rows] of chunks.entries()) {
      await this.yieldAndCheck();
      counts.push(ev.correctCount(rows));
      reportProgress(this.onProgress, 'accuracy', i + 1, chunks.length);
    }
    return fractionOfChunks(counts, ev.data.n);
  }

  async close(): Promise<void> {
    this.evaluator.dispose();
    for (const ev of Object.values(this.evalEvaluators)) ev.dispose();
  }
}
