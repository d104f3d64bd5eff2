/**
 * `cgInit: 'previous'`: CG starts from cgInitDecay × the previous iteration's CG solution
 * (its final iterate, also when cgKeepBest chose an earlier one: Martens 2010 §4.5). Costs
 * one extra Gauss-Newton product per iteration (r₀ = b − A x₀). When q(x₀) ≥ 0 (x₀ no
 * better than 0 for the new quadratic model) CG starts from 0 and the product is wasted.
 * The first iteration (and one after a restore without a saved direction) starts from 0.
 * Its state, the direction, is part of the solver state (checkpointed).
 */
import { numberRow, choiceRow } from '../option-table.js';
import { num, unitInterval } from '../../run/schema.js';
import { defineRemedy } from './remedy.js';

export const CG_INITS = ['zero', 'previous'] as const;

export const cgInit = defineRemedy({
  rows: {
    cgInit: choiceRow(CG_INITS, {
      flag: '--cg-init',
      value: 'I',
      help:
        "where CG starts: zero (simplenn) or previous: from the last iteration's CG\n" +
        'solution times --cg-init-decay (one extra Gv product per iteration)',
      default: 'zero',
      presets: { hf: 'previous' },
      identity: 'always',
    }),
    cgInitDecay: numberRow(num(unitInterval), {
      flag: '--cg-init-decay',
      value: 'X',
      help: 'that factor, in (0, 1]',
      default: 0.95,
      identity: { with: 'cgInit', is: 'previous' },
    }),
  },
  unit(o) {
    if (o.cgInit !== 'previous') return undefined;
    /** the last CG solution (undecayed) */
    let direction: Float64Array | undefined;
    return {
      solve(_step, cg) {
        if (direction) cg.x0 = direction.map((x) => o.cgInitDecay * x);
      },
      // the final CG iterate, not the backtracked one, starts the next CG (Martens 2010 §4.6)
      commit(_step, cg) {
        direction = cg.x;
      },
      save(s) {
        if (direction) s.direction = Float64Array.from(direction);
      },
      restore(s) {
        direction = s.direction ? Float64Array.from(s.direction) : undefined;
      },
    };
  },
  checkState(s, problem) {
    if (s.direction && s.direction.length !== problem.dim) {
      throw new RangeError(
        `the saved direction has ${s.direction.length} entries, the problem has ${problem.dim} parameters`,
      );
    }
  },
});
