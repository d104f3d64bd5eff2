import { Rng } from '../rng.js';
import type { ModelLayout } from './spec.js';

/** The initialisations `initParams` knows (the run option `init`). */
export const INITS = ['he', 'sparse'] as const;
export type InitName = (typeof INITS)[number];

/** Incoming weights per unit that `sparse` draws (Martens 2010 used 15). */
export const SPARSE_CONNECTIONS = 15;

/**
 * The initial parameters, drawn in layout order from a generator seeded with `seed`, so one
 * seed gives one network everywhere; every bias 0.
 * - `he` (simpleNN's, the default): every weight N(0, 2/fan_in).
 * - `sparse` (Martens 2010, §5, for the Hessian-free autoencoders): each unit has
 *   SPARSE_CONNECTIONS nonzero incoming weights (all of them when its fan-in is smaller),
 *   at inputs drawn without replacement, each N(0, 1); the rest 0. Meant for logistic and
 *   tanh units, whose saturation keeps large weights in range; with relu, activations grow
 *   layer by layer.
 * A kernel's last dimension is its output units (dense [in, out], conv2d [h, w, in, out]).
 */
export function initParams(layout: ModelLayout, seed: number, init: InitName = 'he'): Float32Array {
  const rng = new Rng(seed);
  const theta = new Float32Array(layout.numParams);
  for (const p of layout.params) {
    if (p.role === 'bias') continue;
    if (init === 'sparse') {
      const units = p.shape[p.shape.length - 1];
      const inputs = p.size / units;
      for (let j = 0; j < units; j++) {
        for (const i of distinct(rng, inputs, Math.min(SPARSE_CONNECTIONS, inputs)))
          theta[p.offset + i * units + j] = rng.normal();
      }
      continue;
    }
    const std = Math.sqrt(2 / p.fanIn);
    for (let i = 0; i < p.size; i++) theta[p.offset + i] = std * rng.normal();
  }
  return theta;
}

/** `k` ≤ n distinct integers of [0, n), in the order drawn (by rejection: k is at most 15). */
function distinct(rng: Rng, n: number, k: number): number[] {
  const picked = new Set<number>();
  while (picked.size < k) picked.add(rng.int(n));
  return [...picked];
}
