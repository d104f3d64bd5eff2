/** `flatten`: [H, W, C] (or any shape) ↦ [H·W·C] per sample, row-major; Keras `Flatten`. */
import * as tf from '@tensorflow/tfjs';
import { noParams, type LayerUnit, type LinearizedLayer } from './unit.js';

export interface FlattenSpec {
  type: 'flatten';
}

export function flattenLayer(): FlattenSpec {
  return { type: 'flatten' };
}

const flat = (t: tf.Tensor) => tf.reshape(t, [t.shape[0], -1]);

class LinearizedFlatten implements LinearizedLayer {
  constructor(
    readonly varies: boolean,
    private readonly shape: number[],
  ) {}

  keep(): tf.Tensor[] {
    return [];
  }

  jvp(dh: tf.Tensor | null): tf.Tensor | null {
    return dh ? flat(dh) : null;
  }

  vjp(g: tf.Tensor): { params: tf.Tensor[]; input: tf.Tensor | null } {
    return { params: [], input: this.varies ? tf.reshape(g, this.shape) : null };
  }
}

export const flatten: LayerUnit<FlattenSpec> = {
  type: 'flatten',
  kerasClass: 'Flatten',
  hasActivation: false,
  gradientBySweep: true,

  layout(_l, input) {
    return noParams([input.reduce((a, b) => a * b, 1)]);
  },

  forward(_l, h) {
    return flat(h);
  },

  linearize(_l, h, _params, ctx) {
    return { y: flat(h), saved: new LinearizedFlatten(ctx.varies, h.shape) };
  },

  fromKeras() {
    return { type: 'flatten' };
  },

  toKeras(_l, first) {
    return tf.layers.flatten(first);
  },
};
