/**
 * The registry of layer types: one `LayerUnit` per file of this folder (see unit.ts).
 * A new layer type is a unit file, its entry in `UNITS` below, and its test.
 */
import { UsageError } from '../../errors.js';
import { avgpool } from './avgpool.js';
import { conv2d } from './conv2d.js';
import { dense } from './dense.js';
import { flatten } from './flatten.js';
import { maxpool } from './maxpool.js';
import type { LayerUnit } from './unit.js';

const UNITS = [dense, conv2d, maxpool, avgpool, flatten] as const;

type SpecOf<U> = U extends LayerUnit<infer S> ? S : never;

/** A layer of a model: the spec of one of the registered units. */
export type LayerSpec = SpecOf<(typeof UNITS)[number]>;
export type LayerType = LayerSpec['type'];

/** Every registered layer unit, in the order messages list them. */
export const LAYERS: readonly LayerUnit<LayerSpec>[] = UNITS;

/** The layer types, e.g. for messages. */
export const LAYER_TYPES: readonly LayerType[] = UNITS.map((u) => u.type);

const byType = new Map<string, LayerUnit<LayerSpec>>(LAYERS.map((u) => [u.type, u]));
const byKeras = new Map<string, LayerUnit<LayerSpec>>(LAYERS.map((u) => [u.kerasClass, u]));

/** The unit of a layer spec; `where` prefixes the error for an unknown type. */
export function layerUnit(l: { type: string }, where = 'layer'): LayerUnit<LayerSpec> {
  const u = byType.get(l.type);
  if (u === undefined)
    throw new UsageError(`${where}: unknown type '${l.type}' (use ${LAYER_TYPES.join(', ')})`);
  return u;
}

/** The unit that reads a Keras class, if any. */
export function kerasUnit(className: string): LayerUnit<LayerSpec> | undefined {
  return byKeras.get(className);
}

let gradientsRegistered = false;

/** Registers, once per process, the gradients some units' double VJP needs (Network does it). */
export function registerLayerGradients(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  for (const u of LAYERS) u.registerGradients?.();
}

export { ACTIVATIONS, activate, derivative, type Activation } from './activation.js';
export { avgpoolLayer, type AvgPoolSpec } from './avgpool.js';
export { conv2dLayer, type Conv2DSpec } from './conv2d.js';
export { denseLayer, type DenseSpec } from './dense.js';
export { flattenLayer, type FlattenSpec } from './flatten.js';
export { maxpoolLayer, poolArgmaxMask, type MaxPoolSpec } from './maxpool.js';
export type {
  KerasLayer,
  LayerShape,
  LayerUnit,
  LinearizedLayer,
  LinearizeContext,
  PoolRoute,
} from './unit.js';
