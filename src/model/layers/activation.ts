/**
 * The activations a dense or conv2d layer may end with, as the forward pass applies them
 * and as the linearization differentiates them (from the activation's output y).
 */
import * as tf from '@tensorflow/tfjs';

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'linear'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

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

/** act'(pre) from the activation's output y (the rules of tfjs's own gradients); null for linear. */
export function derivative(y: tf.Tensor, a: Activation): tf.Tensor | null {
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
