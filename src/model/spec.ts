/**
 * Model descriptions and their parameter layout, independent of tfjs.
 *
 * A model is a list of layers over an input of shape [d] or [H, W, C] (NHWC). Its
 * parameters live in one flat vector θ, layer by layer, each layer's weight (row-major,
 * tfjs layout: dense [in, out], conv [kh, kw, cin, cout]) then its bias.
 */
import { UsageError } from '../errors.js';

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'linear'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export type LayerSpec =
  | { type: 'dense'; units: number; activation: Activation }
  | { type: 'conv2d'; filters: number; kernelSize: number; padding: 'same' | 'valid'; activation: Activation }
  | { type: 'maxpool' } // 2x2, stride 2, floor
  | { type: 'flatten' };

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
  const add = (layer: number, role: 'kernel' | 'bias', pshape: number[], fanIn: number, type: string) => {
    const size = prod(pshape);
    params.push({ name: `${type}_${layer}/${role}`, layer, role, shape: pshape, offset, size, fanIn });
    offset += size;
  };
  spec.layers.forEach((l, i) => {
    const where = `layer ${i} (${l.type})`;
    switch (l.type) {
      case 'dense': {
        if (shape.length !== 1) throw new UsageError(`${where} needs a flat input, got [${shape}]: add a flatten layer before it`);
        positiveInt(l.units, `${where} units`);
        add(i, 'kernel', [shape[0], l.units], shape[0], 'dense');
        add(i, 'bias', [l.units], shape[0], 'dense');
        shape = [l.units];
        break;
      }
      case 'conv2d': {
        if (shape.length !== 3) throw new UsageError(`${where} needs an [H,W,C] input, got [${shape}]`);
        positiveInt(l.filters, `${where} filters`);
        if (!Number.isInteger(l.kernelSize) || l.kernelSize < 1 || l.kernelSize % 2 === 0) {
          throw new UsageError(`${where} kernel size must be an odd positive integer, got ${l.kernelSize}`);
        }
        const [h, w, c] = shape;
        const k = l.kernelSize;
        const fanIn = k * k * c;
        add(i, 'kernel', [k, k, c, l.filters], fanIn, 'conv2d');
        add(i, 'bias', [l.filters], fanIn, 'conv2d');
        shape = l.padding === 'same' ? [h, w, l.filters] : [h - k + 1, w - k + 1, l.filters];
        if (shape[0] < 1 || shape[1] < 1) throw new UsageError(`${where}: a ${k}x${k} valid convolution does not fit a ${h}x${w} input`);
        break;
      }
      case 'maxpool': {
        if (shape.length !== 3) throw new UsageError(`${where} needs an [H,W,C] input, got [${shape}]`);
        shape = [Math.floor(shape[0] / 2), Math.floor(shape[1] / 2), shape[2]];
        if (shape[0] < 1 || shape[1] < 1) throw new UsageError(`${where}: the input is too small to pool`);
        break;
      }
      case 'flatten':
        shape = [prod(shape)];
        break;
      default:
        throw new UsageError(`layer ${i}: unknown type '${(l as { type: string }).type}'`);
    }
    if ('activation' in l && !(ACTIVATIONS as readonly string[]).includes(l.activation)) {
      throw new UsageError(`${where}: unknown activation '${l.activation}' (use ${ACTIVATIONS.join(', ')})`);
    }
    shapes.push(shape);
  });
  if (shape.length !== 1) throw new UsageError(`the model's output must be flat, got [${shape}]: end with a dense layer`);
  return { shapes, params, numParams: offset, outputSize: shape[0] };
}

function positiveInt(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} must be a positive integer, got ${n}`);
}
