/** A small run on the embedded digits that the interrupt and startTraining tests share. */
import type { TrainOptions } from '../../src/run/options.ts';

/**
 * l = 1438: 12 data chunks of 128; |S| = 719: 6 Gv chunks per CG iteration; 359 test
 * samples: 3 accuracy chunks.
 */
export const SMALL_DIGITS_RUN = {
  data: 'digits',
  model: 'mlp:16',
  C: 1,
  bsize: 128,
  gnRatio: 0.5,
  seed: 2,
  backend: 'wasm',
} as const satisfies TrainOptions;
