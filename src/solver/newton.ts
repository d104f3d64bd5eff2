/**
 * Subsampled Gauss-Newton Newton-CG with Levenberg-Marquardt damping and a backtracking
 * line search: simpleNN's algorithm (Wang, Tan & Lin, "Newton methods for convolutional
 * neural networks"), over flat float64 parameter vectors. Knows nothing of tfjs or workers.
 *
 * f(θ) = ‖θ‖²/(2Cl) + (1/l) Σᵢ ξᵢ, i.e. (‖θ‖²/(2C) + Σᵢ ξᵢ)/l: simpleNN's scaling (its
 * Newton code sets C ← C·l), under which C = 0.01 is a sensible default. (Taken as
 * ‖θ‖²/(2C) + mean ξ, C = 0.01 drives every weight to 0: f stalls at log 10 on digits.)
 * Below, C̃ = C·l. One iteration:
 *  1. f and ∇f at θ (the problem's data part plus the regulariser θ/C̃);
 *  2. a fresh random subset S of the samples;
 *  3. CG on (G_S + λI) d = −∇f, G_S = I/C̃ + (1/|S|) Σ_{i∈S} JᵢᵀBᵢJᵢ, until ‖r‖ ≤ ξ‖∇f‖;
 *  4. α = 1, halved until f(θ + αd) − f(θ) ≤ η α ∇fᵀd;
 *  5. ρ = (f(θ + αd) − f(θ)) / (α∇fᵀd + ½α² dᵀG_S d); λ ×boost if ρ < 0.25, ×drop if ρ ≥ 0.75.
 */
import { Rng } from '../model/rng.js';
import { conjugateGradient, shifted } from './cg.js';
import type { GaussNewtonProblem } from './problem.js';
import { dot, lincomb, norm } from './vec.js';

export interface NewtonOptions {
  /** regularisation constant: the objective has ‖θ‖²/(2Cl), l the number of samples */
  C: number;
  /** CG stops at ‖r‖ ≤ xi·‖∇f‖ */
  xi: number;
  /** at most this many CG steps per iteration */
  cgMax: number;
  /** sufficient-decrease constant of the line search */
  eta: number;
  /** initial Levenberg-Marquardt damping */
  lambda0: number;
  /** λ factor when ρ ≥ 0.75 */
  drop: number;
  /** λ factor when ρ < 0.25 */
  boost: number;
  /** |S|, the number of samples in each Gauss-Newton subset */
  gnSize: number;
  /** halvings of α before the run is ended as stuck */
  maxHalvings: number;
  /** seed of the subset generator */
  seed: number;
}

export const NEWTON_DEFAULTS: Omit<NewtonOptions, 'gnSize'> = {
  C: 0.01,
  xi: 0.1,
  cgMax: 250,
  eta: 1e-4,
  lambda0: 1,
  drop: 2 / 3,
  boost: 3 / 2,
  maxHalvings: 20,
  seed: 1,
};

export interface IterationReport {
  /** 1 for the first iteration */
  iter: number;
  /** f at the new iterate */
  f: number;
  /** f where the step was computed */
  fPrev: number;
  /** ‖∇f‖ where the step was computed */
  gradNorm: number;
  alpha: number;
  /** λ used in this iteration's CG */
  lambda: number;
  /** λ for the next iteration */
  nextLambda: number;
  cgIters: number;
  /** ‖r‖/‖∇f‖ when CG stopped */
  cgRelResidual: number;
  rho: number;
  halvings: number;
  /** wall-clock seconds of this iteration */
  seconds: number;
}

/** The run cannot go on: no step length gave sufficient decrease. */
export class LineSearchError extends Error {
  override name = 'LineSearchError';
}

export interface NewtonState {
  theta: Float64Array;
  lambda: number;
  iter: number;
  rngState: number[];
}

export class NewtonCG {
  readonly opts: NewtonOptions;
  private theta: Float64Array;
  private lambda: number;
  private iter: number;
  private rng: Rng;

  constructor(
    private readonly problem: GaussNewtonProblem,
    theta0: Float64Array,
    opts: Partial<NewtonOptions> & { gnSize: number },
  ) {
    this.opts = { ...NEWTON_DEFAULTS, ...opts };
    validate(this.opts, problem.numSamples);
    if (theta0.length !== problem.dim) {
      throw new Error(`θ has ${theta0.length} entries, the problem has ${problem.dim} parameters`);
    }
    this.theta = Float64Array.from(theta0);
    this.lambda = this.opts.lambda0;
    this.iter = 0;
    this.rng = new Rng(this.opts.seed);
  }

  /** The current iterate (a copy). */
  get params(): Float64Array {
    return Float64Array.from(this.theta);
  }

