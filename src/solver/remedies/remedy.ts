/**
 * What a remedy is: a small unit with its own options (rows of the solver's option table)
 * and its own state, which takes part in named phases of NewtonCG.step (the optax idea):
 *
 *  0. sample    — `gradientSample`: the samples X this iteration's f, ∇f and line search run
 *                 on (S is then X's first |S| indices), drawn from the step's generator;
 *                 without one, all l samples;
 *  1. gradient  — f and ∇f at θ; `gradSquares` asks the pass for the squared chunk gradients;
 *  2. subset    — `subsetSize`: |S| of this iteration;
 *  3. solve     — `solve`: what it adds to CG's options (x0, a stop, kept iterates, M);
 *  4. direction — `direction`: replaces the step direction (CG's final iterate at first);
 *  5. line search (the solver's own: α halved until sufficient decrease; f on X);
 *  6. damping   — `damping`: adjusts the next λ after the Levenberg-Marquardt update;
 *  7. commit    — `commit`: the step succeeded; keeps what the next iteration needs.
 *
 * A remedy that is off has no unit at all (Remedy.unit returns undefined), so simpleNN's
 * algorithm runs the solver's phases alone. The registry is remedies/index.ts.
 */
import type { Rng } from '../../rng.js';
import type { CGOptions, CGResult } from '../cg.js';
import type { NewtonState } from '../report.js';
import type { OptionsOf, SolverOption } from '../option-table.js';
import type { GaussNewtonProblem, LossAndGradient } from '../problem.js';

/** What the f+∇f pass found at θ (the gradient phase). */
export interface Gradient {
  readonly theta: Float64Array;
  /** the gradient sample X of the sample phase (f, ∇f and the line search over X); absent: all l */
  readonly sample?: Int32Array;
  /** the problem's answer as it came: the mean data loss and its gradient (no regulariser), gradSquares, gradChunks */
  readonly data: LossAndGradient;
  readonly f: number;
  /** ∇f, the regulariser's part included */
  readonly g: Float64Array;
  readonly gradNorm: number;
  /** the problem's squared chunk gradients, when a unit asked for them */
  readonly gradSquares?: Float64Array;
}

/** What a unit sees of the step under way (after the gradient phase). */
export interface StepContext {
  readonly problem: GaussNewtonProblem;
  readonly at: Gradient;
  /** λ of this iteration's CG */
  readonly lambda: number;
  /** 1/C̃ + λ: CG's matrix is G + shift·I (G without I/C̃) */
  readonly shift: number;
  /** f(θ + x): one f pass (problem.loss; over the gradient sample, if any) */
  fAlong(x: Float64Array): Promise<number>;
}

/** The step direction and what the line search and the damping need of it. */
export interface Direction {
  readonly d: Float64Array;
  /** ∇fᵀd */
  readonly gd: number;
  /** dᵀG_S d (G_S includes I/C̃) */
  readonly dGd: number;
  /** the CG step whose iterate d is */
  readonly cgChosenIter: number;
  /** f passes spent choosing d */
  readonly lossPasses: number;
  /** f(θ + d), when choosing d computed it (the line search then does not again) */
  readonly fAtOne?: number;
}

/** A remedy's part in one run: the phases it takes part in, and its state. */
export interface RemedyUnit {
  /**
   * sample: the samples X of this iteration's f, ∇f and line search (distinct indices,
   * each prefix a uniform random subset: S is X's first |S|), drawn from `rng` (the step's
   * copy of the generator, committed with the step); undefined: all l. The first unit
   * that gives one decides.
   */
  gradientSample?(rng: Rng, l: number): Int32Array | undefined;
  /** gradient: the f+∇f pass also sums the squared chunk gradients (Gradient.gradSquares) */
  readonly gradSquares?: boolean;
  /** subset: |S| of this iteration, given the size so far (gnSize) */
  subsetSize?(at: Gradient, size: number): number;
  /** solve: adds to CG's options */
  solve?(step: StepContext, cg: CGOptions): void;
  /** direction: the direction to step along, given the one chosen so far */
  direction?(step: StepContext, cg: CGResult, chosen: Direction): Promise<Direction>;
  /** damping: the next λ, given the Levenberg-Marquardt update's */
  damping?(step: StepContext, nextLambda: number): number;
  /** commit: the step is taken; keeps what the next iteration needs */
  commit?(step: StepContext, cg: CGResult): void;
  /** its part of NewtonState (checkpointed) */
  save?(s: NewtonState): void;
  /** continues from a saved state (its part may be absent: then as before the first step) */
  restore?(s: NewtonState): void;
}

/**
 * What a unit reads of the solver's options: its own rows', and gnSize (|S|, or |S₀|). A
 * unit sees no other remedy's options.
 */
export type UnitOptions<R> = Readonly<OptionsOf<R>> & { readonly gnSize: number };

export interface Remedy<R extends Record<string, SolverOption> = Record<string, SolverOption>> {
  /** its options, one row each (key → row), in the order the help lists them */
  readonly rows: R;
  /** its unit for a solver with options `o`, or undefined while it is off */
  unit(o: UnitOptions<R>, problem: GaussNewtonProblem): RemedyUnit | undefined;
  /** refuses a saved state whose part of this remedy cannot be (whatever the options) */
  checkState?(s: NewtonState, problem: GaussNewtonProblem): void;
}

/** A remedy, its rows' types kept (so that the options' type is derived from them). */
export const defineRemedy = <const R extends Record<string, SolverOption>>(r: Remedy<R>) => r;
