/**
 * The Gauss-Newton product from a linearization taken once per CG solve per chunk.
 *
 * θ and a chunk's samples are fixed through one CG solve; only v changes. A
 * `Linearization` runs the forward pass once and keeps, per layer, what the two sweeps
 * need; every product is then J v as a forward sweep (R-op) and Jᵀw as a backward sweep
 * over those tensors, with B in closed form between them (loss.ts). No tfjs autodiff, no
 * second forward pass, no reads back to JS.
 *
 * It owns (and `dispose` frees): clones of the chunk's input and of the layer kernels
 * (clones share storage with the caller's tensors, which the caller may dispose), each
 * parameter layer's input h, each activation's derivative act' as a tensor, what pooling
 * needs, and the output z. That is ≈ 4 KB per sample for an MLP 784-256-256-10 and
 * ≈ 210 KB for cnn4 (the double VJP keeps the inputs only: 3 KB).
 *
 * Per layer, with dh the tangent of the layer's input (zero up to the first layer with
 * parameters: layers before it are skipped) and g the cotangent of its output:
 * - dense:   dpre = dh·W + h·dW + db;  gp = g ⊙ act';  dW = hᵀgp, db = Σ_rows gp, dh = gp Wᵀ
 * - conv2d:  dpre = conv(dh, W) + conv(h, dW) + db;  dW = Conv2DBackpropFilter(h, gp),
 *            db = Σ_{N,H,W} gp, dh = conv2dTranspose(gp, W)
 *   then, in the forward sweep, dh_out = dpre ⊙ act' with act' from the activation's output
 *   y (relu: 1[y > 0] = sign(y); tanh: 1 − y²; sigmoid: y(1 − y); linear: nothing).
 * - maxpool (2x2, stride 2, floor): values go through each window's argmax, the first
 *   maximum in row-major window order (the rule of src/backend/maxpool.ts), in both
 *   sweeps. Two routes, the same numbers:
 *   `kernels` gathers with NewtonMaxPoolGather and scatters with MaxPoolGrad at every
 *     product (JS loops on wasm and cpu, TensorFlow's own pooling-gradient ops on tensorflow);
 *   `mask` builds at prepare time a 0/1 argmax mask times the act' of the layer before
 *     (which then needs none of its own), and gathers as 4 · avgPool(mask ⊙ dpre) and
 *     scatters as mask ⊙ (g repeated over its window), in plain ops (exact: one nonzero
 *     term per window).
 * - flatten: reshape.
 * Results are sums over the chunk's rows, as `gaussNewtonProduct` (callers divide by |S|).
 */
import * as tf from '@tensorflow/tfjs';
import { MAX_POOL_GATHER } from '../backend/kernels.js';
import { applyB, type LossKind } from '../model/loss.js';
import { activate, type Network } from '../model/network.js';
import type { Activation } from '../model/spec.js';

/**
 * How max pooling routes values through the argmax (see the module comment). `mask`, the
 * default, made products faster (cnn4, batch 256, one thread: tensorflow 100 vs 190 ms,
 * wasm 520 vs 620 ms) for a dearer preparation (70 vs 40 ms, resp. 230 vs 150 ms).
 */
export type PoolRoute = 'kernels' | 'mask';

type Shape4 = [number, number, number, number];

/** The argmax mask of one pooling (see argmaxMask), times the act' before it if any. */
interface Mask {
  /** x's shape [N, H, W, C], zero outside the pooled windows */
  m4: tf.Tensor4D;
  /** the pooled windows' part as [N, Ho, 2, Wo, 2, C] (m4 reshaped when H, W are even) */
  m6: tf.Tensor;
  /** [N, 2Ho, 2Wo, C] */
  cropped: Shape4;
  /** rows and columns of x beyond the last window (0 or 1) */
  padH: number;
  padW: number;
}

/** One layer's saved state; `varies`: an earlier layer has parameters (so dh ≠ 0). */
type Saved =
  | { type: 'dense'; k: number; h: tf.Tensor2D; w: tf.Tensor2D; d: tf.Tensor | null; varies: boolean }
  | { type: 'conv2d'; k: number; h: tf.Tensor4D; w: tf.Tensor4D; d: tf.Tensor | null; pad: 'same' | 'valid'; varies: boolean }
  | { type: 'maxpool'; x: tf.Tensor4D; y: tf.Tensor4D; mask: Mask | null; varies: boolean }
  | { type: 'flatten'; shape: number[]; varies: boolean };

const POOL_ATTRS = { filterSize: 2, strides: 2, pad: 'valid', dimRoundingMode: undefined };

