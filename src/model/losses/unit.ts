/**
 * What one loss ξ(z, y) is, in one object (a `LossUnit`): its value, its gradient and its
 * B = ∂²ξ/∂z² in closed form, with the state B needs. The registry (index.ts) lists them.
 *
 * tfjs's own second derivatives of softmax/exp are wrong, so B is never obtained by
 * autodiff. The first derivative (for ∇f) is tfjs autodiff of `sum` (or `gradient` by the
 * backward sweep), checked against finite differences in the tests. Each function runs
 * inside the caller's tf.tidy (except `curvatureState`, whose result the caller keeps).
 */
import type * as tf from '@tensorflow/tfjs';

export interface LossUnit<N extends string = string> {
  /** the name of `--loss` and of the model metadata */
  readonly name: N;
  /** a few words for help texts */
  readonly summary: string;
  /**
   * the activation a tfjs model applies to the logits z for this loss (softmax for 'ce'):
   * a caller's tf.LayersModel whose last layer has it is trained on its logits, the
   * activation taken as the loss's
   */
  readonly outputActivation?: string;
  /** Σᵢ ξ(zᵢ, yᵢ) over the rows of z, a scalar; y one-hot (or 0/1 per output) */
  sum(z: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar;
  /** ∂ξ/∂z for every row, in closed form */
  gradient(z: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Tensor2D;
  /** what B needs from z, computed once per Gauss-Newton subset and kept through its CG solve */
  curvatureState(z: tf.Tensor2D): tf.Tensor2D | null;
  /** B w for every row, from that state */
  applyB(state: tf.Tensor2D | null, w: tf.Tensor2D): tf.Tensor2D;
}
