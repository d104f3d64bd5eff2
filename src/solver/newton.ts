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
 *  3. CG on (G_S + λI) d = −∇f, G_S = I/C̃ + (1/|S|) Σ_{i∈S} JᵢᵀBᵢJᵢ, until
 *     ‖r‖ ≤ cgTolerance·‖∇f‖ (simpleNN's ξ_cg; not the loss ξ);
 *  4. α = 1, halved until f(θ + αd) − f(θ) ≤ η α ∇fᵀd;
 *  5. ρ = (f(θ + αd) − f(θ)) / (α∇fᵀd + ½α² dᵀG_S d); λ ×boost if ρ < 0.25, ×drop if ρ ≥ 0.75.
 *
 * That is `method: 'simplenn'` (the default), exactly. The remedies of the Hessian-free
 * literature (Martens, "Deep learning via Hessian-free optimization", ICML 2010) are
 * options, each off in 'simplenn' and each usable alone; `method: 'hf'` turns on the set
 * in HF_METHOD, and an option given explicitly overrides its method's value:
 *  - `cgInit: 'previous'`: CG starts from cgInitDecay × the previous iteration's CG
 *    solution (one extra product per iteration; from 0 when that is no better than 0);
 *  - `cgStop: 'quadratic'`: CG also stops when the quadratic model stalls (Martens's
 *    test, with cgQuadraticTolerance; no extra product);
 *  - `cgKeepBest: k`: CG keeps up to k iterates (at steps ⌈1.3^j⌉) and the step is the
 *    one of lowest f among the final iterate and those, searched backwards (extra f passes);
 *  - `preconditioner: 'diagonal'`: preconditioned CG with M = (gradSquares + λ + 1/C̃)^α,
 *    the empirical-Fisher diagonal from the f+∇f pass (no extra pass);
 *  - `gnGrowth: 'gradient'`: |S| grows as ‖∇f‖ falls.
 * Each is described at its option in NewtonOptions, with its cost.
 */
import { Rng } from '../rng.js';
import { conjugateGradient, shifted, type CGOptions, type CGStop } from './cg.js';
import type { GaussNewtonProblem } from './problem.js';
import { dot, lincomb, norm } from './vec.js';

/** The named algorithms: simpleNN's exactly, or with the Hessian-free remedies of HF_METHOD. */
export const NEWTON_METHODS = ['simplenn', 'hf'] as const;
export type NewtonMethod = (typeof NEWTON_METHODS)[number];

export const CG_INITS = ['zero', 'previous'] as const;
export const CG_STOPS = ['residual', 'quadratic'] as const;
export const PRECONDITIONERS = ['none', 'diagonal'] as const;
export const GN_GROWTHS = ['fixed', 'gradient'] as const;

/** The options a method sets (each may also be given on its own, overriding the method's value). */
export interface MethodOptions {
  /**
   * Where CG starts: 'zero' (simpleNN), or 'previous': from cgInitDecay × the previous
   * iteration's CG solution (its final iterate, also when cgKeepBest chose an earlier one:
   * Martens 2010 §4.5). Costs one extra Gauss-Newton product per iteration (r₀ = b − A x₀).
   * When q(x₀) ≥ 0 (x₀ no better than 0 for the new quadratic model) CG starts from 0 and
   * the product is wasted. The first iteration (and one after a restore without a saved
   * direction) starts from 0. The direction is part of the solver state (checkpointed).
   */
  cgInit: (typeof CG_INITS)[number];
  /** the factor on the previous solution with cgInit 'previous', in (0, 1] (Martens: 0.95) */
  cgInitDecay: number;
  /**
   * When CG stops, besides ‖r‖ ≤ cgTolerance·‖∇f‖ and cgMax: 'residual' (only those,
   * simpleNN), or 'quadratic': also when the quadratic model q(x) = ½xᵀ(G_S + λI)x + ∇fᵀx
   * stops making progress, at step i with k = max(10, ⌈0.1·i⌉): i > k, q_i < 0 and
   * (q_i − q_{i−k})/q_i < k·cgQuadraticTolerance (Martens 2010 §4.4). q comes from
   * vectors CG has: two dot products a step, no product.
   */
  cgStop: (typeof CG_STOPS)[number];
  /** ε of the 'quadratic' stop (Martens: 5e-4) */
  cgQuadraticTolerance: number;
  /**
   * CG-backtracking (Martens 2010 §4.6): 0 is off (simpleNN). k > 0: CG keeps copies of its
   * iterates at steps ⌈1.3^j⌉ (1, 2, 3, 4, 5, 7, 9, 11, 14, 18, 24, ...), the last k of them
   * (k vectors of the parameters' size in memory); the step direction is then chosen by
   * f(θ + d): from the final iterate backwards through the kept ones, while f keeps
   * decreasing. Cost: one f pass (problem.loss) per iterate tried beyond the first, which
   * the line search would do anyway: at least one extra f pass per iteration whenever CG
   * kept an earlier iterate, at most k. The line search then starts from the chosen d.
   */
  cgKeepBest: number;
  /**
   * 'none' (simpleNN), or 'diagonal': preconditioned CG with the diagonal
   * M = (gradSquares + λ + 1/C̃)^preconditionerExponent (Martens 2010 §4.7), gradSquares the
   * empirical-Fisher diagonal estimated from the chunk gradients of the f+∇f pass (see
   * LossAndGradient.gradSquares): no extra pass, a few vector operations per CG step. The
   * problem must provide gradSquares (PassEngine, hence LocalProblem and PoolProblem, does).
   */
  preconditioner: (typeof PRECONDITIONERS)[number];
  /** α of the diagonal preconditioner, in (0, 1] (Martens: 0.75) */
  preconditionerExponent: number;
  /**
   * The Gauss-Newton subset size: 'fixed' (gnSize at every iteration, simpleNN), or
   * 'gradient': |S_k| = min(l, max(gnSize, round(gnSize·(‖∇f₀‖/‖∇f_k‖)^gnGrowthPower))),
   * ∇f₀ the gradient at the run's first iteration (part of the solver state), so the
   * subset grows as the gradient falls and the curvature estimate gets more accurate when
   * the steps get smaller. Each iteration's |S| is in IterationReport.gnSize.
   */
  gnGrowth: (typeof GN_GROWTHS)[number];
  /** the exponent of gnGrowth 'gradient', > 0 */
  gnGrowthPower: number;
}

/** simpleNN's algorithm: every remedy off. */
export const SIMPLENN_METHOD: Readonly<MethodOptions> = {
  cgInit: 'zero',
  cgInitDecay: 0.95,
  cgStop: 'residual',
  cgQuadraticTolerance: 5e-4,
  cgKeepBest: 0,
  preconditioner: 'none',
  preconditionerExponent: 0.75,
  gnGrowth: 'fixed',
  gnGrowthPower: 1,
};

/**
 * What `method: 'hf'` turns on: Martens's Hessian-free remedies (warm-started CG, the
 * quadratic-model stop, CG-backtracking over 4 kept iterates, the diagonal preconditioner),
 * with simpleNN's damping, line search and fixed subset otherwise. The one place to change
 * the set.
 */
export const HF_METHOD: Readonly<MethodOptions> = {
  ...SIMPLENN_METHOD,
  cgInit: 'previous',
  cgStop: 'quadratic',
  cgKeepBest: 4,
  preconditioner: 'diagonal',
};

/** The options of each method. */
export const METHOD_OPTIONS: Readonly<Record<NewtonMethod, Readonly<MethodOptions>>> = {
  simplenn: SIMPLENN_METHOD,
  hf: HF_METHOD,
};

export interface NewtonOptions extends MethodOptions {
  /** 'simplenn' (default): simpleNN's algorithm; 'hf': with HF_METHOD's options (see MethodOptions) */
  method: NewtonMethod;
  /** regularisation constant: the objective has ‖θ‖²/(2Cl), l the number of samples */
  C: number;
  /** CG stops at ‖r‖ ≤ cgTolerance·‖∇f‖ (simpleNN's ξ_cg, 0.1; renamed from `xi`) */
  cgTolerance: number;
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
  /** |S|, the number of samples in each Gauss-Newton subset (the first one's with gnGrowth 'gradient') */
  gnSize: number;
  /** halvings of α before the run is ended as stuck */
  maxHalvings: number;
  /** seed of the subset generator */
  seed: number;
}

/**
 * The defaults besides the method's options (those come from METHOD_OPTIONS[method]: see
 * resolveNewtonOptions).
 */
export const NEWTON_DEFAULTS: Omit<NewtonOptions, 'gnSize' | keyof MethodOptions> = {
  method: 'simplenn',
  C: 0.01,
  cgTolerance: 0.1,
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
  /** CG steps (each one Gauss-Newton product) */
  cgIters: number;
  /** Gauss-Newton products of this iteration: cgIters, plus 1 with cgInit 'previous' (after the first iteration) */
  gvProducts: number;
  /** ‖r‖/‖∇f‖ when CG stopped (of its final iterate) */
  cgRelResidual: number;
  /** why CG stopped: 'residual' (‖r‖ ≤ cgTolerance·‖∇f‖), 'quadratic' (cgStop), 'maxIter' (cgMax), 'curvature' */
  cgStoppedBy: CGStop;
  /** the CG step whose iterate is the direction: cgIters, or an earlier one chosen by cgKeepBest */
  cgChosenIter: number;
  /** the Gauss-Newton subset size |S| of this iteration */
  gnSize: number;
  /** f-only passes (problem.loss) of this iteration: the line search's, and cgKeepBest's */
  lossPasses: number;
  rho: number;
  halvings: number;
  /** wall-clock seconds of this iteration */
  iterSeconds: number;
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
  /** with cgInit 'previous': the last iteration's CG solution (undecayed); absent before the first iteration */
  direction?: Float64Array;
  /** with gnGrowth 'gradient': ‖∇f‖ at the run's first iteration; absent before it */
  gradNorm0?: number;
}

/** Newton options renamed since they were released, old key → new key (options.ts refuses them too). */
export const RENAMED_NEWTON_OPTIONS = {
  /** the CG tolerance: ξ is the loss in the same formulas */
  xi: 'cgTolerance',
} as const satisfies Readonly<Record<string, keyof NewtonOptions>>;

/** The options a NewtonCG takes: gnSize, and any of the others (undefined means the default). */
export type NewtonSettings = Partial<NewtonOptions> & { gnSize: number };

/**
 * The full options from what was given: NEWTON_DEFAULTS, then the options of the method
 * (METHOD_OPTIONS[method]), then every option given (undefined ones are not given).
 */
export function resolveNewtonOptions(given: NewtonSettings): NewtonOptions {
  // a renamed option would otherwise be ignored silently (train() checks them first)
  for (const [old, now] of Object.entries(RENAMED_NEWTON_OPTIONS))
    if ((given as Record<string, unknown>)[old] !== undefined)
      throw new TypeError(`option '${old}' was renamed '${now}'`);
  const defined = Object.fromEntries(
    Object.entries(given).filter(([, v]) => v !== undefined),
  ) as NewtonSettings;
  const method = defined.method ?? NEWTON_DEFAULTS.method;
  const preset = METHOD_OPTIONS[method];
  if (!preset)
    throw new RangeError(
      `method must be ${NEWTON_METHODS.join(' or ')}, got ${JSON.stringify(method)}`,
    );
  return { ...NEWTON_DEFAULTS, ...preset, ...defined, method };
}

/**
 * What of the method's options fixes a trajectory: the method and every option, with the
 * parameters of a remedy that is off left out (cgInitDecay without cgInit 'previous', ...),
 * so that a parameter that changes nothing does not make two runs differ. For RunIdentity.
 */
export function methodIdentity(
  o: NewtonOptions,
): { method: NewtonMethod } & Partial<MethodOptions> {
  return {
    method: o.method,
    cgInit: o.cgInit,
    cgInitDecay: o.cgInit === 'previous' ? o.cgInitDecay : undefined,
    cgStop: o.cgStop,
    cgQuadraticTolerance: o.cgStop === 'quadratic' ? o.cgQuadraticTolerance : undefined,
    cgKeepBest: o.cgKeepBest,
    preconditioner: o.preconditioner,
    preconditionerExponent: o.preconditioner === 'diagonal' ? o.preconditionerExponent : undefined,
    gnGrowth: o.gnGrowth,
    gnGrowthPower: o.gnGrowth === 'gradient' ? o.gnGrowthPower : undefined,
  };
}

/** CG-backtracking keeps iterates at steps ⌈KEEP_RATIO^j⌉ (Martens's 1.3). */
const KEEP_RATIO = 1.3;

export class NewtonCG {
  readonly opts: NewtonOptions;
  private theta: Float64Array;
  private lambda: number;
  private iter: number;
  private rng: Rng;
  /** cgInit 'previous': the last CG solution */
  private direction: Float64Array | undefined;
  /** gnGrowth 'gradient': ‖∇f‖ at the first iteration */
  private gradNorm0: number | undefined;

  constructor(
    private readonly problem: GaussNewtonProblem,
    theta0: Float64Array,
    opts: NewtonSettings,
  ) {
    this.opts = resolveNewtonOptions(opts);
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
   * θ, λ, iteration and generator state of the last completed iteration (and what the
   * options carry from one iteration to the next: the CG solution with cgInit 'previous',
   * ‖∇f₀‖ with gnGrowth 'gradient'), always paired: a step draws from a copy of the
   * generator and commits all of them together when it succeeds, so a step that fails or
   * is aborted midway leaves the state unchanged.
   */
  get state(): NewtonState {
    const s: NewtonState = {
      theta: this.params,
      lambda: this.lambda,
      iter: this.iter,
      rngState: this.rng.state,
    };
    if (this.direction) s.direction = Float64Array.from(this.direction);
    if (this.gradNorm0 !== undefined) s.gradNorm0 = this.gradNorm0;
    return s;
  }

  /**
   * Continues from a saved state (the same options must be given to the constructor). A
   * state without a direction (cgInit 'previous') starts the next CG from 0; one without
   * ‖∇f₀‖ (gnGrowth 'gradient') takes the next iteration's.
   */
  restore(s: NewtonState): void {
    if (s.direction && s.direction.length !== this.problem.dim) {
      throw new RangeError(
        `the saved direction has ${s.direction.length} entries, the problem has ${this.problem.dim} parameters`,
      );
    }
    this.theta = Float64Array.from(s.theta);
    this.lambda = s.lambda;
    this.iter = s.iter;
    this.rng = Rng.fromState(s.rngState);
    this.direction =
      this.opts.cgInit === 'previous' && s.direction ? Float64Array.from(s.direction) : undefined;
    this.gradNorm0 = this.opts.gnGrowth === 'gradient' ? s.gradNorm0 : undefined;
  }

  /** f(θ) from the problem's mean data loss. */
  objective(theta: Float64Array, dataLoss: number): number {
    return dot(theta, theta) / (2 * this.regC) + dataLoss;
  }

  /** C̃ = C·l: the regulariser is ‖θ‖²/(2C̃) */
  get regC(): number {
    return this.opts.C * this.problem.numSamples;
  }

  /** |S| of an iteration whose gradient norm is `gradNorm` (gnGrowth; gnSize when 'fixed'). */
  subsetSize(gradNorm: number, gradNorm0: number): number {
    const { gnSize, gnGrowth, gnGrowthPower } = this.opts;
    if (gnGrowth === 'fixed') return gnSize;
    const l = this.problem.numSamples;
    const grown = Math.round(gnSize * Math.pow(gradNorm0 / gradNorm, gnGrowthPower));
    return Number.isFinite(grown) ? Math.min(l, Math.max(gnSize, grown)) : l;
  }

  async step(): Promise<IterationReport> {
    const t0 = performance.now();
    const o = this.opts;
    const { cgTolerance, cgMax, eta, drop, boost, maxHalvings } = o;
    const regC = this.regC;
    const theta = this.theta;
    const diagonal = o.preconditioner === 'diagonal';
    const data = diagonal
      ? await this.problem.lossAndGradient(theta, { gradSquares: true })
      : await this.problem.lossAndGradient(theta);
    const f = this.objective(theta, data.loss);
    const g = lincomb(1 / regC, theta, 1, data.grad);
    const gradNorm = norm(g);
    const gradNorm0 = o.gnGrowth === 'gradient' ? (this.gradNorm0 ?? gradNorm) : undefined;
    const gnSize = gradNorm0 === undefined ? o.gnSize : this.subsetSize(gradNorm, gradNorm0);

    // drawn from a copy: the generator advances only with a completed step
    const rng = Rng.fromState(this.rng.state);
    const subset = rng.subset(this.problem.numSamples, gnSize);
    const G = await this.problem.gaussNewton(theta, subset);
    const lambda = this.lambda;
    const shift = 1 / regC + lambda;
    const cgOptions: CGOptions = {};
    if (o.cgInit === 'previous' && this.direction)
      cgOptions.x0 = this.direction.map((x) => o.cgInitDecay * x);
    if (o.cgStop === 'quadratic') cgOptions.quadraticTolerance = o.cgQuadraticTolerance;
    if (o.cgKeepBest > 0) cgOptions.save = { ratio: KEEP_RATIO, keep: o.cgKeepBest };
    if (diagonal) {
      const squares = data.gradSquares;
      if (!squares || squares.length !== g.length) {
        throw new Error(
          "preconditioner 'diagonal' needs the problem's gradSquares (GaussNewtonProblem.lossAndGradient(θ, { gradSquares: true })), " +
            "which this problem does not provide: give it, or use preconditioner 'none'",
        );
      }
      cgOptions.preconditioner = squares.map((s) => Math.pow(s + shift, o.preconditionerExponent));
    }
    let cg;
    try {
      const minusG = g.map((x) => -x);
      cg = await conjugateGradient(
        shifted((v, out) => G.apply(v, out), 1 / regC + lambda),
        minusG,
        cgTolerance * gradNorm,
        cgMax,
        cgOptions,
      );
    } finally {
      await G.release();
    }
    let d = cg.x;
    let gd = dot(g, d);
    // (G_S + λI) d = −g − r, so dᵀ G_S d = −gᵀd − rᵀd − λ‖d‖²  (G_S includes I/C̃)
    let dGd = -gd - dot(cg.r, d) - lambda * dot(d, d);
    let cgChosenIter = cg.iters;
    let lossPasses = 0;
    /** f(θ + d) of the chosen d, when CG-backtracking computed it */
    let fAtOne: number | undefined;
    if (cg.saved.length > 0) {
      // CG-backtracking: from the final iterate back through the kept ones while f decreases
      const fOf = async (x: Float64Array) => {
        lossPasses++;
        const th = lincomb(1, theta, 1, x);
        return this.objective(th, await this.problem.loss(th));
      };
      fAtOne = await fOf(d);
      for (let k = cg.saved.length - 1; k >= 0; k--) {
        const s = cg.saved[k];
        const fs = await fOf(s.x);
        if (!(fs < fAtOne)) break;
        fAtOne = fs;
        d = s.x;
        gd = dot(g, d);
        // x_kᵀ(G_S + λI)x_k was kept with x_k
        dGd = s.xAx - lambda * dot(d, d);
        cgChosenIter = s.iter;
      }
    }

    let alpha = 1;
    let halvings = 0;
    let fNew: number;
    let thetaNew: Float64Array;
    for (;;) {
      thetaNew = lincomb(1, theta, alpha, d);
      if (alpha === 1 && fAtOne !== undefined) fNew = fAtOne;
      else {
        lossPasses++;
        fNew = this.objective(thetaNew, await this.problem.loss(thetaNew));
      }
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

    // commit θ, λ, iteration and generator (and the options' state) together
    this.theta = thetaNew;
    this.lambda = nextLambda;
    this.rng = rng;
    this.iter++;
    // the final CG iterate, not the backtracked one, starts the next CG (Martens 2010 §4.6)
    if (o.cgInit === 'previous') this.direction = cg.x;
    this.gradNorm0 = gradNorm0;
    return {
      iter: this.iter,
      f: fNew,
      fPrev: f,
      gradNorm,
      alpha,
      lambda,
      nextLambda: this.lambda,
      cgIters: cg.iters,
      gvProducts: cg.products,
      cgRelResidual: cg.residualNorm / gradNorm,
      cgStoppedBy: cg.stoppedBy,
      cgChosenIter,
      gnSize,
      lossPasses,
      rho,
      halvings,
      iterSeconds: (performance.now() - t0) / 1000,
    };
  }
}

function validate(o: NewtonOptions, l: number): void {
  const positive: (keyof NewtonOptions)[] = [
    'C',
    'cgTolerance',
    'eta',
    'lambda0',
    'drop',
    'boost',
    'cgQuadraticTolerance',
    'gnGrowthPower',
  ];
  for (const k of positive) {
    if (!(Number.isFinite(o[k]) && (o[k] as number) > 0))
      throw new RangeError(`${k} must be a positive number, got ${o[k]}`);
  }
  for (const k of ['cgInitDecay', 'preconditionerExponent'] as const) {
    if (!(Number.isFinite(o[k]) && o[k] > 0 && o[k] <= 1))
      throw new RangeError(`${k} must be in (0, 1], got ${o[k]}`);
  }
  const choices: [keyof MethodOptions, readonly string[]][] = [
    ['cgInit', CG_INITS],
    ['cgStop', CG_STOPS],
    ['preconditioner', PRECONDITIONERS],
    ['gnGrowth', GN_GROWTHS],
  ];
  for (const [k, values] of choices) {
    if (!values.includes(o[k] as string))
      throw new RangeError(`${k} must be ${values.join(' or ')}, got ${JSON.stringify(o[k])}`);
  }
  if (!(o.drop < 1) || !(o.boost > 1))
    throw new RangeError(`need drop < 1 < boost, got drop ${o.drop}, boost ${o.boost}`);
  if (!Number.isInteger(o.cgMax) || o.cgMax < 1)
    throw new RangeError(`cgMax must be a positive integer, got ${o.cgMax}`);
  if (!Number.isInteger(o.cgKeepBest) || o.cgKeepBest < 0)
    throw new RangeError(`cgKeepBest must be an integer ≥ 0 (0: off), got ${o.cgKeepBest}`);
  if (!Number.isInteger(o.maxHalvings) || o.maxHalvings < 0)
    throw new RangeError(`maxHalvings must be ≥ 0, got ${o.maxHalvings}`);
  if (!Number.isInteger(o.gnSize) || o.gnSize < 1 || o.gnSize > l) {
    throw new RangeError(
      `the Gauss-Newton subset size must be an integer in 1..${l} (the number of samples), got ${o.gnSize}`,
    );
  }
}
