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
 *  - `gnGrowth: 'gradient'`: |S| grows as ‖∇f‖ falls;
 *  - `gradSample: 'norm-test'`: f, ∇f and the line search on a growing sample X ⊇ S
 *    (Byrd, Chin, Nocedal & Wu 2012), |X| grown by their norm test.
 * Each is a unit of remedies/ (its options, its state, its part in the phases of step():
 * see remedies/remedy.ts), registered in remedies/index.ts; every option is a row of a
 * table (options.ts), from which defaults, methods, validation and the resume identity
 * are derived.
 */
import { Rng } from '../rng.js';
import { conjugateGradient, shifted, type CGOptions, type CGResult, type CGStop } from './cg.js';
import {
  resolveNewtonOptions,
  validateNewtonOptions,
  type NewtonOptions,
  type NewtonSettings,
} from './options.js';
import type { GaussNewtonProblem } from './problem.js';
import { REMEDIES } from './remedies/index.js';
import type { Direction, Gradient, RemedyUnit, StepContext } from './remedies/remedy.js';
import { grownSubsetSize } from './remedies/gn-growth.js';
import { dot, lincomb, norm } from './vec.js';
import {
  LineSearchError,
  type IterationReport,
  type NewtonState,
  type PhaseSeconds,
} from './report.js';

export { LineSearchError, type IterationReport, type NewtonState, type PhaseSeconds };

// the options' names, types, defaults and methods, where they were before options.ts
export {
  CG_INITS,
  CG_STOPS,
  GN_GROWTHS,
  HF_METHOD,
  METHOD_OPTIONS,
  methodIdentity,
  NEWTON_DEFAULTS,
  NEWTON_METHODS,
  PRECONDITIONERS,
  RENAMED_NEWTON_OPTIONS,
  resolveNewtonOptions,
  SIMPLENN_METHOD,
  type MethodOptions,
  type NewtonMethod,
  type NewtonOptions,
  type NewtonSettings,
} from './options.js';

export class NewtonCG {
  readonly opts: NewtonOptions;
  private theta: Float64Array;
  private lambda: number;
  private iter: number;
  private rng: Rng;
  /** the units of the remedies that are on, in registry order (each holds its own state) */
  private readonly units: readonly RemedyUnit[];
  /**
   * Where the last completed step's wall time went, by phase: the f+∇f pass, CG (its Gv
   * products, the first of which prepares the subset's linearization, and CG's vector
   * updates), choosing the direction (CG-backtracking's f passes), the line search's f
   * passes. Zeros before the first step. Not part of the report, which is the same bit for
   * bit on every run of a trajectory: a measurement of this run.
   */
  phases: PhaseSeconds = {
    gradSeconds: 0,
    cgSeconds: 0,
    directionSeconds: 0,
    lineSearchSeconds: 0,
  };

  constructor(
    private readonly problem: GaussNewtonProblem,
    theta0: Float64Array,
    opts: NewtonSettings,
  ) {
    this.opts = resolveNewtonOptions(opts);
    validateNewtonOptions(this.opts, problem.numSamples);
    if (theta0.length !== problem.dim) {
      throw new Error(`θ has ${theta0.length} entries, the problem has ${problem.dim} parameters`);
    }
    this.theta = Float64Array.from(theta0);
    this.lambda = this.opts.lambda0;
    this.iter = 0;
    this.rng = new Rng(this.opts.seed);
    this.units = REMEDIES.map((r) => r.unit(this.opts, problem)).filter((u) => u !== undefined);
  }

  /** The current iterate (a copy). */
  get params(): Float64Array {
    return Float64Array.from(this.theta);
  }

