/**
 * `preconditioner: 'diagonal'`: preconditioned CG with the diagonal
 * M = (gradSquares + λ + 1/C̃)^preconditionerExponent (Martens 2010 §4.7), gradSquares the
 * empirical-Fisher diagonal estimated from the chunk gradients of the f+∇f pass (see
 * LossAndGradient.gradSquares): no extra pass, a few vector operations per CG step. The
 * problem must provide gradSquares (PassEngine, hence LocalProblem and PoolProblem, does).
 */
import { choiceRow, numberRow } from '../option-table.js';
import { num, unitInterval } from '../../run/schema.js';
import { defineRemedy } from './remedy.js';

export const PRECONDITIONERS = ['none', 'diagonal'] as const;

export const preconditioner = defineRemedy({
  rows: {
    preconditioner: choiceRow(PRECONDITIONERS, {
      flag: '--preconditioner',
      value: 'P',
      help:
        'none (simplenn) or diagonal: CG preconditioned by (Σ chunk gradient² / l +\n' +
        'λ + 1/(C·l))^α, from the f+∇f pass (no extra pass)',
      default: 'none',
      presets: { hf: 'diagonal' },
      identity: 'always',
    }),
    /** α of the diagonal preconditioner (Martens: 0.75) */
    preconditionerExponent: numberRow(num(unitInterval), {
      flag: '--preconditioner-exponent',
      value: 'X',
      help: 'that α, in (0, 1]',
      default: 0.75,
      identity: { with: 'preconditioner', is: 'diagonal' },
    }),
  },
  unit(o) {
    if (o.preconditioner !== 'diagonal') return undefined;
    return {
      gradSquares: true,
      solve(step, cg) {
        const squares = step.at.gradSquares;
        if (!squares || squares.length !== step.at.g.length) {
          throw new Error(
            "preconditioner 'diagonal' needs the problem's gradSquares (GaussNewtonProblem.lossAndGradient(θ, { gradSquares: true })), " +
              "which this problem does not provide: give it, or use preconditioner 'none'",
          );
        }
        cg.preconditioner = squares.map((s) => Math.pow(s + step.shift, o.preconditionerExponent));
      },
    };
  },
});
