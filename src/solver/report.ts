/**
 * What the Newton iteration reports and keeps: one iteration's report, the state a
 * checkpoint holds, and the error that ends a run whose line search finds no decrease. A
 * leaf of the solver, so that its remedies and its option table can name them.
 */
import type { CGStop } from './cg.js';

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
  /** with a gradient sample (gradSample 'norm-test'): |X|, the samples of this iteration's f and ∇f (l once it is all of them) */
  gradSampleSize?: number;
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
  /** with gradSample 'norm-test': |X| of the next iteration's gradient sample */
  gradSampleSize?: number;
}

/** Where a step's wall time went, by phase (NewtonCG.phases), in seconds. */
export interface PhaseSeconds {
  /** the f+∇f pass */
  gradSeconds: number;
  /** CG: its Gv products (the first prepares the subset's linearization) and vector updates */
  cgSeconds: number;
  /** choosing the direction: CG-backtracking's f passes (0 without it) */
  directionSeconds: number;
  /** the line search's f passes */
  lineSearchSeconds: number;
}