  /**
   * θ, λ, iteration and generator state of the last completed iteration (and what the
   * remedies carry from one iteration to the next: the CG solution with cgInit 'previous',
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
    for (const u of this.units) u.save?.(s);
    return s;
  }

  /**
   * Continues from a saved state (the same options must be given to the constructor). A
   * state without a direction (cgInit 'previous') starts the next CG from 0; one without
   * ‖∇f₀‖ (gnGrowth 'gradient') takes the next iteration's.
   */
  restore(s: NewtonState): void {
    for (const r of REMEDIES) r.checkState?.(s, this.problem);
    this.theta = Float64Array.from(s.theta);
    this.lambda = s.lambda;
    this.iter = s.iter;
    this.rng = Rng.fromState(s.rngState);
    for (const u of this.units) u.restore?.(s);
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
    return grownSubsetSize(gnSize, gnGrowthPower, this.problem.numSamples, gradNorm, gradNorm0);
  }

  /**
   * One iteration, as named phases (remedies/remedy.ts): gradient, subset, solve,
   * direction, line search, damping, commit. Each remedy that is on takes part in its
   * phases; with none, this is simpleNN's iteration operation for operation.
   */
  async step(): Promise<IterationReport> {
    const t0 = performance.now();
    // drawn from a copy: the generator advances only with a completed step
    const rng = Rng.fromState(this.rng.state);
    const l = this.problem.numSamples;
    const sample = this.gradientSample(rng);
    const at = await this.gradient(sample, this.knownSubsetSize(sample));
    const t1 = performance.now();
    const gnSize = this.units.reduce((n, u) => u.subsetSize?.(at, n) ?? n, this.opts.gnSize);
    // with a gradient sample X, S is its first |S| indices (one published subset for both)
    const subset = sample
      ? sample.subarray(0, Math.min(gnSize, sample.length))
      : rng.subset(l, gnSize);
    const lambda = this.lambda;
    const step: StepContext = {
      problem: this.problem,
      at,
      lambda,
      shift: 1 / this.regC + lambda,
      fAlong: async (x) => {
        const th = lincomb(1, at.theta, 1, x);
        return this.objective(th, await this.dataLoss(th, at.sample));
      },
    };
    const cg = await this.solve(step, subset);
    const t2 = performance.now();
    let chosen = this.cgDirection(step, cg);
    for (const u of this.units) if (u.direction) chosen = await u.direction(step, cg, chosen);
    const t3 = performance.now();
    const { alpha, halvings, fNew, thetaNew, lossPasses } = await this.lineSearch(at, chosen);
    const t4 = performance.now();
    const { rho, nextLambda } = this.damping(step, chosen, alpha, fNew);

    // commit θ, λ, iteration and generator (and the remedies' state) together
    this.theta = thetaNew;
    this.lambda = nextLambda;
    this.rng = rng;
    this.iter++;
    for (const u of this.units) u.commit?.(step, cg);
    this.phases = {
      gradSeconds: (t1 - t0) / 1000,
      cgSeconds: (t2 - t1) / 1000,
      directionSeconds: (t3 - t2) / 1000,
      lineSearchSeconds: (t4 - t3) / 1000,
    };
    return {
      iter: this.iter,
      f: fNew,
      fPrev: at.f,
      gradNorm: at.gradNorm,
      alpha,
      lambda,
      nextLambda: this.lambda,
      cgIters: cg.iters,
      gvProducts: cg.products,
      cgRelResidual: cg.residualNorm / at.gradNorm,
      cgStoppedBy: cg.stoppedBy,
      cgChosenIter: chosen.cgChosenIter,
      gnSize: subset.length,
      ...(this.units.some((u) => u.gradientSample) && { gradSampleSize: sample?.length ?? l }),
      lossPasses,
      rho,
      halvings,
      iterSeconds: (performance.now() - t0) / 1000,
    };
  }

  /** sample: the gradient sample X of this iteration (the first unit's that gives one), or none: all l. */
  private gradientSample(rng: Rng): Int32Array | undefined {
    for (const u of this.units) {
      const x = u.gradientSample?.(rng, this.problem.numSamples);
      if (x) return x;
    }
    return undefined;
  }

  /**
   * |S| of this iteration when it is known before the f+∇f pass over the gradient sample X
   * (no remedy sizes S from the gradient): S is then X's first |S| indices, which the pass
   * is told (gaussNewtonPrefix) so that the problem need not compute their part twice.
   */
  private knownSubsetSize(sample?: Int32Array): number | undefined {
    if (!sample || this.units.some((u) => u.subsetSize)) return undefined;
    return Math.min(this.opts.gnSize, sample.length);
  }

