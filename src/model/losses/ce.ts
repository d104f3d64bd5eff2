/**
 * `ce`: softmax cross-entropy, ξ = logsumexp(z) − z_y; ∂ξ/∂z = p − onehot and
 * B = diag(p) − ppᵀ with p = softmax(z), kept as the curvature state.
 */
import * as tf from '@tensorflow/tfjs';
import type { LossUnit } from './unit.js';

export const ce: LossUnit<'ce'> = {
  name: 'ce',
  summary: 'softmax cross-entropy',
  outputActivation: 'softmax',
  sum: (z, oneHot) => tf.sum(tf.sub(tf.logSumExp(z, 1), tf.sum(tf.mul(z, oneHot), 1))),
  gradient: (z, oneHot) => tf.sub(tf.softmax(z), oneHot),
  curvatureState: (z) => tf.softmax(z),
  applyB(state, w) {
    const p = state as tf.Tensor2D;
    return tf.sub(tf.mul(p, w), tf.mul(p, tf.sum(tf.mul(p, w), 1, true)));
  },
};
