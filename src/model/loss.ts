/**
 * The losses ξ(z, y) on one-hot targets, and B = ∂²ξ/∂z², in closed form.
 *
 * tfjs's own second derivatives of softmax/exp are wrong, so B is never obtained by
 * autodiff. The first derivative (for ∇f) is tfjs autodiff of the sums below, which is
 * correct and checked against finite differences in the tests.
 * - ce:  ξ = logsumexp(z) − z_y,   B = diag(p) − ppᵀ with p = softmax(z)
 * - mse: ξ = ‖z − onehot(y)‖²,     B = 2I     (simpleNN's default loss)
 */
import * as tf from '@tensorflow/tfjs';

export const LOSSES = ['ce', 'mse'] as const;
export type LossKind = (typeof LOSSES)[number];

/** Σᵢ ξ(zᵢ, yᵢ) over the rows of z, a scalar. */
export function lossSum(kind: LossKind, z: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    if (kind === 'ce') return tf.sum(tf.sub(tf.logSumExp(z, 1), tf.sum(tf.mul(z, oneHot), 1)));
    return tf.sum(tf.square(tf.sub(z, oneHot)));
  });
}

/** ∂ξ/∂z for every row, in closed form: ce: softmax(z) − onehot; mse: 2 (z − onehot). */
export function lossGradient(kind: LossKind, z: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => (kind === 'ce' ? tf.sub(tf.softmax(z), oneHot) : tf.mul(tf.sub(z, oneHot), 2)));
}

/**
 * What B needs from z, computed once per Gauss-Newton subset and reused at every CG
 * step: p = softmax(z) for ce, nothing for mse.
 */
export function curvatureState(kind: LossKind, z: tf.Tensor2D): tf.Tensor2D | null {
  return kind === 'ce' ? tf.softmax(z) : null;
}

/** B w for every row: ce: p ⊙ w − p (pᵀw); mse: 2w. */
export function applyB(kind: LossKind, state: tf.Tensor2D | null, w: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    if (kind === 'mse') return tf.mul(w, 2);
    const p = state as tf.Tensor2D;
    return tf.sub(tf.mul(p, w), tf.mul(p, tf.sum(tf.mul(p, w), 1, true)));
  });
}
