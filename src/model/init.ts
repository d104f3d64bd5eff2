import { Rng } from '../rng.js';
import type { ModelLayout } from './spec.js';

/**
 * simpleNN's initialisation: every weight N(0, 2/fan_in), every bias 0, drawn in layout
 * order from a generator seeded with `seed`, so one seed gives one network everywhere.
 */
export function initParams(layout: ModelLayout, seed: number): Float32Array {
  const rng = new Rng(seed);
  const theta = new Float32Array(layout.numParams);
  for (const p of layout.params) {
    if (p.role === 'bias') continue;
    const std = Math.sqrt(2 / p.fanIn);
    for (let i = 0; i < p.size; i++) theta[p.offset + i] = std * rng.normal();
  }
  return theta;
}