  /**
   * θ, λ, iteration and generator state of the last completed iteration, always paired:
   * a step draws from a copy of the generator and commits all four together when it
   * succeeds, so a step that fails or is aborted midway leaves the state unchanged.
   */
  get state(): NewtonState {
    return { theta: this.params, lambda: this.lambda, iter: this.iter, rngState: this.rng.state };
  }

  /** Continues from a saved state (the same options must be given to the constructor). */
  restore(s: NewtonState): void {
    this.theta = Float64Array.from(s.theta);
    this.lambda = s.lambda;
    this.iter = s.iter;
    this.rng = Rng.fromState(s.rngState);
  }

  /** f(θ) from the problem's mean data loss. */
  objective(theta: Float64Array, dataLoss: number): number {
    return dot(theta, theta) / (2 * this.regC) + dataLoss;
  }

  /** C̃ = C·l: the regulariser is ‖θ‖²/(2C̃) */
  get regC(): number {
    return this.opts.C * this.problem.numSamples;
  }

  async step(): Promise<IterationReport> {
    const t0 = performance.now();
    const { xi, cgMax, eta, drop, boost, gnSize, maxHalvings } = this.opts;
    const C = this.regC;
    const theta = this.theta;
    const data = await this.problem.lossAndGradient(theta);
    const f = this.objective(theta, data.loss);
    const g = lincomb(1 / C, theta, 1, data.grad);
    const gradNorm = norm(g);

    // drawn from a copy: the generator advances only with a completed step
    const rng = Rng.fromState(this.rng.state);
    const subset = rng.subset(this.problem.numSamples, gnSize);
    const G = await this.problem.gaussNewton(theta, subset);
    const lambda = this.lambda;
    let cg;
    try {
      const minusG = g.map((x) => -x);
      cg = await conjugateGradient(shifted((v, out) => G.apply(v, out), 1 / C + lambda), minusG, xi * gradNorm, cgMax);
    } finally {
      await G.release();
    }
    const d = cg.x;
    const gd = dot(g, d);
    // (G_S + λI) d = −g − r, so dᵀ G_S d = −gᵀd − rᵀd − λ‖d‖²  (G_S includes I/C̃)
    const dGd = -gd - dot(cg.r, d) - lambda * dot(d, d);

    let alpha = 1;
    let halvings = 0;
    let fNew: number;
    let thetaNew: Float64Array;
    for (;;) {
      thetaNew = lincomb(1, theta, alpha, d);
      fNew = this.objective(thetaNew, await this.problem.loss(thetaNew));
      if (fNew - f <= eta * alpha * gd) break;
      if (halvings >= maxHalvings) {
        throw new LineSearchError(
          `line search failed at iteration ${this.iter + 1}: no sufficient decrease after ${maxHalvings} halvings ` +
            `(α = ${alpha.toExponential(2)}, f = ${f}, ∇fᵀd = ${gd.toExponential(3)}); the last good parameters are kept`,
        );
      }
      alpha /= 2;
      halvings++;
    }

    const predicted = alpha * gd + 0.5 * alpha * alpha * dGd;
    const rho = (fNew - f) / predicted;
    const nextLambda = rho < 0.25 ? lambda * boost : rho >= 0.75 ? lambda * drop : lambda;

    // commit θ, λ, iteration and generator together
    this.theta = thetaNew;
    this.lambda = nextLambda;
    this.rng = rng;
    this.iter++;
    return {
      iter: this.iter,
      f: fNew,
      fPrev: f,
      gradNorm,
      alpha,
      lambda,
      nextLambda: this.lambda,
      cgIters: cg.iters,
      cgRelResidual: cg.residualNorm / gradNorm,
      rho,
      halvings,
      seconds: (performance.now() - t0) / 1000,
    };
  }
}

function validate(o: NewtonOptions, l: number): void {
  const positive: (keyof NewtonOptions)[] = ['C', 'xi', 'eta', 'lambda0', 'drop', 'boost'];
  for (const k of positive) {
    if (!(Number.isFinite(o[k]) && (o[k] as number) > 0)) throw new RangeError(`${k} must be a positive number, got ${o[k]}`);
  }
  if (!(o.drop < 1) || !(o.boost > 1)) throw new RangeError(`need drop < 1 < boost, got drop ${o.drop}, boost ${o.boost}`);
  if (!Number.isInteger(o.cgMax) || o.cgMax < 1) throw new RangeError(`cgMax must be a positive integer, got ${o.cgMax}`);
  if (!Number.isInteger(o.maxHalvings) || o.maxHalvings < 0) throw new RangeError(`maxHalvings must be ≥ 0, got ${o.maxHalvings}`);
  if (!Number.isInteger(o.gnSize) || o.gnSize < 1 || o.gnSize > l) {
    throw new RangeError(`the Gauss-Newton subset size must be an integer in 1..${l} (the number of samples), got ${o.gnSize}`);
  }
}
