/**
 * `cgKeepBest: k`, CG-backtracking (Martens 2010 §4.6): 0 is off (simpleNN). k > 0: CG
 * keeps copies of its iterates at steps ⌈1.3^j⌉ (1, 2, 3, 4, 5, 7, 9, 11, 14, 18, 24, ...),
 * the last k of them (k vectors of the parameters' size in memory); the step direction is
 * then chosen by f(θ + d): from the final iterate backwards through the kept ones, while f
 * keeps decreasing. Cost: one f pass (problem.loss) per iterate tried beyond the first,
 * which the line search would do anyway: at least one extra f pass per iteration whenever
 * CG kept an earlier iterate, at most k. The line search then starts from the chosen d.
 */
import { numberRow } from '../option-table.js';
import { int } from '../../run/schema.js';
import { dot } from '../vec.js';
import { defineRemedy } from './remedy.js';

/** CG-backtracking keeps iterates at steps ⌈KEEP_RATIO^j⌉ (Martens's 1.3). */
const KEEP_RATIO = 1.3;

export const cgKeepBest = defineRemedy({
  rows: {
    cgKeepBest: numberRow(int(0), {
      flag: '--cg-keep-best',
      value: 'K',
      help:
        'keep K CG iterates (at steps 1, 2, 3, 4, 5, 7, 9, ...) and step along the\n' +
        'one of lowest f, searched back from the last (0 = off, simplenn; costs up\n' +
        'to K f passes)',
      default: 0,
      presets: { hf: 4 },
      identity: 'always',
    }),
  },
  unit(o) {
    if (!(o.cgKeepBest > 0)) return undefined;
    return {
      solve(_step, cg) {
        cg.save = { ratio: KEEP_RATIO, keep: o.cgKeepBest };
      },
      // from the final iterate back through the kept ones while f decreases
      async direction(step, cg, chosen) {
        if (cg.saved.length === 0) return chosen;
        let { d, gd, dGd, cgChosenIter, lossPasses } = chosen;
        lossPasses++;
        let fAtOne = await step.fAlong(d);
        for (let k = cg.saved.length - 1; k >= 0; k--) {
          const s = cg.saved[k];
          lossPasses++;
          const fs = await step.fAlong(s.x);
          if (!(fs < fAtOne)) break;
          fAtOne = fs;
          d = s.x;
          gd = dot(step.at.g, d);
          // x_kᵀ(G_S + λI)x_k was kept with x_k
          dGd = s.xAx - step.lambda * dot(d, d);
          cgChosenIter = s.iter;
        }
        return { d, gd, dGd, cgChosenIter, lossPasses, fAtOne };
      },
    };
  },
});
