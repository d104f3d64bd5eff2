/**
 * Small models for the Gauss-Newton tests (gauss-newton.test.ts, linearized.test.ts):
 * every layer type, both paddings, strided convolutions, odd and even pooling, all activations.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../../src/model/spec.ts';

export const MODELS: Record<string, ModelSpec> = {
  'mlp relu/tanh': {
    inputShape: [6],
    layers: [
      { type: 'dense', units: 5, activation: 'relu' },
      { type: 'dense', units: 4, activation: 'tanh' },
      { type: 'dense', units: 3, activation: 'linear' },
    ],
  },
  'cnn same+valid, odd pool, sigmoid': {
    inputShape: [7, 7, 2],
    layers: [
      { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'maxpool' }, // 7 -> 3 (floor)
      { type: 'conv2d', filters: 2, kernelSize: 3, padding: 'valid', activation: 'sigmoid' }, // 3 -> 1
      { type: 'flatten' },
      { type: 'dense', units: 3, activation: 'linear' },
    ],
  },
  'cnn 5x5 same, two pools, tanh': {
    inputShape: [8, 8, 1],
    layers: [
      { type: 'conv2d', filters: 2, kernelSize: 5, padding: 'same', activation: 'tanh' },
      { type: 'maxpool' },
      { type: 'conv2d', filters: 3, kernelSize: 1, padding: 'same', activation: 'relu' },
      { type: 'maxpool' },
      { type: 'flatten' },
      { type: 'dense', units: 4, activation: 'linear' },
    ],
  },
  'cnn strided: same 3x3/2 (uneven padding), valid 3x3/2 (a row left over), tanh': {
    inputShape: [9, 8, 2],
    layers: [
      {
        type: 'conv2d',
        filters: 3,
        kernelSize: 3,
        padding: 'same',
        activation: 'tanh',
        strides: 2,
      }, // 9x8 -> 5x4
      {
        type: 'conv2d',
        filters: 2,
        kernelSize: 3,
        padding: 'valid',
        activation: 'relu',
        strides: 2,
      }, // 5x4 -> 2x1
      { type: 'flatten' },
      { type: 'dense', units: 3, activation: 'linear' },
    ],
  },
};

/**
 * A model whose poolings see tied windows (with `tieParams`): a relu layer that outputs
 * mostly zeros feeding the first pooling, and a linear 1x1 convolution whose first filter
 * is zero, so that every window of its pooling ties at the bias while the tangents at the
 * tied positions differ (there the argmax rule decides the value of J v).
 */
export const TIES_MODEL: ModelSpec = {
  inputShape: [6, 6, 2],
  layers: [
    { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' },
    { type: 'maxpool' }, // 6 -> 3
    { type: 'conv2d', filters: 2, kernelSize: 1, padding: 'valid', activation: 'linear' },
    { type: 'maxpool' }, // 3 -> 1 (floor)
    { type: 'flatten' },
    { type: 'dense', units: 3, activation: 'linear' },
  ],
};

/** A model folder that saveModel wrote (model.json + weights.bin), loaded by tfjs itself. */
export async function loadWithTfjs(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const bin = readFileSync(join(dir, 'weights.bin'));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length),
    }),
  );
}
