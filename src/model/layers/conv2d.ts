/**
 * `conv2d`: h ↦ act(conv(h, W) + b) on an [H, W, C] input; W is [k, k, C, filters] (tfjs
 * layout), k odd, padding `same` or `valid`, `strides` s (absent: 1) in both directions;
 * Keras `Conv2D`. The output is ⌈H/s⌉ (same, TensorFlow's padding: the odd pixel at the
 * bottom/right) or ⌊(H − k)/s⌋ + 1 (valid) high, and as wide.
 *
 * Linearization, with dh the tangent of the input and g the cotangent of the output:
 *   dpre = conv(dh, W) + conv(h, dW) + db,  dh_out = dpre ⊙ act';
 *   gp = g ⊙ act',  dW = Conv2DBackpropFilter(h, gp),  db = Σ_{N,H,W} gp,
 *   dh = conv2dTranspose(gp, W)
 * (act' may be handed to a following max pooling, which folds it into its mask).
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../errors.js';
import { activate, derivative, type Activation } from './activation.js';
import {
  positiveInt,
  requireImage,
  runKernel,
  type LayerUnit,
  type LinearizedLayer,
} from './unit.js';

export interface Conv2DSpec {
  type: 'conv2d';
  filters: number;
  kernelSize: number;
  padding: 'same' | 'valid';
  activation: Activation;
  /** the stride in both directions; absent means 1 (and is left out of specs for stride 1) */
  strides?: number;
}

export function conv2dLayer(
  filters: number,
  kernelSize: number,
  padding: 'same' | 'valid',
  activation: Activation,
  strides = 1,
): Conv2DSpec {
  return {
    type: 'conv2d',
    filters,
    kernelSize,
    padding,
    activation,
    ...(strides !== 1 ? { strides } : {}),
  };
}

class LinearizedConv2D implements LinearizedLayer {
  constructor(
    readonly varies: boolean,
    private readonly h: tf.Tensor4D,
    private readonly w: tf.Tensor4D,
    private d: tf.Tensor | null,
    private readonly pad: 'same' | 'valid',
    private readonly strides: number,
  ) {}

  keep(): tf.Tensor[] {
    return [this.h, this.w, ...(this.d ? [this.d] : [])];
  }

  jvp(dh: tf.Tensor | null, v: tf.Tensor[]): tf.Tensor {
    let dpre: tf.Tensor = tf.fused.conv2d({
      x: this.h,
      filter: v[0] as tf.Tensor4D,
      strides: this.strides,
      pad: this.pad,
      bias: v[1],
    });
    if (dh) dpre = tf.add(tf.conv2d(dh as tf.Tensor4D, this.w, this.strides, this.pad), dpre);
    return this.d ? tf.mul(dpre, this.d) : dpre;
  }

  vjp(g: tf.Tensor): { params: tf.Tensor[]; input: tf.Tensor | null } {
    const gp = (this.d ? tf.mul(g, this.d) : g) as tf.Tensor4D;
    const dw = runKernel(
      'Conv2DBackpropFilter',
      { x: this.h, dy: gp },
      {
        strides: this.strides,
        pad: this.pad,
        dataFormat: 'NHWC',
        dimRoundingMode: undefined,
        filterShape: this.w.shape,
      },
    );
    const params = [dw, tf.sum(gp, [0, 1, 2])];
    return {
      params,
      input: this.varies
        ? tf.conv2dTranspose(gp, this.w, this.h.shape, this.strides, this.pad)
        : null,
    };
  }

  takeDerivative(): tf.Tensor | null {
    const d = this.d;
    this.d = null;
    return d;
  }
}

export const conv2d: LayerUnit<Conv2DSpec> = {
  type: 'conv2d',
  kerasClass: 'Conv2D',
  hasActivation: true,
  gradientBySweep: false,

  layout(l, input, where) {
    const [h, w, c] = requireImage(input, where);
    positiveInt(l.filters, `${where} filters`);
    if (!Number.isInteger(l.kernelSize) || l.kernelSize < 1 || l.kernelSize % 2 === 0) {
      throw new UsageError(
        `${where} kernel size must be an odd positive integer, got ${l.kernelSize}`,
      );
    }
    const s = l.strides ?? 1;
    positiveInt(s, `${where} strides`);
    const k = l.kernelSize;
    const fanIn = k * k * c;
    const out = (n: number) =>
      l.padding === 'same' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1;
    const shape = [out(h), out(w), l.filters];
    if (shape[0] < 1 || shape[1] < 1)
      throw new UsageError(
        `${where}: a ${k}x${k} valid convolution does not fit a ${h}x${w} input`,
      );
    return {
      shape,
      params: [
        { role: 'kernel', shape: [k, k, c, l.filters] },
        { role: 'bias', shape: [l.filters] },
      ],
      fanIn,
    };
  },

  forward(l, h, [w, b]) {
    return activate(
      tf.add(tf.conv2d(h as tf.Tensor4D, w as tf.Tensor4D, l.strides ?? 1, l.padding), b),
      l.activation,
    );
  },

  linearize(l, h, params, ctx) {
    const s = l.strides ?? 1;
    const w = tf.clone(params[0]) as tf.Tensor4D;
    const y = activate(
      tf.add(tf.conv2d(h as tf.Tensor4D, w, s, l.padding), params[1]),
      l.activation,
    );
    return {
      y,
      saved: new LinearizedConv2D(
        ctx.varies,
        h as tf.Tensor4D,
        w,
        derivative(y, l.activation),
        l.padding,
        s,
      ),
    };
  },

  fromKeras(k) {
    const activation = k.activation();
    k.requireBias();
    const c = k.config;
    const [kh, kw] = k.pair(c.kernel_size);
    const [sh, sw] = k.pair(c.strides ?? 1);
    const [dh, dw] = k.pair(c.dilation_rate ?? 1);
    if (kh !== kw) k.fail(`kernel ${kh}x${kw} is not square`);
    if (sh !== sw) k.fail(`strides ${sh}x${sw} are not supported (equal strides only)`);
    if (dh !== 1 || dw !== 1) k.fail('dilation is not supported');
    if ((c.data_format ?? 'channels_last') !== 'channels_last')
      k.fail('data_format must be channels_last');
    const padding = c.padding as string;
    if (padding !== 'same' && padding !== 'valid') k.fail(`padding '${padding}' is not supported`);
    return conv2dLayer(c.filters as number, kh, padding as 'same' | 'valid', activation, sh);
  },

  toKeras(l, first) {
    const strides = l.strides !== undefined ? { strides: l.strides } : {};
    return tf.layers.conv2d({
      ...first,
      filters: l.filters,
      kernelSize: l.kernelSize,
      padding: l.padding,
      activation: l.activation,
      ...strides,
    });
  },
};
