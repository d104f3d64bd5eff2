/**
 * `avgpool`: the mean of each p×p window, stride s (absent: p), `valid` (rows and columns
 * beyond the last window are dropped): ⌊(H − p)/s⌋ + 1 high and as wide; Keras
 * `AveragePooling2D` with valid padding and channels last.
 *
 * It is linear, so its linearization keeps nothing but the input (for its shape) and both
 * sweeps are the layer itself and its adjoint: dh_out = avgPool(dh), dh = AvgPoolGrad(g).
 * The double VJP differentiates AvgPoolGrad, which tfjs does not: its gradient (with
 * respect to dy: avgPool again; its input only gives a shape) is registered here.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../errors.js';
import {
  noParams,
  positiveInt,
  requireImage,
  runKernel,
  type LayerUnit,
  type LinearizedLayer,
} from './unit.js';

export interface AvgPoolSpec {
  type: 'avgpool';
  poolSize: number;
  /** absent: poolSize (non-overlapping windows, Keras's default) */
  strides?: number;
}

export function avgpoolLayer(poolSize = 2, strides = poolSize): AvgPoolSpec {
  return { type: 'avgpool', poolSize, ...(strides !== poolSize ? { strides } : {}) };
}

const pool = (l: AvgPoolSpec, x: tf.Tensor) =>
  tf.avgPool(x as tf.Tensor4D, l.poolSize, l.strides ?? l.poolSize, 'valid');

class LinearizedAvgPool implements LinearizedLayer {
  constructor(
    readonly varies: boolean,
    private readonly l: AvgPoolSpec,
    private readonly x: tf.Tensor,
  ) {}

  keep(): tf.Tensor[] {
    return this.varies ? [this.x] : [];
  }

  jvp(dh: tf.Tensor | null): tf.Tensor | null {
    return dh ? pool(this.l, dh) : null;
  }

  vjp(g: tf.Tensor): { params: tf.Tensor[]; input: tf.Tensor | null } {
    if (!this.varies) return { params: [], input: null };
    const attrs = {
      filterSize: this.l.poolSize,
      strides: this.l.strides ?? this.l.poolSize,
      pad: 'valid',
      dimRoundingMode: undefined,
    };
    return { params: [], input: runKernel('AvgPoolGrad', { dy: g, input: this.x }, attrs) };
  }
}

export const avgpool: LayerUnit<AvgPoolSpec> = {
  type: 'avgpool',
  kerasClass: 'AveragePooling2D',
  hasActivation: false,
  gradientBySweep: false,

  layout(l, input, where) {
    const [h, w, c] = requireImage(input, where);
    positiveInt(l.poolSize, `${where} pool size`);
    const s = l.strides ?? l.poolSize;
    positiveInt(s, `${where} strides`);
    const out = (n: number) => Math.floor((n - l.poolSize) / s) + 1;
    if (out(h) < 1 || out(w) < 1)
      throw new UsageError(
        `${where}: a ${l.poolSize}x${l.poolSize} pooling does not fit a ${h}x${w} input`,
      );
    return noParams([out(h), out(w), c]);
  },

  forward(l, h) {
    return pool(l, h);
  },

  linearize(l, h, _params, ctx) {
    return { y: pool(l, h), saved: new LinearizedAvgPool(ctx.varies, l, h) };
  },

  fromKeras(k) {
    const c = k.config;
    const [ph, pw] = k.pair(c.pool_size ?? 2);
    const [sh, sw] = k.pair(c.strides ?? [ph, pw]);
    if (ph !== pw) k.fail(`pool size ${ph}x${pw} is not square`);
    if (sh !== sw) k.fail(`strides ${sh}x${sw} are not supported (equal strides only)`);
    if ((c.padding ?? 'valid') !== 'valid')
      k.fail(`padding '${c.padding}' is not supported (valid only)`);
    if ((c.data_format ?? 'channels_last') !== 'channels_last')
      k.fail('data_format must be channels_last');
    return avgpoolLayer(ph, sh);
  },

  toKeras(l, first) {
    return tf.layers.averagePooling2d({
      ...first,
      poolSize: l.poolSize,
      strides: l.strides ?? l.poolSize,
      padding: 'valid',
    });
  },

  registerGradients() {
    tf.registerGradient({
      kernelName: 'AvgPoolGrad',
      inputsToSave: ['input'],
      gradFunc: (ddx, saved, attrs) => {
        const [input] = saved;
        const a = attrs as unknown as {
          filterSize: number | [number, number];
          strides: number | [number, number];
          pad: 'valid' | 'same' | number;
        };
        return {
          dy: () => tf.avgPool(ddx as tf.Tensor4D, a.filterSize, a.strides, a.pad),
          input: () => tf.zerosLike(input),
        };
      },
    });
  },
};
