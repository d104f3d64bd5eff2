import { axpy, dot, type Vec } from './vec.js';

/**
 * A product v ↦ A v. It may write the result into `out` (CG passes the same buffer at every
 * step, so no vector is allocated per step) or return a vector of its own.
 */
export type Apply = (v: Vec, out: Vec) => Promise<Vec>;

/** Why CG stopped. */
export type CGStop = 'residual' | 'quadratic' | 'maxIter' | 'curvature';

/** An iterate CG kept (`CGOptions.save`), for CG-backtracking. */
export interface SavedIterate {
  /** the CG step after which x was taken (1 for x₁) */
  iter: number;
  /** a copy of x_iter */
  x: Vec;
  /** x_iterᵀ A x_iter, from quantities CG has (xᵀb − xᵀr, as A x = b − r); no product */
  xAx: number;
  /** q(x_iter) = ½xᵀAx − bᵀx */
  q: number;
}

export interface CGOptions {
  /**
   * Start from x0 instead of 0 (a warm start). Costs one extra product, r₀ = b − A x0,
   * counted in `products` (not in `iters`). If q(x0) = ½x0ᵀAx0 − bᵀx0 is not negative,
   * x0 is worse than 0 as a minimiser of the quadratic model (and CG from it could end on
   * a non-descent direction): CG then starts from 0 instead, the product wasted, and
   * `warmStarted` is false.
   */
  x0?: Vec;
  /**
   * The diagonal of a preconditioner M (entries > 0): preconditioned CG, i.e. CG on
   * M^{-1/2} A M^{-1/2} in the variable M^{1/2} x, with z = M⁻¹r. The stopping test stays
   * on the unpreconditioned ‖r‖ = ‖b − A x‖. Costs two vector operations per step, no
   * product.
   */
  preconditioner?: Vec;
  /**
   * Also stop when the quadratic model q(x) = ½xᵀAx − bᵀx stops making progress (Martens,
   * "Deep learning via Hessian-free optimization", 2010, §4.4): at step i, with
   * k = max(10, ⌈0.1·i⌉), stop if i > k, q_i < 0 and (q_i − q_{i−k})/q_i < k·tolerance.
   * q_i = −½ x_iᵀ(b + r_i) comes from x, b and r (two dot products a step, no product).
   */
  quadraticTolerance?: number;
  /**
   * Keep copies of x_i at the steps i = ⌈ratio^j⌉, j = 0, 1, ... (1, 2, 3, 4, 5, 7, 9, 11,
   * 14, 18, 24, ... for ratio 1.3), at most the last `keep` of them (each costs a vector of
   * the problem's size in memory and a copy, no product), for CG-backtracking (Martens
   * 2010 §4.6). The final iterate is never among them: it is `x`.
   */
  save?: { ratio: number; keep: number };
}

export interface CGResult {
  /** the approximate solution of A x = b */
  x: Vec;
  /** the residual b − A x, kept up to date by the recurrence */
  r: Vec;
  /** number of CG steps (each one product with A) */
  iters: number;
  /** number of products with A: `iters`, plus 1 with a warm start (`CGOptions.x0`) */
  products: number;
  residualNorm: number;
  /** why CG stopped */
  stoppedBy: CGStop;
  /** whether CG started from `x0` (false without one, or when q(x0) ≥ 0) */
  warmStarted: boolean;
  /** the iterates kept with `CGOptions.save`, in step order (empty without) */
  saved: SavedIterate[];
}

/** q(x) = ½xᵀAx − bᵀx from x, b and r = b − Ax (no product): −½xᵀ(b + r). */
export function quadraticValue(x: Vec, b: Vec, r: Vec): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * (b[i] + r[i]);
  return -0.5 * s;
}

/**
 * Martens's progress test: with k = max(10, ⌈0.1·i⌉), true when i > k, q_i < 0 and
 * (q_i − q_{i−k})/q_i < k·tolerance. `q[j]` is q at step j (q[0] at the starting point).
 */
export function quadraticStalled(q: readonly number[], i: number, tolerance: number): boolean {
  const k = Math.max(10, Math.ceil(0.1 * i));
  if (!(i > k) || !(q[i] < 0)) return false;
  return (q[i] - q[i - k]) / q[i] < k * tolerance;
}

