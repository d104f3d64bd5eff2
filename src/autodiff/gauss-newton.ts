/**
 * Jacobian products of a network's output z(x; θ) by reverse mode only.
 *
 * Jᵀw is one VJP. Jv uses the double-VJP identity: g(u) = Jᵀu is linear in the dummy
 * seed u, so the VJP of u ↦ ⟨g(u), v⟩ with respect to u is J v (at any u; we take 0).
 * The Gauss-Newton product is then Jᵀ(B(Jv)) with B in closed form (src/model/losses/).
 * All results are sums over the rows of x; callers scale by 1/|S|.
 */
import * as tf from '@tensorflow/tfjs';
import { applyB, lossSum, type LossKind } from '../model/losses/index.js';
import type { Network } from '../model/network.js';

/** Jᵀw, one tensor per parameter block. */
export function vjp(net: Network, params: tf.Tensor[], x: tf.Tensor, w: tf.Tensor2D): tf.Tensor[] {
  return tf.grads((...ps: tf.Tensor[]) => net.forward(ps, x))(params, w);
}

/** J v, shape [n, outputSize], by differentiating the VJP with respect to its seed. */
export function jvp(net: Network, params: tf.Tensor[], x: tf.Tensor, v: tf.Tensor[]): tf.Tensor2D {
  return tf.tidy(() => {
    const u0 = tf.zeros([x.shape[0], net.outputSize]);
    const inner = (u: tf.Tensor) => {
      const g = vjp(net, params, x, u as tf.Tensor2D);
      return tf.addN(g.map((gk, k) => tf.sum(tf.mul(gk, v[k])))) as tf.Scalar;
    };
    return tf.grad(inner)(u0) as tf.Tensor2D;
  });
}

/** Σᵢ Jᵢᵀ Bᵢ Jᵢ v over the rows of x; `state` is curvatureState(kind, z(x)). */
export function gaussNewtonProduct(
  net: Network,
  params: tf.Tensor[],
  x: tf.Tensor,
  v: tf.Tensor[],
  kind: LossKind,
  state: tf.Tensor2D | null,
): tf.Tensor[] {
  return tf.tidy(() => vjp(net, params, x, applyB(kind, state, jvp(net, params, x, v))));
}

/** Σᵢ ξᵢ and its gradient with respect to every parameter block. */
export function lossAndGradient(
  net: Network,
  params: tf.Tensor[],
  x: tf.Tensor,
  oneHot: tf.Tensor2D,
  kind: LossKind,
): { loss: tf.Scalar; grads: tf.Tensor[] } {
  const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) =>
    lossSum(kind, net.forward(ps, x), oneHot),
  )(params);
  return { loss: value as tf.Scalar, grads };
}
