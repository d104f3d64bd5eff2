/**
 * The Gauss-Newton product from a linearization taken once per CG solve per chunk.
 *
 * θ and a chunk's samples are fixed through one CG solve; only v changes. A
 * `Linearization` runs the forward pass once and keeps, per layer, what the two sweeps
 * need; every product is then J v as a forward sweep (R-op) and Jᵀw as a backward sweep
 * over those tensors, with B in closed form between them (losses/). No tfjs autodiff, no
 * second forward pass, no reads back to JS.
 *
 * It owns (and `dispose` frees): clones of the chunk's input and of the layer kernels
 * (clones share storage with the caller's tensors, which the caller may dispose), each
 * parameter layer's input h, each activation's derivative act' as a tensor, what pooling
 * needs, and the output z. That is ≈ 4 KB per sample for an MLP 784-256-256-10 and
 * ≈ 210 KB for cnn4 (the double VJP keeps the inputs only: 3 KB).
 *
 * Each layer's part (what it keeps, its step of each sweep) is its unit's `linearize`
 * (src/model/layers/: dense, conv2d, maxpool with its two pooling routes, ...). dh, the
 * tangent of a layer's input, is zero up to the first layer with parameters: layers
 * before it are skipped by the forward sweep, and the backward sweep stops at it.
 * Results are sums over the chunk's rows, as `gaussNewtonProduct` (callers divide by |S|).
 */
import * as tf from '@tensorflow/tfjs';
import { applyB, type LossKind } from '../model/losses/index.js';
import type { LinearizedLayer, PoolRoute } from '../model/layers/index.js';
import type { Network } from '../model/network.js';

export { poolArgmaxMask, type PoolRoute } from '../model/layers/index.js';

/** One layer's linearized state and its parameter blocks' indices. */
interface Saved {
  layer: LinearizedLayer;
  first: number;
  count: number;
}

export class Linearization {
  /** the network's output z at the linearization point, [n, outputSize] */
  readonly z: tf.Tensor2D;
  readonly poolRoute: PoolRoute;
  private readonly saved: Saved[];
  private readonly owned: tf.Tensor[];
  private disposed = false;

  /**
   * Runs the forward pass of `net` at θ = params on x (the same ops as `Network.forward`)
   * and keeps what the sweeps need.
   */
  constructor(
    readonly net: Network,
    params: tf.Tensor[],
    x: tf.Tensor,
    poolRoute: PoolRoute = 'mask',
  ) {
    this.poolRoute = poolRoute;
    const saved: Saved[] = [];
    const { z, keep } = tf.tidy(() => {
      let h: tf.Tensor = tf.clone(x);
      let varies = false;
      for (const l of net.layers) {
        const ctx = { varies, previous: saved.at(-1)?.layer, poolRoute };
        const { y, saved: layer } = l.unit.linearize(
          l.spec,
          h,
          params.slice(l.first, l.first + l.count),
          ctx,
        );
        saved.push({ layer, first: l.first, count: l.count });
        h = y;
        if (l.count > 0) varies = true;
      }
      // what the sweeps read (asked after the whole pass: a layer may take over its predecessor's act'); the tidy frees everything else
      const keep = saved.flatMap((s) => s.layer.keep());
      return { z: h as tf.Tensor2D, keep };
    });
    this.z = z;
    this.owned = [...new Set([z, ...keep])];
    this.saved = saved;
  }

  private check(): void {
    if (this.disposed) throw new Error('Linearization: used after dispose');
  }

  /** J v, [n, outputSize], by a forward sweep; v holds one tensor per parameter block. */
  jvp(v: tf.Tensor[]): tf.Tensor2D {
    this.check();
    return tf.tidy(() => {
      let dh: tf.Tensor | null = null;
      for (const s of this.saved) dh = s.layer.jvp(dh, v.slice(s.first, s.first + s.count));
      return (dh ?? tf.zerosLike(this.z)) as tf.Tensor2D;
    });
  }

  /** Jᵀw, one tensor per parameter block, by a backward sweep; w is [n, outputSize]. */
  vjp(w: tf.Tensor2D): tf.Tensor[] {
    this.check();
    return tf.tidy(() => {
      const out: tf.Tensor[] = [];
      let g: tf.Tensor = w;
      for (let i = this.saved.length - 1; i >= 0; i--) {
        const s = this.saved[i];
        const r = s.layer.vjp(g);
        r.params.forEach((t, j) => (out[s.first + j] = t));
        if (!s.layer.varies || r.input === null) break; // no earlier layer has parameters
        g = r.input;
      }
      return out;
    });
  }

  /** Σᵢ JᵢᵀBᵢJᵢ v over the chunk's rows; `state` is curvatureState(kind, this.z). */
  gaussNewton(v: tf.Tensor[], kind: LossKind, state: tf.Tensor2D | null): tf.Tensor[] {
    this.check();
    return tf.tidy(() => this.vjp(applyB(kind, state, this.jvp(v))));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(this.owned);
  }
}
