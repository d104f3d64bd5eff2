/**
 * Named architectures: `mlp:H1,H2,...`, `cnn4` and `cnn7` (simpleNN's CNNs), built for a
 * given input shape and number of classes. The output layer is linear (the loss applies
 * softmax or the squared error to it).
 */
import { UsageError } from '../errors.js';
import {
  conv2dLayer,
  denseLayer,
  flattenLayer,
  maxpoolLayer,
  type Activation,
  type LayerSpec,
} from './layers/index.js';
import type { ModelSpec } from './spec.js';

const conv = (filters: number, kernelSize: number): LayerSpec =>
  conv2dLayer(filters, kernelSize, 'same', 'relu');
const pool = maxpoolLayer();

export const PRESET_HELP =
  'mlp:H1,H2,... (hidden sizes, relu), mlp:H1,...@tanh|sigmoid, cnn4, cnn7';

export function presetModel(name: string, inputShape: number[], numClasses: number): ModelSpec {
  const out = denseLayer(numClasses, 'linear');
  const m = /^mlp:([0-9,]*)(?:@(relu|tanh|sigmoid))?$/.exec(name);
  if (m) {
    const sizes = m[1] === '' ? [] : m[1].split(',').map(Number);
    if (sizes.some((h) => !Number.isInteger(h) || h < 1)) {
      throw new UsageError(
        `model '${name}': hidden sizes must be positive integers, as in mlp:256,256`,
      );
    }
    const act = (m[2] ?? 'relu') as Activation;
    const layers: LayerSpec[] = inputShape.length > 1 ? [flattenLayer()] : [];
    for (const h of sizes) layers.push(denseLayer(h, act));
    layers.push(out);
    return { inputShape, layers };
  }
  if (name === 'cnn4' || name === 'cnn7') {
    if (inputShape.length !== 3) {
      throw new UsageError(
        `model '${name}' needs image data of shape [H,W,C]; this data has shape [${inputShape}]`,
      );
    }
    // cnn4: simpleNN's 4-layer CNN (28 -> 14 -> 7 -> 3 on MNIST-sized input).
    // cnn7: simpleNN's 7-layer CNN as we read it: two convolutions before each of the
    // first two poolings, then one convolution and a pooling, then the output layer.
    const body: LayerSpec[] =
      name === 'cnn4'
        ? [conv(32, 5), pool, conv(64, 3), pool, conv(64, 3), pool]
        : [conv(32, 5), conv(32, 3), pool, conv(64, 3), conv(64, 3), pool, conv(64, 3), pool];
    return { inputShape, layers: [...body, flattenLayer(), out] };
  }
  throw new UsageError(`unknown model '${name}': use ${PRESET_HELP}`);
}
