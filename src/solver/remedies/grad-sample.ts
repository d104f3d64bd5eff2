/**
 * `gradSample: 'norm-test'`: f, ∇f and the line search's f on a growing sample X of the
 * training set instead of all l samples, the dynamic sample size method of Byrd, Chin,
 * Nocedal & Wu ("Sample size selection in optimization methods for machine learning",
 * Math. Program. B 134, 2012; their "norm test").
 *
 * Each iteration draws X_k (|X_k| samples, distinct, in the order drawn) from the solver's
 * generator; f and ∇f are the means over X_k plus the regulariser, the Gauss-Newton subset
 * S_k is X_k's first |S| indices (S ⊆ X, one published subset for both passes), and the
 * line search compares f on X_k too. After the step, the norm test
 *
 *     ‖Var_{i∈X}(∇ξᵢ)‖₁ / |X| ≤ θ² ‖∇f_X‖²      (θ = gradSampleTheta)
 *
 * keeps |X|, or grows it to the size that would pass, ‖Var‖₁ / (θ² ‖∇f_X‖²), at most l;
 * once |X| = l the iteration is the full-gradient one (no sample drawn). The variance of a
 * sample's gradients comes from the chunk gradients the f+∇f pass sums anyway
 * (LossAndGradient.gradSquares, K = gradChunks chunks of about |X|/K samples, mean m):
 *
 *     Var_j ≈ (K · gradSquares_j − |X| · m_j²) / (K − 1),
 *
 * the unbiased sample variance of the chunk means scaled by the chunk size (exact in
 * expectation for equal chunks; with one sample a chunk, the per-sample sample variance).
 * With a single chunk there is no variance to estimate: |X| doubles. |X₀| is gradSample0
 * (a fraction of l when ≤ 1, else a count), at least |S| (gnSize). |X| is the unit's state
 * (NewtonState.gradSampleSize, checkpointed), so a resume continues bit for bit.
 * 'full' (simpleNN) is every sample at every iteration, and draws nothing.
 */
import type { Rng } from '../../rng.js';
import { choiceRow, numberRow } from '../option-table.js';
import { num, positive, unitInterval } from '../../run/schema.js';
import type { LossAndGradient } from '../problem.js';
import { defineRemedy } from './remedy.js';

export const GRAD_SAMPLES = ['full', 'norm-test'] as const;

/** |X₀|: `gradSample0` of l when ≤ 1 (rounded up), else that many samples; within gnSize..l. */
export function firstSampleSize(gradSample0: number, gnSize: number, l: number): number {
  const n = gradSample0 <= 1 ? Math.ceil(gradSample0 * l) : Math.round(gradSample0);
  return Math.min(l, Math.max(gnSize, n));
}

/** The chunk count and squared chunk gradients of the f+∇f pass, which the norm test needs. */
function chunkSquares(data: LossAndGradient): { k: number; s: Float64Array } {
  const { gradSquares: s, gradChunks: k } = data;
  if (!s || k === undefined)
    throw new Error(
      "gradSample 'norm-test' needs the problem's gradSquares and gradChunks (GaussNewtonProblem.lossAndGradient(θ, { gradSquares: true, subset })), " +
        "which this problem does not provide: give them, or use gradSample 'full'",
    );
  return { k, s };
}

/** ‖Var_{i∈X}(∇ξᵢ)‖₁ estimated from the K ≥ 2 chunk gradients of the f+∇f pass over X (|X| = n). */
export function sampleVariance(data: LossAndGradient, n: number): number {
  const { k, s } = chunkSquares(data);
  const m = data.grad;
  let sum = 0;
  for (let j = 0; j < m.length; j++) sum += (k * s[j] - n * m[j] * m[j]) / (k - 1);
  return sum;
}

/**
 * The next |X| after an iteration on n samples whose f+∇f pass gave `data` and
 * ‖∇f_X‖ = gradNorm (regulariser included): n if the norm test passes, else the size that
 * would pass, at most l (l too when that size is not finite); 2n, at most l, with one chunk.
 */
export function nextSampleSize(
  data: LossAndGradient,
  n: number,
  gradNorm: number,
  theta: number,
  l: number,
): number {
  if (chunkSquares(data).k < 2) return Math.min(l, 2 * n);
  const variance = sampleVariance(data, n);
  const bound = theta * theta * gradNorm * gradNorm;
  if (variance / n <= bound) return n;
  const grown = Math.ceil(variance / bound);
  return Number.isFinite(grown) ? Math.min(l, Math.max(n, grown)) : l;
}

export const gradSample = defineRemedy({
  rows: {
    gradSample: choiceRow(GRAD_SAMPLES, {
      flag: '--grad-sample',
      value: 'G',
      help:
        'full (simplenn) or norm-test: f, ∇f and the line search on a sample X ⊇ S\n' +
        'of the data, grown by the norm test of Byrd et al. (2012) up to l',
      default: 'full',
      identity: 'always',
    }),
    gradSample0: numberRow(num(positive), {
      flag: '--grad-sample0',
      value: 'X',
      help: 'the first |X|: a fraction of l when ≤ 1, else a count (at least |S|)',
      default: 0.2,
      identity: { with: 'gradSample', is: 'norm-test' },
    }),
    gradSampleTheta: numberRow(num(unitInterval), {
      flag: '--grad-sample-theta',
      value: 'T',
      help: 'θ of the norm test ‖Var(∇ξ)‖₁/|X| ≤ θ²‖∇f_X‖², in (0, 1]',
      default: 0.7,
      identity: { with: 'gradSample', is: 'norm-test' },
    }),
  },
  unit(o, problem) {
    if (o.gradSample !== 'norm-test') return undefined;
    const l = problem.numSamples;
    /** |X| of the next iteration (committed with each step) */
    let size = firstSampleSize(o.gradSample0, o.gnSize, l);
    return {
      gradSquares: true,
      gradientSample(rng: Rng) {
        return size < l ? rng.sample(l, size) : undefined;
      },
      commit(step) {
        const { at } = step;
        if (at.sample)
          size = nextSampleSize(at.data, at.sample.length, at.gradNorm, o.gradSampleTheta, l);
      },
      save(s) {
        s.gradSampleSize = size;
      },
      restore(s) {
        size = s.gradSampleSize ?? firstSampleSize(o.gradSample0, o.gnSize, l);
      },
    };
  },
  checkState(s, problem) {
    const n = s.gradSampleSize;
    if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= problem.numSamples))
      throw new RangeError(
        `the saved gradient sample size ${n} is not an integer in 1..${problem.numSamples} (the number of samples)`,
      );
  },
});
