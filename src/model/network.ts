/**
 * The forward pass of a model spec in tfjs ops, over parameters given as tensors.
 * Everything here is differentiable twice with the kernels of src/backend/kernels.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { layoutOf, type Activation, type ModelLayout, type ModelSpec } from './spec.js';

export class Network {
  readonly layout: ModelLayout;

  constructor(readonly spec: ModelSpec) {
    this.layout = layoutOf(spec);
  }

  get numParams(): number {
    return this.layout.numParams;
  }

  get outputSize(): number {
    return this.layout.outputSize;
  }

  /** Tensors of each parameter block, copied from the flat vector θ. */
  unflatten(theta: Float32Array | Float64Array): tf.Tensor[] {
    if (theta.length !== this.numParams) {
      throw new Error(`parameter vector has ${theta.length} entries, the model needs ${this.numParams}`);
    }
    const f32 = theta instanceof Float32Array ? theta : Float32Array.from(theta);
    return this.layout.params.map((p) => tf.tensor(f32.subarray(p.offset, p.offset + p.size), p.shape, 'float32'));
  }

  /** z = last-layer output (pre-softmax), shape [n, outputSize]; x is [n, ...inputShape]. */
  forward(params: tf.Tensor[], x: tf.Tensor): tf.Tensor2D {
    let h = x;
    let k = 0;
    for (const l of this.spec.layers) {
      switch (l.type) {
        case 'dense':
          h = activate(tf.add(tf.matMul(h as tf.Tensor2D, params[k] as tf.Tensor2D), params[k + 1]), l.activation);
          k += 2;
          break;
        case 'conv2d':
          h = activate(tf.add(tf.conv2d(h as tf.Tensor4D, params[k] as tf.Tensor4D, 1, l.padding), params[k + 1]), l.activation);
          k += 2;
          break;
        case 'maxpool':
          h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
          break;
        case 'flatten':
          h = tf.reshape(h, [h.shape[0], -1]);
          break;
      }
    }
    return h as tf.Tensor2D;
  }
}

/** An activation applied to a tensor (the forward pass's, also used by the linearization). */
export function activate(x: tf.Tensor, a: Activation): tf.Tensor {
  switch (a) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'linear':
      return x;
  }
}
