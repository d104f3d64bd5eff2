/**
 * A model's loss, accuracy and confusion matrix on a data set (or, with real-valued
 * targets, its loss, RMSE and R²), by chunks in the calling thread (what `tfjs-newton
 * eval` prints). Training measures them as passes of its engine instead
 * (PassEngine.accuracy, PassEngine.squaredError), in-process or on its workers, with the
 * same chunks and sums.
 */
import type { ChunkEvaluator } from '../autodiff/evaluator.js';
import { chunkSamples, type Dataset } from '../data/dataset.js';
import { regressionMetrics, targetSpread } from '../engine/evaluation.js';
import { rangeChunks } from '../engine/plan.js';

/** A model's loss, accuracy and confusion matrix on a data set (`evaluate`). */
export interface EvalReport {
  samples: number;
  /** the mean loss ξ over the samples (the evaluator's loss, without the regularisation term) */
  loss: number;
  /** the fraction of samples whose predicted class (argmax of z) is their label (NaN with real-valued targets) */
  accuracy: number;
  /** confusion[true][predicted]: sample counts, numClasses × numClasses (empty with real-valued targets) */
  confusion: number[][];
  /**
   * with real-valued targets only: √(SSE / values), SSE the squared error of the
   * predictions (z through the loss's output activation) summed over samples and outputs
   */
  rmse?: number;
  /** with real-valued targets only: 1 − SSE/SST, SST about the set's own target means */
  r2?: number;
}

/**
 * Loss, accuracy and confusion matrix of the evaluator's network at its θ (setParams) on
 * `d`, by chunks of `bsize` samples in the calling thread (NaN loss and accuracy for no
 * samples); for a set of real-valued targets loss, RMSE and R² (the squared error summed
 * as training's held-out passes sum it: float32 per chunk, float64 over the chunks).
 */
export function evaluate(ev: ChunkEvaluator, d: Dataset, bsize: number): EvalReport {
  if (d.targets) {
    let loss = 0;
    let sse = 0;
    for (const rows of rangeChunks(d.n, bsize)) {
      const samples = chunkSamples(d, rows);
      loss += ev.lossSum(samples);
      sse += ev.squaredError(samples);
    }
    const { rmse, r2 } = regressionMetrics(sse, targetSpread(d));
    return { samples: d.n, loss: loss / d.n, accuracy: NaN, confusion: [], rmse, r2 };
  }
  const confusion = Array.from({ length: d.numClasses }, () =>
    new Array<number>(d.numClasses).fill(0),
  );
  let loss = 0;
  let correct = 0;
  for (const rows of rangeChunks(d.n, bsize)) {
    const samples = chunkSamples(d, rows);
    loss += ev.lossSum(samples);
    const pred = ev.predict(samples);
    const start = 'start' in rows ? rows.start : 0;
    pred.forEach((p, i) => {
      const y = d.labels[start + i];
      confusion[y][p]++;
      if (p === y) correct++;
    });
  }
  return { samples: d.n, loss: loss / d.n, accuracy: correct / d.n, confusion };
}

/** Fraction of correctly classified samples: `evaluate(ev, data, bsize).accuracy` (NaN with real-valued targets). */
export function accuracy(ev: ChunkEvaluator, data: Dataset, bsize: number): number {
  return evaluate(ev, data, bsize).accuracy;
}
