import { axpy, dot, type Vec } from './vec.js';

/**
 * A product v ↦ A v. It may write the result into `out` (CG passes the same buffer at every
 * step, so no vector is allocated per step) or return a vector of its own.
 */
export type Apply = (v: Vec, out: Vec) => Promise<Vec>;

export interface CGResult {
  /** the approximate solution of A x = b */
  x: Vec;
  /** the residual b − A x, kept up to date by the recurrence */
  r: Vec;
  /** number of products with A */
  iters: number;
  residualNorm: number;
}

/**
 * Conjugate gradient for a symmetric positive definite A, from x = 0, stopping at
 * ‖r‖ ≤ tol or after maxIter products.
 */
export async function conjugateGradient(apply: Apply, b: Vec, tol: number, maxIter: number): Promise<CGResult> {
  const x = new Float64Array(b.length);
  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  const out = new Float64Array(b.length);
  let rr = dot(r, r);
  let iters = 0;
  while (Math.sqrt(rr) > tol && iters < maxIter) {
    const Ap = await apply(p, out);
    iters++;
    const pAp = dot(p, Ap);
    if (!(pAp > 0)) break; // not positive definite along p (cannot happen for G + λI, λ > 0)
    const a = rr / pAp;
    axpy(a, p, x);
    axpy(-a, Ap, r);
    const rrNew = dot(r, r);
    const beta = rrNew / rr;
    rr = rrNew;
    for (let i = 0; i < p.length; i++) p[i] = r[i] + beta * p[i];
  }
  return { x, r, iters, residualNorm: Math.sqrt(rr) };
}

/** The matrix CG sees: v ↦ G v + shift·v, with shift = 1/C + λ (written into `out`). */
export function shifted(apply: Apply, shift: number): Apply {
  return async (v, out) => {
    const Gv = await apply(v, out);
    for (let i = 0; i < v.length; i++) out[i] = Gv[i] + shift * v[i];
    return out;
  };
}
