/**
 * The forward pass of a model spec in tfjs ops, over parameters given as tensors: each
 * layer's unit (layers/) in turn. Everything here is differentiable twice with the kernels
 * of src/backend/kernels.ts and the gradients the units register.
 */
import * as tf from '@tensorflow/tfjs';
import {
  layerUnit,
  registerLayerGradients,
  type LayerSpec,
  type LayerUnit,
} from './layers/index.js';
import { layoutOf, type ModelLayout, type ModelSpec } from './spec.js';

export { activate } from './layers/index.js';

/** One layer of a network: its spec, its unit, and its parameter blocks' indices. */
export interface NetworkLayer {
  spec: LayerSpec;
  unit: LayerUnit<LayerSpec>;
  /** index of its first parameter block (in `layout.params`), and how many it has */
  first: number;
  count: number;
}

export class Network {
  readonly layout: ModelLayout;
  readonly layers: readonly NetworkLayer[];

  constructor(readonly spec: ModelSpec) {
    this.layout = layoutOf(spec);
    let first = 0;
    this.layers = spec.layers.map((l, i) => {
      const count = this.layout.params.filter((p) => p.layer === i).length;
      const layer = { spec: l, unit: layerUnit(l), first, count };
      first += count;
      return layer;
    });
    registerLayerGradients();
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
      throw new Error(
        `parameter vector has ${theta.length} entries, the model needs ${this.numParams}`,
      );
    }
    const f32 = theta instanceof Float32Array ? theta : new Float32Array(theta);
    return this.layout.params.map((p) =>
      tf.tensor(f32.subarray(p.offset, p.offset + p.size), p.shape, 'float32'),
    );
  }

  /** z = last-layer output (pre-softmax), shape [n, outputSize]; x is [n, ...inputShape]. */
  forward(params: tf.Tensor[], x: tf.Tensor): tf.Tensor2D {
    let h = x;
    for (const l of this.layers)
      h = l.unit.forward(l.spec, h, params.slice(l.first, l.first + l.count));
    return h as tf.Tensor2D;
  }
}
