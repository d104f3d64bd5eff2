/** `mse`: the squared error to one-hot targets (simpleNN's default), ξ = ‖z − onehot‖², B = 2I. */
import * as tf from '@tensorflow/tfjs';
import type { LossUnit } from './unit.js';

export const mse: LossUnit<'mse'> = {
  name: 'mse',
  summary: 'squared error',
  sum: (z, oneHot) => tf.sum(tf.square(tf.sub(z, oneHot))),
  gradient: (z, oneHot) => tf.mul(tf.sub(z, oneHot), 2),
  curvatureState: () => null,
  applyB: (_state, w) => tf.mul(w, 2),
};