function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: object): tf.Tensor {
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** act'(pre) from the activation's output y (the rules of tfjs's own gradients). */
function derivative(y: tf.Tensor, a: Activation): tf.Tensor | null {
  switch (a) {
    case 'relu':
      return tf.sign(y); // y ≥ 0: 1[y > 0] without a bool tensor (casts from bool are slow on tensorflow)
    case 'tanh':
      return tf.sub(1, tf.square(y));
    case 'sigmoid':
      return tf.mul(y, tf.sub(1, y));
    case 'linear':
      return null;
  }
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
      let k = 0;
      let varies = false;
      for (const l of net.spec.layers) {
        switch (l.type) {
          case 'dense': {
            const w = tf.clone(params[k]) as tf.Tensor2D;
            const y = activate(tf.add(tf.matMul(h as tf.Tensor2D, w), params[k + 1]), l.activation);
            saved.push({ type: 'dense', k, h: h as tf.Tensor2D, w, d: derivative(y, l.activation), varies });
            h = y;
            k += 2;
            varies = true;
            break;
          }
          case 'conv2d': {
            const w = tf.clone(params[k]) as tf.Tensor4D;
            const y = activate(tf.add(tf.conv2d(h as tf.Tensor4D, w, 1, l.padding), params[k + 1]), l.activation);
            saved.push({ type: 'conv2d', k, h: h as tf.Tensor4D, w, d: derivative(y, l.activation), pad: l.padding, varies });
            h = y;
            k += 2;
            varies = true;
            break;
          }
          case 'maxpool': {
            const x4 = h as tf.Tensor4D;
            const y = tf.maxPool(x4, 2, 2, 'valid');
            let mask: Mask | null = null;
            if (varies && poolRoute === 'mask') {
              // fold the act' of the layer before (whose output is this pooling's input) into the mask
              const prev = saved[saved.length - 1];
              if (prev.type === 'conv2d' && prev.d !== null) {
                mask = argmaxMask(x4, y, prev.d);
                prev.d = null;
              } else mask = argmaxMask(x4, y, null);
            }
            saved.push({ type: 'maxpool', x: x4, y, mask, varies });
            h = y;
            break;
          }
          case 'flatten':
            saved.push({ type: 'flatten', shape: h.shape, varies });
            h = tf.reshape(h, [h.shape[0], -1]);
            break;
        }
      }
      // what the sweeps read; the tidy frees everything else
      const keep: tf.Tensor[] = [];
      for (const s of saved) {
        if (s.type === 'dense' || s.type === 'conv2d') keep.push(s.h, s.w, ...(s.d ? [s.d] : []));
        else if (s.type === 'maxpool' && s.varies) keep.push(...(s.mask ? [s.mask.m4, s.mask.m6] : [s.x, s.y]));
      }
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
      for (const s of this.saved) {
        switch (s.type) {
          case 'dense': {
            let dpre: tf.Tensor = tf.fused.matMul({ a: s.h, b: v[s.k] as tf.Tensor2D, bias: v[s.k + 1] });
            if (dh) dpre = tf.add(tf.matMul(dh as tf.Tensor2D, s.w), dpre);
            dh = s.d ? tf.mul(dpre, s.d) : dpre;
            break;
          }
          case 'conv2d': {
            let dpre: tf.Tensor = tf.fused.conv2d({ x: s.h, filter: v[s.k] as tf.Tensor4D, strides: 1, pad: s.pad, bias: v[s.k + 1] });
            if (dh) dpre = tf.add(tf.conv2d(dh as tf.Tensor4D, s.w, 1, s.pad), dpre);
            dh = s.d ? tf.mul(dpre, s.d) : dpre;
            break;
          }
          case 'maxpool':
            if (dh) dh = s.mask ? maskGather(s.mask, dh) : runKernel(MAX_POOL_GATHER, { w: dh, x: s.x }, POOL_ATTRS);
            break;
          case 'flatten':
            if (dh) dh = tf.reshape(dh, [dh.shape[0], -1]);
            break;
        }
      }
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
        switch (s.type) {
          case 'dense': {
            const gp = (s.d ? tf.mul(g, s.d) : g) as tf.Tensor2D;
            out[s.k] = tf.matMul(s.h, gp, true, false);
            out[s.k + 1] = tf.sum(gp, 0);
            if (s.varies) g = tf.matMul(gp, s.w, false, true);
            break;
          }
          case 'conv2d': {
            const gp = (s.d ? tf.mul(g, s.d) : g) as tf.Tensor4D;
            out[s.k] = runKernel('Conv2DBackpropFilter', { x: s.h, dy: gp }, {
              strides: 1,
              pad: s.pad,
              dataFormat: 'NHWC',
              dimRoundingMode: undefined,
              filterShape: s.w.shape,
            });
            out[s.k + 1] = tf.sum(gp, [0, 1, 2]);
            if (s.varies) g = tf.conv2dTranspose(gp, s.w, s.h.shape, 1, s.pad);
            break;
          }
          case 'maxpool':
            if (s.varies) g = s.mask ? maskScatter(s.mask, g) : runKernel('MaxPoolGrad', { dy: g, input: s.x, output: s.y }, POOL_ATTRS);
            break;
          case 'flatten':
            if (s.varies) g = tf.reshape(g, s.shape);
            break;
        }
        if (!s.varies) break; // no earlier layer has parameters
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

/**
 * The 0/1 mask of each window's argmax, x's shape, times `scale` (x's shape) if given: 1 at
 * the first element of the window (row-major window order) equal to the window's maximum
 * y, the rule of the repo's MaxPoolGrad (src/backend/maxpool.ts). On wasm it is that
 * kernel's scatter of ones; elsewhere plain ops (the tests check that they agree, ties
 * included), as the kernel runs in JS there and touching its fresh output arrays alone cost
 * more than a product on tensorflow. Slices of rank ≤ 4 only: 6-D slices (wasm), strided
 * slices and cumsum (tensorflow) were slower than the whole product.
 */
function argmaxMask(x: tf.Tensor4D, y: tf.Tensor4D, scale: tf.Tensor | null): Mask {
  const [n, H, W, c] = x.shape;
  const [, ho, wo] = y.shape;
  const padH = H - 2 * ho, padW = W - 2 * wo;
  const cropped: Shape4 = [n, 2 * ho, 2 * wo, c];
  const six = [n, ho, 2, wo, 2, c];
  const crop = (t: tf.Tensor) => (padH || padW ? tf.slice(t, [0, 0, 0, 0], cropped) : t);
  let m4: tf.Tensor4D;
  if (tf.getBackend() === 'wasm') {
    // the repo's kernel itself: a loop over the wasm heap, faster there than the slices below
    m4 = runKernel('MaxPoolGrad', { dy: tf.onesLike(y), input: x, output: y }, POOL_ATTRS) as tf.Tensor4D;
  } else {
    // the window element (r, q) of every window, [N·Ho·Wo, 1, C], by slices of rank ≤ 4
    const xr = tf.reshape(crop(x), [n * ho, 2, wo, 2 * c]);
    const yr = tf.reshape(y, [n * ho * wo, 1, c]);
    const row = (r: number) => tf.reshape(tf.slice(xr, [0, r, 0, 0], [n * ho, 1, wo, 2 * c]), [n * ho * wo, 2, c]);
    const at = (xrow: tf.Tensor, q: number) => tf.equal(tf.slice(xrow, [0, q, 0], [n * ho * wo, 1, c]), yr);
    const [row0, row1] = [row(0), row(1)];
    const [e00, e01, e10, e11] = [at(row0, 0), at(row0, 1), at(row1, 0), at(row1, 1)];
    const seen01 = tf.logicalOr(e00, e01);
    const first = [e00, tf.logicalAnd(e01, tf.logicalNot(e00)), tf.logicalAnd(e10, tf.logicalNot(seen01)), tf.logicalAnd(e11, tf.logicalNot(tf.logicalOr(seen01, e10)))];
    // [N·Ho·Wo, 1, C] each → [N, Ho, 2, Wo, 2, C] → [N, 2Ho, 2Wo, C]
    const [m00, m01, m10, m11] = first.map((m) => tf.reshape(tf.cast(m, 'float32'), [n, ho, 1, wo, 1, c]));
    m4 = tf.reshape(tf.concat([tf.concat([m00, m01], 4), tf.concat([m10, m11], 4)], 2), cropped);
    if (padH || padW) m4 = tf.pad(m4, [[0, 0], [0, padH], [0, padW], [0, 0]]);
  }
  if (scale) m4 = tf.mul(m4, scale);
  return { m4, m6: tf.reshape(crop(m4), six), cropped, padH, padW };
}

/** The argmax mask of maxPool(x) (2x2, stride 2, floor), x's shape; exported for tests. */
export function poolArgmaxMask(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => argmaxMask(x, tf.maxPool(x, 2, 2, 'valid'), null).m4);
}

/** dh at each window's argmax, [N, Ho, Wo, C]: 4 · the window mean of mask ⊙ dh (exact). */
function maskGather(m: Mask, dh: tf.Tensor): tf.Tensor {
  return tf.mul(tf.avgPool(tf.mul(m.m4, dh) as tf.Tensor4D, 2, 2, 'valid'), 4);
}

/** g put at each window's argmax, zero elsewhere: the adjoint of maskGather. */
function maskScatter(m: Mask, g: tf.Tensor): tf.Tensor {
  const [n, ho, , wo, , c] = m.m6.shape;
  const out = tf.reshape(tf.mul(m.m6, tf.reshape(g, [n, ho, 1, wo, 1, c])), m.cropped);
  return m.padH || m.padW ? tf.pad(out, [[0, 0], [0, m.padH], [0, m.padW], [0, 0]]) : out;
}
