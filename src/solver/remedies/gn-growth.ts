/**
 * `gnGrowth: 'gradient'`: the Gauss-Newton subset grows as the gradient falls,
 * |S_k| = min(l, max(gnSize, round(gnSize·(‖∇f₀‖/‖∇f_k‖)^gnGrowthPower))), ∇f₀ the
 * gradient at the run's first iteration (its state, checkpointed), so the curvature
 * estimate gets more accurate when the steps get smaller. Each iteration's |S| is in
 * IterationReport.gnSize. 'fixed' (simpleNN) is gnSize at every iteration.
 */
import { choiceRow, numberRow } from '../option-table.js';
import { num, positive } from '../../run/schema.js';
import { defineRemedy } from './remedy.js';

export const GN_GROWTHS = ['fixed', 'gradient'] as const;

/** |S| grown from `gnSize` for a gradient norm fallen from `gradNorm0` to `gradNorm`, at most l. */
export function grownSubsetSize(
  gnSize: number,
  power: number,
  l: number,
  gradNorm: number,
  gradNorm0: number,
): number {
  const grown = Math.round(gnSize * Math.pow(gradNorm0 / gradNorm, power));
  return Number.isFinite(grown) ? Math.min(l, Math.max(gnSize, grown)) : l;
}

export const gnGrowth = defineRemedy({
  rows: {
    gnGrowth: choiceRow(GN_GROWTHS, {
      flag: '--gn-growth',
      value: 'G',
      help:
        'fixed (simplenn) or gradient: |S| = |S₀|·(‖∇f₀‖/‖∇f‖)^p, between |S₀|\n' +
        '(--gn-size/--gn-ratio) and l',
      default: 'fixed',
      identity: 'always',
    }),
    gnGrowthPower: numberRow(num(positive), {
      flag: '--gn-growth-power',
      value: 'P',
      help: 'that exponent p',
      default: 1,
      identity: { with: 'gnGrowth', is: 'gradient' },
    }),
  },
  unit(o, problem) {
    if (o.gnGrowth !== 'gradient') return undefined;
    /** ‖∇f‖ at the run's first iteration, once it is committed */
    let gradNorm0: number | undefined;
    /** this step's ‖∇f₀‖, committed with the step */
    let pending: number | undefined;
    return {
      subsetSize(at, size) {
        pending = gradNorm0 ?? at.gradNorm;
        return grownSubsetSize(size, o.gnGrowthPower, problem.numSamples, at.gradNorm, pending);
      },
      commit() {
        gradNorm0 = pending;
      },
      save(s) {
        if (gradNorm0 !== undefined) s.gradNorm0 = gradNorm0;
      },
      restore(s) {
        gradNorm0 = s.gradNorm0;
      },
    };
  },
});
