/** The small run the NATS tests train (over loopback and across network namespaces). */
import type { TrainTest } from '../../src/data/dataset.ts';
import type { TrainIteration, TrainOptions } from '../../src/run/train.ts';
import { syntheticData } from './synthetic.ts';

/** Fashion-MNIST-shaped data, small: 3 chunks of f+∇f, 2 Gv chunks per CG step (chunks of 256). */
export const NATS_SETS: TrainTest = {
  name: 'synthetic 28x28',
  train: syntheticData(600, [28, 28, 1], 10, 11),
  test: syntheticData(150, [28, 28, 1], 10, 12),
};

export const NATS_RUN: TrainOptions = {
  data: NATS_SETS,
  model: 'mlp:32',
  C: 1,
  iters: 4,
  bsize: 256,
  gnSize: 400,
  seed: 5,
  backend: 'wasm',
};

/** A history without its wall times: what must be the same on every transport. */
export const trajectory = (h: TrainIteration[]) =>
  h.map(({ iterSeconds: _s, elapsedSeconds: _e, ...r }) => r);
