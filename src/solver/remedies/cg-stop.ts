/**
 * `cgStop: 'quadratic'`: besides ‖r‖ ≤ cgTolerance·‖∇f‖ and cgMax, CG also stops when the
 * quadratic model q(x) = ½xᵀ(G_S + λI)x + ∇fᵀx stops making progress, at step i with
 * k = max(10, ⌈0.1·i⌉): i > k, q_i < 0 and (q_i − q_{i−k})/q_i < k·cgQuadraticTolerance
 * (Martens 2010 §4.4). q comes from vectors CG has: two dot products a step, no product.
 */
import { choiceRow, numberRow } from '../option-table.js';
import { num, positive } from '../../run/schema.js';
import { defineRemedy } from './remedy.js';

export const CG_STOPS = ['residual', 'quadratic'] as const;

export const cgStop = defineRemedy({
  rows: {
    cgStop: choiceRow(CG_STOPS, {
      flag: '--cg-stop',
      value: 'S',
      help:
        'residual (simplenn) or quadratic: CG also stops when the quadratic model\n' +
        "stalls (Martens's test: progress over the last k steps below\n" +
        'k·--cg-quadratic-tolerance)',
      default: 'residual',
      presets: { hf: 'quadratic' },
      identity: 'always',
    }),
    /** ε of the test (Martens: 5e-4) */
    cgQuadraticTolerance: numberRow(num(positive), {
      flag: '--cg-quadratic-tolerance',
      value: 'X',
      help: 'that tolerance',
      default: 5e-4,
      identity: { with: 'cgStop', is: 'quadratic' },
    }),
  },
  unit(o) {
    if (o.cgStop !== 'quadratic') return undefined;
    return {
      solve(_step, cg) {
        cg.quadraticTolerance = o.cgQuadraticTolerance;
      },
    };
  },
});
