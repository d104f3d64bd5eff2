/**
 * The one record a run logs per iteration (Newton) or epoch (a first-order baseline), one
 * JSON object per line of `--log`, and what reads it back (`plot`, the race). Fields a
 * method does not have are null (a baseline's λ) or absent (its ρ); NaN accuracies are null.
 * A run on real-valued targets logs its held-out RMSE and R² (absent for class labels).
 */
import type { PhaseSeconds } from '../solver/report.js';
import type { EpochReport, Optim, TrainIteration } from './options.js';

export interface LogRecord {
  iter: number;
  f: number;
  gradNorm: number;
  /** the step length (Newton), the learning rate (a baseline) */
  alpha: number;
  /** the damping λ used (null for a baseline) */
  lambda: number | null;
  /** CG steps (0 for a baseline) */
  cgIters: number;
  /** wall-clock seconds since training started, over resumes */
  elapsedSeconds: number;
  /** wall-clock seconds of this iteration (or epoch) */
  iterSeconds: number;
  testAcc: number | null;
  /** Newton only, from here */
  valAcc?: number | null;
  /** with real-valued targets only: the test and validation RMSE and R² (null when NaN) */
  testRmse?: number | null;
  testR2?: number | null;
  valRmse?: number | null;
  valR2?: number | null;
  rho?: number;
  gnSize?: number;
  /** with a gradient sample (gradSample 'norm-test'): |X|, the samples of the iteration's f and ∇f */
  gradSampleSize?: number;
  /** with fullObjective and |X| < l: the objective on all training samples (a measurement) */
  fullF?: number;
  gvProducts?: number;
  lossPasses?: number;
  /**
   * where the iteration's time went (NewtonCG.phases), for iterations computed by the
   * process that wrote the line (a resumed run's earlier lines, rewritten from the
   * checkpoint's history, have none): the f+∇f pass, CG, choosing the direction, the line
   * search
   */
  gradSeconds?: number;
  cgSeconds?: number;
  directionSeconds?: number;
  lineSearchSeconds?: number;
  /** a baseline only, from here: seconds in minibatch steps so far */
  trainSeconds?: number;
  optim?: Optim;
  batch?: number;
  /** a baseline evaluated within epochs: minibatch steps so far */
  steps?: number;
}

const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);

/**
 * The RMSE and R² of an iteration on real-valued targets (finite test or validation RMSE);
 * nothing for class labels, whose records stay as they were. (A checkpoint's history has
 * null for NaN, and no field before there were targets.)
 */
function regressionFields(it: TrainIteration): Partial<LogRecord> {
  const has = (x: number | null | undefined) => typeof x === 'number' && Number.isFinite(x);
  if (!has(it.testRmse) && !has(it.valRmse)) return {};
  const orNull = (x: number | null | undefined) => (has(x) ? (x as number) : null);
  return {
    testRmse: orNull(it.testRmse),
    testR2: orNull(it.testR2),
    valRmse: orNull(it.valRmse),
    valR2: orNull(it.valR2),
  };
}

/** The record of one Newton iteration (with where its time went, when known). */
export function logRecord(it: TrainIteration, phases?: PhaseSeconds): LogRecord {
  return {
    iter: it.iter,
    f: it.f,
    gradNorm: it.gradNorm,
    alpha: it.alpha,
    lambda: it.lambda,
    cgIters: it.cgIters,
    elapsedSeconds: it.elapsedSeconds,
    testAcc: finiteOrNull(it.testAcc),
    valAcc: finiteOrNull(it.valAcc),
    ...regressionFields(it),
    rho: it.rho,
    iterSeconds: it.iterSeconds,
    gnSize: it.gnSize,
    ...(it.gradSampleSize === undefined ? {} : { gradSampleSize: it.gradSampleSize }),
    ...(it.fullF === undefined ? {} : { fullF: it.fullF }),
    gvProducts: it.gvProducts,
    lossPasses: it.lossPasses,
    ...phases,
  };
}

/** The record of one epoch of a first-order baseline. */
export function epochRecord(e: EpochReport, optim: Optim, batch: number): LogRecord {
  return {
    ...e,
    testAcc: Number.isNaN(e.testAcc) ? null : e.testAcc,
    lambda: null,
    cgIters: 0,
    optim,
    batch,
  };
}

/**
 * A parsed line of a log as a record, or why it is not one ('not an object', or the first
 * of iter, f, elapsedSeconds that is missing or not a number). Logs written before the
 * rename call the cumulative time `seconds`: read as elapsedSeconds.
 */
export function readLogRecord(parsed: unknown): LogRecord | string {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return 'not an object';
  const r = parsed as Record<string, unknown>;
  if (r.elapsedSeconds === undefined && typeof r.seconds === 'number') {
    r.elapsedSeconds = r.seconds;
    delete r.seconds;
  }
  for (const k of ['iter', 'f', 'elapsedSeconds'] as const)
    if (typeof r[k] !== 'number') return `field '${k}' missing or not a number`;
  return r as unknown as LogRecord;
}
