/**
 * A model's loss, accuracy and confusion matrix on a data set, by chunks in the calling
 * thread (what `tfjs-newton eval` prints). Training measures accuracy as a pass of its
 * engine instead (PassEngine.accuracy), in-process or on its workers.
 */
import type { ChunkEvaluator } from '../autodiff/evaluator.js';
import { chunkSamples, type Dataset } from '../data/dataset.js';
import { rangeChunks } from '../engine/plan.js';

/** A model's loss, accuracy and confusion matrix on a data set (`evaluate`). */
export interface EvalReport {
  samples: number;
  /** the mean loss ξ over the samples (the evaluator's loss, without the regularisation term) */
  loss: number;
  /** the fraction of samples whose predicted class (argmax of z) is their label */
  accuracy: number;
  /** confusion[true][predicted]: sample counts, numClasses × numClasses */
  confusion: number[][];
}

/**
 * Loss, accuracy and confusion matrix of the evaluator's network at its θ (setParams) on
 * `d`, by chunks of `bsize` samples in the calling thread (NaN loss and accuracy for no
 * samples).
 */
export function evaluate(ev: ChunkEvaluator, d: Dataset, bsize: number): EvalReport {
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

/** Fraction of correctly classified samples: `evaluate(ev, data, bsize).accuracy`. */
export function accuracy(ev: ChunkEvaluator, data: Dataset, bsize: number): number {
  return evaluate(ev, data, bsize).accuracy;
}
