/**
 * `dense`: h ↦ act(h W + b) on a flat input; W is [in, out] (tfjs layout), Keras `Dense`.
 *
 * Linearization, with dh the tangent of the input and g the cotangent of the output:
 *   dpre = dh·W + h·dW + db,  dh_out = dpre ⊙ act';
 *   gp = g ⊙ act',  dW = hᵀgp,  db = Σ_rows gp,  dh = gp Wᵀ.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../errors.js';
import { activate, derivative, type Activation } from './activation.js';
import { positiveInt, type LayerUnit, type LinearizedLayer } from './unit.js';

export interface DenseSpec {
  type: 'dense';
  units: number;
  activation: Activation;
}

export function denseLayer(units: number, activation: Activation): DenseSpec {
  return { type: 'dense', units, activation };
}

class LinearizedDense implements LinearizedLayer {
  constructor(
    readonly varies: boolean,
    private readonly h: tf.Tensor2D,
    private readonly w: tf.Tensor2D,
    private d: tf.Tensor | null,
  ) {}

  keep(): tf.Tensor[] {
    return [this.h, this.w, ...(this.d ? [this.d] : [])];
  }

  jvp(dh: tf.Tensor | null, v: tf.Tensor[]): tf.Tensor {
    let dpre: tf.Tensor = tf.fused.matMul({ a: this.h, b: v[0] as tf.Tensor2D, bias: v[1] });
    if (dh) dpre = tf.add(tf.matMul(dh as tf.Tensor2D, this.w), dpre);
    return this.d ? tf.mul(dpre, this.d) : dpre;
  }

  vjp(g: tf.Tensor): { params: tf.Tensor[]; input: tf.Tensor | null } {
    const gp = (this.d ? tf.mul(g, this.d) : g) as tf.Tensor2D;
    const params = [tf.matMul(this.h, gp, true, false), tf.sum(gp, 0)];
    return { params, input: this.varies ? tf.matMul(gp, this.w, false, true) : null };
  }

  takeDerivative(): tf.Tensor | null {
    const d = this.d;
    this.d = null;
    return d;
  }
}

export const dense: LayerUnit<DenseSpec> = {
  type: 'dense',
  kerasClass: 'Dense',
  hasActivation: true,
  gradientBySweep: true,

  layout(l, input, where) {
    if (input.length !== 1)
      throw new UsageError(
        `${where} needs a flat input, got [${input}]: add a flatten layer before it`,
      );
    positiveInt(l.units, `${where} units`);
    return {
      shape: [l.units],
      params: [
        { role: 'kernel', shape: [input[0], l.units] },
        { role: 'bias', shape: [l.units] },
      ],
      fanIn: input[0],
    };
  },

  forward(l, h, [w, b]) {
    return activate(tf.add(tf.matMul(h as tf.Tensor2D, w as tf.Tensor2D), b), l.activation);
  },

  linearize(l, h, params, ctx) {
    const w = tf.clone(params[0]) as tf.Tensor2D;
    const y = activate(tf.add(tf.matMul(h as tf.Tensor2D, w), params[1]), l.activation);
    return {
      y,
      saved: new LinearizedDense(ctx.varies, h as tf.Tensor2D, w, derivative(y, l.activation)),
    };
  },

  fromKeras(k) {
    const activation = k.activation();
    k.requireBias();
    return { type: 'dense', units: k.config.units as number, activation };
  },

  toKeras(l, first) {
    return tf.layers.dense({ ...first, units: l.units, activation: l.activation });
  },
};
