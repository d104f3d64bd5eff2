/**
 * A GaussNewtonProblem in plain float64 loops, no tfjs: binary logistic regression on
 * seeded random data, ξᵢ = log(1 + exp(−yᵢ wᵀxᵢ)), Bᵢ = pᵢ(1 − pᵢ). Not a quadratic, so
 * the line search, ρ and λ all move; deterministic on every platform (Math.exp and
 * Math.log1p only), so its trajectories can be recorded and compared bit for bit.
 *
 * `lossAndGradient(θ, { gradSquares: true })` also returns the engine's gradSquares:
 * (1/l) Σ_k g_k², g_k the gradient of the loss sum over chunk k of `bsize` samples.
 */
import { Rng } from '../../src/rng.ts';
import type { GaussNewtonProblem } from '../../src/solver/problem.ts';

export interface LogisticProblem extends GaussNewtonProblem {
  /** counts of the passes the solver asked for */
  calls: { lossAndGradient: number; loss: number; gv: number; subsets: number[] };
}

export function logisticProblem(l: number, dim: number, seed = 11, bsize = 16): LogisticProblem {
  const rng = new Rng(seed);
  const X = Array.from({ length: l }, () => Float64Array.from({ length: dim }, () => rng.normal()));
  const wTrue = Float64Array.from({ length: dim }, () => rng.normal());
  // labels from a noisy linear model: separable enough to learn, noisy enough to stay bounded
  const y = X.map((x) =>
    x.reduce((s, xi, j) => s + xi * wTrue[j], 0) + 0.5 * rng.normal() > 0 ? 1 : -1,
  );
  const margin = (theta: Float64Array, i: number) =>
    y[i] * X[i].reduce((s, xi, j) => s + xi * theta[j], 0);
  const calls = { lossAndGradient: 0, loss: 0, gv: 0, subsets: [] as number[] };
  return {
    dim,
    numSamples: l,
    calls,
    async lossAndGradient(theta, options) {
      calls.lossAndGradient++;
      let loss = 0;
      const grad = new Float64Array(dim);
      const squares = options?.gradSquares ? new Float64Array(dim) : undefined;
      const chunk = new Float64Array(dim);
      for (let i = 0; i < l; i++) {
        const m = margin(theta, i);
        loss += m > 0 ? Math.log1p(Math.exp(-m)) : -m + Math.log1p(Math.exp(m));
        const s = -y[i] / (1 + Math.exp(m)); // dξ/dz
        for (let j = 0; j < dim; j++) chunk[j] += s * X[i][j];
        if ((i + 1) % bsize === 0 || i === l - 1) {
          for (let j = 0; j < dim; j++) {
            grad[j] += chunk[j];
            if (squares) squares[j] += chunk[j] * chunk[j];
          }
          chunk.fill(0);
        }
      }
      for (let j = 0; j < dim; j++) {
        grad[j] /= l;
        if (squares) squares[j] /= l;
      }
      return squares ? { loss: loss / l, grad, gradSquares: squares } : { loss: loss / l, grad };
    },
    async loss(theta) {
      calls.loss++;
      let loss = 0;
      for (let i = 0; i < l; i++) {
        const m = margin(theta, i);
        loss += m > 0 ? Math.log1p(Math.exp(-m)) : -m + Math.log1p(Math.exp(m));
      }
      return loss / l;
    },
    async gaussNewton(theta, subset) {
      calls.subsets.push(subset.length);
      const B = Float64Array.from(subset, (i) => {
        const p = 1 / (1 + Math.exp(-margin(theta, i)));
        return p * (1 - p);
      });
      return {
        async apply(v, out) {
          calls.gv++;
          const Gv = out ?? new Float64Array(dim);
          Gv.fill(0);
          subset.forEach((i, k) => {
            const Jv = X[i].reduce((s, xi, j) => s + xi * v[j], 0) * B[k];
            for (let j = 0; j < dim; j++) Gv[j] += X[i][j] * Jv;
          });
          for (let j = 0; j < dim; j++) Gv[j] /= subset.length;
          return Gv;
        },
        async release() {},
      };
    },
  };
}
