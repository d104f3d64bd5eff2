/**
 * Evaluation passes beside the Gauss-Newton problem: accuracy on held-out sets (test,
 * validation) of class labels, the sum of squared errors on sets of real-valued targets
 * (for RMSE and R²), computed by the same engine as f, ∇f and Gv (in-process or on the
 * pool), in chunks of `bsize`, per-chunk sums reduced in chunk order: both are 'accuracy'
 * tasks, whose scalar is the chunk's correct count or its squared error, by the set. The
 * solver knows nothing of this: it is not part of `GaussNewtonProblem`.
 */
import type { Dataset } from '../data/dataset.js';
import type { ProgressFn } from '../solver/problem.js';

/** The held-out sets a problem can evaluate. */
export type EvalSetName = 'test' | 'val';

/** The held-out sets given to a problem's constructor (absent: accuracy is NaN). */
export type EvalSets = Partial<Record<EvalSetName, Dataset>>;

/** The pass names reported through `onProgress`: the solver's passes and 'accuracy'. */
export type PassName = Parameters<ProgressFn>[0] | 'accuracy';

export interface Evaluation {
  /** called as the chunks of a pass complete, if set; accuracy passes are named 'accuracy' */
  onProgress?(pass: PassName, done: number, total: number): void;
  /**
   * The fraction of the set's samples whose predicted class (argmax of z at θ, float32)
   * is their label: the count of correct ones, by chunks of `bsize`, over n. NaN for an
   * empty or absent set, or one of real-valued targets. Leaves the training θ and any
   * prepared Gauss-Newton chunks alone.
   */
  accuracy(theta: Float64Array, set: EvalSetName): Promise<number>;
  /**
   * For a set of real-valued targets: Σ over its samples and outputs of (prediction −
   * target)², the prediction z at θ (float32) through the loss's output activation, summed
   * by chunks of `bsize` (float32) and over the chunks in chunk order (float64). NaN for
   * an empty or absent set, or one of class labels. Leaves the training θ alone, as
   * `accuracy` does (see `regressionMetrics` for RMSE and R²).
   */
  squaredError(theta: Float64Array, set: EvalSetName): Promise<number>;
}

/** What R² needs of a set of targets besides the squared error: computed once, on the host. */
export interface TargetSpread {
  /** the number of target values, n × outputs */
  values: number;
  /** Σ (y − ȳ)² over the values, ȳ the mean of each output over the set (float64) */
  sst: number;
}

/** The spread of a set's targets (null for a set of class labels or none). */
export function targetSpread(set: Dataset | undefined): TargetSpread | null {
  if (!set?.targets || set.n === 0) return null;
  const k = set.numClasses;
  const y = set.targets;
  const mean = new Float64Array(k);
  for (let i = 0; i < set.n; i++) for (let j = 0; j < k; j++) mean[j] += y[i * k + j];
  for (let j = 0; j < k; j++) mean[j] /= set.n;
  let sst = 0;
  for (let i = 0; i < set.n; i++)
    for (let j = 0; j < k; j++) {
      const d = y[i * k + j] - mean[j];
      sst += d * d;
    }
  return { values: set.n * k, sst };
}

/**
 * RMSE = √(SSE / values) and R² = 1 − SSE/SST of a squared error over a set of that
 * spread; NaN for no spread (class labels, no set), R² NaN when the targets are constant.
 */
export function regressionMetrics(
  sse: number,
  spread: TargetSpread | null,
): { rmse: number; r2: number } {
  if (!spread) return { rmse: NaN, r2: NaN };
  return {
    rmse: Math.sqrt(sse / spread.values),
    r2: spread.sst > 0 ? 1 - sse / spread.sst : NaN,
  };
}

/** Reports progress of a pass of any name to a callback typed for the solver's passes. */
export function reportProgress(
  fn: ProgressFn | undefined,
  pass: PassName,
  done: number,
  total: number,
): void {
  (fn as ((pass: PassName, done: number, total: number) => void) | undefined)?.(pass, done, total);
}

/** The sizes of the held-out sets, each checked against the training set. */
export function evalSizesOf(sets: EvalSets, train: Dataset): Partial<Record<EvalSetName, number>> {
  const sizes: Partial<Record<EvalSetName, number>> = {};
  for (const name of ['test', 'val'] as const) {
    const set = sets[name];
    if (!set) continue;
    checkEvalSet(name, set, train);
    sizes[name] = set.n;
  }
  return sizes;
}

/**
 * The held-out sets of real-valued targets (their passes give squared errors, not correct
 * counts: accuracy is NaN for them, squaredError for the others).
 */
export function evalTargetsOf(sets: EvalSets): EvalSetName[] {
  return (['test', 'val'] as const).filter((name) => sets[name]?.targets !== undefined);
}

/** Checks that an evaluation set's samples and classes match the training set's. */
export function checkEvalSet(name: EvalSetName, set: Dataset, train: Dataset): void {
  if (set.inputShape.join() !== train.inputShape.join()) {
    throw new Error(
      `the ${name} set has samples of shape [${set.inputShape}], the training set [${train.inputShape}]`,
    );
  }
  if ((set.targets === undefined) !== (train.targets === undefined)) {
    const kind = (d: Dataset) => (d.targets ? 'real-valued targets' : 'class labels');
    throw new Error(`the ${name} set has ${kind(set)}, the training set ${kind(train)}`);
  }
  if (set.numClasses !== train.numClasses) {
    throw new Error(
      `the ${name} set has ${set.numClasses} classes, the training set ${train.numClasses}`,
    );
  }
}