  /** gradient: f and ∇f at θ, over X if given (the squared chunk gradients too when a remedy asks). */
  private async gradient(sample?: Int32Array, gaussNewtonPrefix?: number): Promise<Gradient> {
    const theta = this.theta;
    const squares = this.units.some((u) => u.gradSquares);
    const data = sample
      ? await this.problem.lossAndGradient(theta, {
          gradSquares: squares,
          subset: sample,
          ...(gaussNewtonPrefix !== undefined && { gaussNewtonPrefix }),
        })
      : squares
        ? await this.problem.lossAndGradient(theta, { gradSquares: true })
        : await this.problem.lossAndGradient(theta);
    const f = this.objective(theta, data.loss);
    const g = lincomb(1 / this.regC, theta, 1, data.grad);
    return { theta, sample, data, f, g, gradNorm: norm(g), gradSquares: data.gradSquares };
  }

  /** The mean data loss at θ: over the gradient sample X if given, else over all l (one f pass). */
  private dataLoss(theta: Float64Array, sample?: Int32Array): Promise<number> {
    return sample ? this.problem.loss(theta, { subset: sample }) : this.problem.loss(theta);
  }

  /** solve: CG on (G_S + λI) d = −∇f, with what each remedy adds to its options. */
  private async solve(step: StepContext, subset: Int32Array): Promise<CGResult> {
    const { at, lambda } = step;
    const G = await this.problem.gaussNewton(at.theta, subset);
    const cgOptions: CGOptions = {};
    for (const u of this.units) u.solve?.(step, cgOptions);
    try {
      const minusG = at.g.map((x) => -x);
      return await conjugateGradient(
        shifted((v, out) => G.apply(v, out), 1 / this.regC + lambda),
        minusG,
        this.opts.cgTolerance * at.gradNorm,
        this.opts.cgMax,
        cgOptions,
      );
    } finally {
      await G.release();
    }
  }

  /** direction: CG's final iterate, before any remedy chooses another. */
  private cgDirection(step: StepContext, cg: CGResult): Direction {
    const d = cg.x;
    const gd = dot(step.at.g, d);
    // (G_S + λI) d = −g − r, so dᵀ G_S d = −gᵀd − rᵀd − λ‖d‖²  (G_S includes I/C̃)
    const dGd = -gd - dot(cg.r, d) - step.lambda * dot(d, d);
    return { d, gd, dGd, cgChosenIter: cg.iters, lossPasses: 0 };
  }

  /** line search: α = 1, halved until f(θ + αd) − f(θ) ≤ η α ∇fᵀd. */
  private async lineSearch(at: Gradient, chosen: Direction) {
    const { eta, maxHalvings } = this.opts;
    const { d, gd, fAtOne } = chosen;
    const f = at.f;
    let lossPasses = chosen.lossPasses;
    let alpha = 1;
    let halvings = 0;
    let fNew: number;
    let thetaNew: Float64Array;
    for (;;) {
      thetaNew = lincomb(1, at.theta, alpha, d);
      if (alpha === 1 && fAtOne !== undefined) fNew = fAtOne;
      else {
        lossPasses++;
        fNew = this.objective(thetaNew, await this.dataLoss(thetaNew, at.sample));
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
    return { alpha, halvings, fNew, thetaNew, lossPasses };
  }

  /** damping: ρ and the Levenberg-Marquardt λ of the next iteration (then the remedies'). */
  private damping(step: StepContext, chosen: Direction, alpha: number, fNew: number) {
    const { drop, boost } = this.opts;
    const { lambda } = step;
    const predicted = alpha * chosen.gd + 0.5 * alpha * alpha * chosen.dGd;
    const rho = (fNew - step.at.f) / predicted;
    let nextLambda = rho < 0.25 ? lambda * boost : rho >= 0.75 ? lambda * drop : lambda;
    for (const u of this.units) if (u.damping) nextLambda = u.damping(step, nextLambda);
    return { rho, nextLambda };
  }
}