/**
 * Conjugate gradient for a symmetric positive definite A, from x = 0 (or `options.x0`),
 * stopping at ‖r‖ ≤ tol or after maxIter steps (or, with `options.quadraticTolerance`,
 * when the quadratic model stalls). Without options it is plain CG from 0, operation for
 * operation the same as before the options existed.
 */
export async function conjugateGradient(
  apply: Apply,
  b: Vec,
  tol: number,
  maxIter: number,
  options: CGOptions = {},
): Promise<CGResult> {
  const n = b.length;
  const m = options.preconditioner;
  if (m && m.length !== n)
    throw new RangeError(`the preconditioner has ${m.length} entries, the system ${n}`);
  const x = new Float64Array(n);
  const r = b.slice();
  const out = new Float64Array(n);
  let products = 0;
  let warmStarted = false;
  if (options.x0) {
    if (options.x0.length !== n)
      throw new RangeError(`x0 has ${options.x0.length} entries, the system ${n}`);
    const Ax0 = await apply(options.x0, out);
    products++;
    for (let i = 0; i < n; i++) r[i] = b[i] - Ax0[i];
    if (quadraticValue(options.x0, b, r) < 0) {
      x.set(options.x0);
      warmStarted = true;
    } else r.set(b); // x0 is no better than 0: start from 0
  }
  // z = M⁻¹r; without a preconditioner z is r itself (and rᵀz is rᵀr)
  const z = m ? Float64Array.from(r, (ri, i) => ri / m[i]) : r;
  const p = z.slice();
  let rr = dot(r, r);
  let rz = m ? dot(r, z) : rr;
  const track = options.quadraticTolerance !== undefined || options.save !== undefined;
  const q: number[] = track ? [quadraticValue(x, b, r)] : [];
  const saved: SavedIterate[] = [];
  let nextSave = 1;
  let saveIndex = 0;
  let iters = 0;
  let stoppedBy: CGStop | null = null;
  while (Math.sqrt(rr) > tol && iters < maxIter) {
    const Ap = await apply(p, out);
    iters++;
    products++;
    const pAp = dot(p, Ap);
    if (!(pAp > 0)) {
      // not positive definite along p (cannot happen for G + λI, λ > 0)
      stoppedBy = 'curvature';
      break;
    }
    const a = rz / pAp;
    axpy(a, p, x);
    axpy(-a, Ap, r);
    const rrNew = dot(r, r);
    let rzNew = rrNew;
    if (m) {
      for (let i = 0; i < n; i++) z[i] = r[i] / m[i];
      rzNew = dot(r, z);
    }
    const beta = rzNew / rz;
    rr = rrNew;
    rz = rzNew;
    for (let i = 0; i < p.length; i++) p[i] = z[i] + beta * p[i];
    if (track) {
      const qi = quadraticValue(x, b, r);
      q.push(qi);
      if (options.save && iters === nextSave) {
        saved.push({ iter: iters, x: x.slice(), xAx: dot(x, b) - dot(x, r), q: qi });
        // one more than `keep`: the last one saved may turn out to be the final iterate
        if (saved.length > options.save.keep + 1) saved.shift();
        while (nextSave <= iters) nextSave = Math.ceil(Math.pow(options.save.ratio, ++saveIndex));
      }
      if (
        options.quadraticTolerance !== undefined &&
        quadraticStalled(q, iters, options.quadraticTolerance)
      ) {
        stoppedBy = 'quadratic';
        break;
      }
    }
  }
  stoppedBy ??= Math.sqrt(rr) <= tol ? 'residual' : 'maxIter';
  // the final iterate is `x`, not a saved one
  if (saved.at(-1)?.iter === iters) saved.pop();
  while (saved.length > (options.save?.keep ?? 0)) saved.shift();
  return { x, r, iters, products, residualNorm: Math.sqrt(rr), stoppedBy, warmStarted, saved };
}

/** The matrix CG sees: v ↦ G v + shift·v, with shift = 1/C + λ (written into `out`). */
export function shifted(apply: Apply, shift: number): Apply {
  return async (v, out) => {
    const Gv = await apply(v, out);
    for (let i = 0; i < v.length; i++) out[i] = Gv[i] + shift * v[i];
    return out;
  };
}
