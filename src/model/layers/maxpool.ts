/**
 * `maxpool`: 2x2 windows, stride 2, floor (rows and columns beyond the last window are
 * dropped); Keras `MaxPooling2D` with those settings.
 *
 * Linearization: values go through each window's argmax, the first maximum in row-major
 * window order (the rule of src/backend/maxpool.ts), in both sweeps. Two routes (the
 * linearization's `poolRoute`), the same numbers:
 * - `kernels` gathers with NewtonMaxPoolGather and scatters with MaxPoolGrad at every
 *   product (JS loops on wasm and cpu, TensorFlow's own pooling-gradient ops on tensorflow);
 * - `mask` builds at prepare time a 0/1 argmax mask times the act' of the layer before
 *   (which then needs none of its own), and gathers as 4 · avgPool(mask ⊙ dpre) and
 *   scatters as mask ⊙ (g repeated over its window), in plain ops (exact: one nonzero
 *   term per window).
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../errors.js';
import { MAX_POOL_GATHER } from '../../backend/kernels.js';
import { noParams, requireImage, runKernel, type LayerUnit, type LinearizedLayer } from './unit.js';

export interface MaxPoolSpec {
  type: 'maxpool';
}

export function maxpoolLayer(): MaxPoolSpec {
  return { type: 'maxpool' };
}

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

const POOL_ATTRS = { filterSize: 2, strides: 2, pad: 'valid', dimRoundingMode: undefined };

class LinearizedMaxPool implements LinearizedLayer {
  constructor(
    readonly varies: boolean,
    private readonly x: tf.Tensor4D,
    private readonly y: tf.Tensor4D,
    private readonly mask: Mask | null,
  ) {}

  keep(): tf.Tensor[] {
    if (!this.varies) return [];
    return this.mask ? [this.mask.m4, this.mask.m6] : [this.x, this.y];
  }

  jvp(dh: tf.Tensor | null): tf.Tensor | null {
    if (!dh) return null;
    return this.mask
      ? maskGather(this.mask, dh)
      : runKernel(MAX_POOL_GATHER, { w: dh, x: this.x }, POOL_ATTRS);
  }

  vjp(g: tf.Tensor): { params: tf.Tensor[]; input: tf.Tensor | null } {
    if (!this.varies) return { params: [], input: null };
    const input = this.mask
      ? maskScatter(this.mask, g)
      : runKernel('MaxPoolGrad', { dy: g, input: this.x, output: this.y }, POOL_ATTRS);
    return { params: [], input };
  }
}

export const maxpool: LayerUnit<MaxPoolSpec> = {
  type: 'maxpool',
  kerasClass: 'MaxPooling2D',
  hasActivation: false,
  gradientBySweep: false,

  layout(_l, input, where) {
    const [h, w, c] = requireImage(input, where);
    const shape = [Math.floor(h / 2), Math.floor(w / 2), c];
    if (shape[0] < 1 || shape[1] < 1)
      throw new UsageError(`${where}: the input is too small to pool`);
    return noParams(shape);
  },

  forward(_l, h) {
    return tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
  },

  linearize(_l, h, _params, ctx) {
    const x = h as tf.Tensor4D;
    const y = tf.maxPool(x, 2, 2, 'valid');
    let mask: Mask | null = null;
    // fold the act' of the layer before (whose output is this pooling's input) into the mask
    if (ctx.varies && ctx.poolRoute === 'mask')
      mask = argmaxMask(x, y, ctx.previous?.takeDerivative?.() ?? null);
    return { y, saved: new LinearizedMaxPool(ctx.varies, x, y, mask) };
  },

  fromKeras(k) {
    const c = k.config;
    const [ph, pw] = k.pair(c.pool_size ?? 2);
    const [sh, sw] = k.pair(c.strides ?? [ph, pw]);
    if (ph !== 2 || pw !== 2 || sh !== 2 || sw !== 2 || (c.padding ?? 'valid') !== 'valid') {
      k.fail('only 2x2 max pooling with stride 2 and valid padding is supported');
    }
    return { type: 'maxpool' };
  },

  toKeras(_l, first) {
    return tf.layers.maxPooling2d({ ...first, poolSize: 2, strides: 2, padding: 'valid' });
  },
};

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
  const padH = H - 2 * ho,
    padW = W - 2 * wo;
  const cropped: Shape4 = [n, 2 * ho, 2 * wo, c];
  const six = [n, ho, 2, wo, 2, c];
  const crop = (t: tf.Tensor) => (padH || padW ? tf.slice(t, [0, 0, 0, 0], cropped) : t);
  let m4: tf.Tensor4D;
  if (tf.getBackend() === 'wasm') {
    // the repo's kernel itself: a loop over the wasm heap, faster there than the slices below
    m4 = runKernel(
      'MaxPoolGrad',
      { dy: tf.onesLike(y), input: x, output: y },
      POOL_ATTRS,
    ) as tf.Tensor4D;
  } else {
    // the window element (r, q) of every window, [N·Ho·Wo, 1, C], by slices of rank ≤ 4
    const xr = tf.reshape(crop(x), [n * ho, 2, wo, 2 * c]);
    const yr = tf.reshape(y, [n * ho * wo, 1, c]);
    const row = (r: number) =>
      tf.reshape(tf.slice(xr, [0, r, 0, 0], [n * ho, 1, wo, 2 * c]), [n * ho * wo, 2, c]);
    const at = (xrow: tf.Tensor, q: number) =>
      tf.equal(tf.slice(xrow, [0, q, 0], [n * ho * wo, 1, c]), yr);
    const [row0, row1] = [row(0), row(1)];
    const [e00, e01, e10, e11] = [at(row0, 0), at(row0, 1), at(row1, 0), at(row1, 1)];
    const seen01 = tf.logicalOr(e00, e01);
    const first = [
      e00,
      tf.logicalAnd(e01, tf.logicalNot(e00)),
      tf.logicalAnd(e10, tf.logicalNot(seen01)),
      tf.logicalAnd(e11, tf.logicalNot(tf.logicalOr(seen01, e10))),
    ];
    // [N·Ho·Wo, 1, C] each → [N, Ho, 2, Wo, 2, C] → [N, 2Ho, 2Wo, C]
    const [m00, m01, m10, m11] = first.map((m) =>
      tf.reshape(tf.cast(m, 'float32'), [n, ho, 1, wo, 1, c]),
    );
    m4 = tf.reshape(tf.concat([tf.concat([m00, m01], 4), tf.concat([m10, m11], 4)], 2), cropped);
    if (padH || padW)
      m4 = tf.pad(m4, [
        [0, 0],
        [0, padH],
        [0, padW],
        [0, 0],
      ]);
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
  return m.padH || m.padW
    ? tf.pad(out, [
        [0, 0],
        [0, m.padH],
        [0, m.padW],
        [0, 0],
      ])
    : out;
}
