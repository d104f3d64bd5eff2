/**
 * Evaluation passes beside the Gauss-Newton problem: accuracy on held-out sets (test,
 * validation), computed by the same engine as f, ∇f and Gv (in-process or on the pool),
 * in chunks of `bsize`, counts reduced in chunk order. The solver knows nothing of this:
 * it is not part of `GaussNewtonProblem`.
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
   * empty or absent set, or one of real-valued targets. Leaves the training θ and any prepared Gauss-Newton chunks alone.
   */
  accuracy(theta: Float64Array, set: EvalSetName): Promise<number>;
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
    // accuracy is for class labels: a set of real-valued targets has none (NaN)
    if (set.targets === undefined) sizes[name] = set.n;
  }
  return sizes;
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
