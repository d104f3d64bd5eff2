/**
 * `bce`: sigmoid (Bernoulli) cross-entropy, one independent Bernoulli per output, as for
 * multi-label targets or pixels: ξ = Σₖ softplus(zₖ) − yₖzₖ; ∂ξ/∂z = σ(z) − y and
 * B = diag(σ(z)(1 − σ(z))), whose diagonal is the curvature state. With one-hot class
 * targets it is a one-vs-rest classifier (the prediction is still the largest zₖ).
 */
import * as tf from '@tensorflow/tfjs';
import type { LossUnit } from './unit.js';

export const bce: LossUnit<'bce'> = {
  name: 'bce',
  summary: 'sigmoid cross-entropy, one Bernoulli per output',
  outputActivation: 'sigmoid',
  // tf.softplus is log(1 + eˣ) computed stably, its gradient σ(x)
  sum: (z, targets) => tf.sum(tf.sub(tf.softplus(z), tf.mul(z, targets))),
  gradient: (z, targets) => tf.sub(tf.sigmoid(z), targets),
  curvatureState(z) {
    return tf.tidy(() => {
      const p = tf.sigmoid(z);
      return tf.mul(p, tf.sub(1, p)) as tf.Tensor2D;
    });
  },
  applyB: (state, w) => tf.mul(state as tf.Tensor2D, w),
};
