/**
 * Model descriptions and their parameter layout, independent of tfjs.
 *
 * A model is a list of layers over an input of shape [d] or [H, W, C] (NHWC). Its
 * parameters live in one flat vector θ, layer by layer, each layer's weight (row-major,
 * tfjs layout: dense [in, out], conv [kh, kw, cin, cout]) then its bias. What each layer
 * type is (its shapes, parameters, forward pass, Keras form) is its unit in layers/.
 */
import { UsageError } from '../errors.js';
import { ACTIVATIONS, layerUnit, type LayerSpec } from './layers/index.js';

export { ACTIVATIONS, LAYER_TYPES, type Activation, type LayerSpec } from './layers/index.js';

export interface ModelSpec {
  inputShape: number[];
  layers: LayerSpec[];
}

export interface ParamBlock {
  /** e.g. `dense_2/kernel`, `conv2d_0/bias` */
  name: string;
  layer: number;
  role: 'kernel' | 'bias';
  shape: number[];
  offset: number;
  size: number;
  /** inputs feeding one output unit (for N(0, 2/fan_in) initialisation) */
  fanIn: number;
}

export interface ModelLayout {
  /** the shape after each layer (without the batch dimension) */
  shapes: number[][];
  params: ParamBlock[];
  numParams: number;
  outputSize: number;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Checks a spec and computes its shapes and parameter layout. */
export function layoutOf(spec: ModelSpec): ModelLayout {
  let shape = [...spec.inputShape];
  if (shape.length !== 1 && shape.length !== 3) {
    throw new UsageError(`model input shape must be [d] or [H,W,C], got [${shape}]`);
  }
  const shapes: number[][] = [];
  const params: ParamBlock[] = [];
  let offset = 0;
  spec.layers.forEach((l, i) => {
    const unit = layerUnit(l, `layer ${i}`);
    const where = `layer ${i} (${l.type})`;
    const out = unit.layout(l, shape, where);
    for (const b of out.params) {
      const size = prod(b.shape);
      params.push({
        name: `${l.type}_${i}/${b.role}`,
        layer: i,
        role: b.role,
        shape: b.shape,
        offset,
        size,
        fanIn: out.fanIn,
      });
      offset += size;
    }
    shape = out.shape;
    if (unit.hasActivation) {
      const a = (l as { activation: string }).activation;
      if (!(ACTIVATIONS as readonly string[]).includes(a))
        throw new UsageError(`${where}: unknown activation '${a}' (use ${ACTIVATIONS.join(', ')})`);
    }
    shapes.push(shape);
  });
  if (shape.length !== 1)
    throw new UsageError(`the model's output must be flat, got [${shape}]: end with a dense layer`);
  return { shapes, params, numParams: offset, outputSize: shape[0] };
}
