/**
 * Models in and out in tfjs's Layers format (what `model.save()` writes and
 * `tf.loadLayersModel` reads): a Keras `Sequential` topology in `model.json` and the
 * float32 weights, in layer order (kernel, then bias), in `weights.bin`.
 *
 * - `specFromKeras`: a topology (a model.json, or `model.toJSON()`) whose layers are
 *   among ours (each layer unit of layers/ reads and writes its own Keras class); any
 *   other layer or setting is refused by name.
 * - `specOfLayersModel`, `paramsOfLayersModel`, `setLayersModelParams`: a caller's
 *   tf.LayersModel as a spec (a final softmax taken as the loss's, with 'ce'), its weights
 *   as θ and θ back into them (the one mapping of θ onto a tfjs model's weights, which
 *   `layersModel` uses too).
 * - `saveModel` / `loadModel`: θ and a spec to and from a folder. With a preprocessing
 *   (the run's r ↦ r/scale − mean), the saved model starts with layers that apply it, so
 *   it takes raw inputs as the data files hold them: [Flatten,] BatchNormalization
 *   (inference: moving mean 0, moving variance scale², epsilon 0, gamma 1, beta −mean),
 *   [Reshape back]; the preprocessing is also in the metadata, and `loadModel` returns it.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorLine, quoteContent, showContent, UsageError } from '../errors.js';
import { readFailure } from '../paths.js';
import type { Preprocessing } from '../data/dataset.js';
import {
  ACTIVATIONS,
  LAYERS,
  kerasUnit,
  layerUnit,
  type Activation,
  type KerasLayer,
  type LayerSpec,
} from './layers/index.js';
import { isLoss, LOSSES, lossList, lossUnit, type LossKind } from './losses/index.js';
import { layoutOf, type ModelSpec } from './spec.js';

type Json = Record<string, unknown>;

function fail(where: string, what: string): never {
  throw new UsageError(`${where}: ${what}`);
}

function pair(v: unknown): number[] {
  return Array.isArray(v) ? (v as number[]) : [v as number, v as number];
}

/** One layer of a topology as the units read it (`name` prefixes every refusal). */
function kerasLayer(name: string, c: Json): KerasLayer {
  return {
    config: c,
    fail: (what) => fail(name, what),
    activation() {
      const act = (c.activation ?? 'linear') as string;
      const activation = (act === 'linear' || act === null ? 'linear' : act) as Activation;
      if (!(ACTIVATIONS as readonly string[]).includes(activation))
        fail(
          name,
          `activation ${quoteContent(String(act))} is not supported (use ${ACTIVATIONS.join(', ')})`,
        );
      return activation;
    },
    requireBias() {
      if (c.use_bias === false) fail(name, 'use_bias=false is not supported');
    },
    pair,
  };
}

/** The model spec of a Keras/tfjs Sequential topology. */
export function specFromKeras(topology: unknown, source = 'model'): ModelSpec {
  let t = topology as Json;
  if (typeof t === 'string') {
    try {
      t = JSON.parse(t) as Json;
    } catch (e) {
      fail(source, `not JSON (${errorLine(e)}): expected a Keras/tfjs model.json`);
    }
  }
  const isObject = (v: unknown): v is Json =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(t))
    fail(
      source,
      `expected a Keras/tfjs model.json (a JSON object), found ${t === null ? 'null' : Array.isArray(t) ? 'an array' : typeof t}`,
    );
  if ('modelTopology' in t) t = t.modelTopology as Json;
  if (isObject(t) && 'model_config' in t) t = t.model_config as Json;
  if (!isObject(t) || t.class_name !== 'Sequential')
    fail(
      source,
      `expected a Keras Sequential model, found class_name ${showContent(String(JSON.stringify(isObject(t) ? t.class_name : t)))}`,
    );
  const cfg = t.config as Json | Json[] | null | undefined;
  if (!Array.isArray(cfg) && !isObject(cfg))
    fail(
      source,
      `the Sequential model's config is ${showContent(JSON.stringify(cfg) ?? 'missing')}: expected its layers`,
    );
  const layers = (Array.isArray(cfg) ? cfg : (cfg.layers as Json[])) ?? [];
  if (!Array.isArray(layers))
    fail(source, "the Sequential model's config.layers is not a list of layers");
  let inputShape: number[] | null = null;
  const out: LayerSpec[] = [];
  layers.forEach((layer, i) => {
    const c = (layer.config ?? {}) as Json;
    const name = `${source}: layer ${i} (${showContent(String(layer.class_name))}${c.name ? ` ${quoteContent(String(c.name))}` : ''})`;
    const bis = (c.batch_input_shape ?? c.batchInputShape ?? c.batch_shape) as
      (number | null)[] | undefined;
    if (bis && inputShape === null) inputShape = bis.slice(1) as number[];
    if (typeof c.name === 'string' && c.name.startsWith(PREPROCESS_PREFIX) && out.length === 0)
      return; // our input preprocessing
    const k = kerasLayer(name, c);
    const unit = kerasUnit(layer.class_name as string);
    if (unit) out.push(unit.fromKeras(k));
    else if (layer.class_name === 'Activation') {
      k.activation();
      const withActivation = LAYERS.filter((u) => u.hasActivation).map((u) => u.kerasClass);
      fail(
        name,
        `separate Activation layers are not supported: give the activation to the ${withActivation.join(' or ')} layer`,
      );
    } else if (layer.class_name !== 'InputLayer') {
      fail(
        name,
        `layer type ${showContent(String(layer.class_name))} is not supported (${[...LAYERS.map((u) => u.kerasClass), 'InputLayer'].join(', ')} are)`,
      );
    }
  });
  if (inputShape === null)
    fail(source, 'the first layer has no batch_input_shape (the input shape)');
  const spec = { inputShape: inputShape as number[], layers: out };
  layoutOf(spec); // shapes must chain
  return spec;
}

/** Layer names of the input preprocessing block (skipped when a spec is read back). */
const PREPROCESS_PREFIX = 'tfjs_newton_preprocess';

/**
 * A tfjs Layers Sequential model of the spec (weights left as initialised), after the
 * input preprocessing layers when `withPreprocessing` (see the module comment).
 */
export function kerasModel(spec: ModelSpec, withPreprocessing = false): tf.Sequential {
  const m = tf.sequential();
  const image = spec.inputShape.length === 3;
  if (withPreprocessing) {
    const input = { inputShape: spec.inputShape };
    if (image) m.add(tf.layers.flatten({ ...input, name: `${PREPROCESS_PREFIX}_flatten` }));
    m.add(
      tf.layers.batchNormalization({
        ...(image ? {} : input),
        axis: -1,
        epsilon: 0,
        name: PREPROCESS_PREFIX,
      }),
    );
    if (image)
      m.add(
        tf.layers.reshape({ targetShape: spec.inputShape, name: `${PREPROCESS_PREFIX}_reshape` }),
      );
  }
  spec.layers.forEach((l, i) => {
    const first = i === 0 && !withPreprocessing ? { inputShape: spec.inputShape } : {};
    m.add(layerUnit(l, `layer ${i}`).toKeras(l, first));
  });
  return m;
}

export interface SavedModel {
  spec: ModelSpec;
  theta: Float32Array;
  loss: LossKind;
  /** what turns raw inputs into the model's inputs; saved inside the model when given */
  preprocessing?: Preprocessing;
}

/** The weights of the preprocessing block: gamma, beta, moving mean, moving variance. */
function preprocessingWeights(p: Preprocessing): tf.Tensor[] {
  const n = p.mean.length;
  return [
    tf.ones([n]),
    tf.tensor1d(Float32Array.from(p.mean, (v) => -v)),
    tf.zeros([n]),
    tf.fill([n], p.scale * p.scale),
  ];
}

/**
 * The layers of `model` that hold weights (the input preprocessing block aside), each with
 * the blocks of the spec's layout that are its weights, in order (kernel, then bias): how
 * θ maps onto a tfjs model's weights, both ways. `where` names the model in errors.
 */
function weightedLayers(model: tf.LayersModel, spec: ModelSpec, where: string) {
  const layout = layoutOf(spec);
  const out: { layer: tf.layers.Layer; blocks: typeof layout.params }[] = [];
  let k = 0;
  for (const layer of model.layers) {
    if (layer.name.startsWith(PREPROCESS_PREFIX) || layer.weights.length === 0) continue;
    const blocks = layout.params.slice(k, k + layer.weights.length);
    layer.weights.forEach((w, i) => {
      if (w.shape.join() !== blocks[i]?.shape.join())
        fail(
          where,
          `layer '${layer.name}' has a weight of shape [${w.shape}], the model's layout [${blocks[i]?.shape ?? ''}] there`,
        );
    });
    out.push({ layer, blocks });
    k += layer.weights.length;
  }
  if (k !== layout.params.length)
    fail(where, `${k} weights, the model's layout ${layout.params.length}`);
  return out;
}

/** θ (the spec's layout) of a tfjs Layers model's current weights; creates no tensors. */
export function paramsOfLayersModel(model: tf.LayersModel, spec: ModelSpec): Float32Array {
  const theta = new Float32Array(layoutOf(spec).numParams);
  for (const { layer, blocks } of weightedLayers(model, spec, 'the model')) {
    // a layer's getWeights() are its variables themselves (no copies to dispose)
    layer.getWeights().forEach((w, i) => theta.set(w.dataSync(), blocks[i].offset));
  }
  return theta;
}

/**
 * Sets a tfjs Layers model's weights to θ (the spec's layout): setWeights copies the
 * values into the model's variables, and the tensors made here are disposed.
 */
export function setLayersModelParams(
  model: tf.LayersModel,
  spec: ModelSpec,
  theta: Float32Array | Float64Array,
): void {
  const f32 = theta instanceof Float32Array ? theta : Float32Array.from(theta);
  for (const { layer, blocks } of weightedLayers(model, spec, 'the model')) {
    const weights = blocks.map((p) =>
      tf.tensor(f32.subarray(p.offset, p.offset + p.size), p.shape),
    );
    try {
      layer.setWeights(weights);
    } finally {
      tf.dispose(weights);
    }
  }
}

/**
 * The model spec of a tfjs LayersModel (its `toJSON()` topology, read by specFromKeras:
 * any layer or setting we cannot differentiate twice is refused by name). A final Dense
 * with activation 'softmax', what tfjs users write for categoricalCrossentropy, is taken
 * with loss 'ce' as the logits it applies softmax to (likewise 'sigmoid' with 'bce'): the
 * activation is the loss's, and the spec's last layer is linear (the model's own layer is
 * left as it is).
 */
export function specOfLayersModel(model: tf.LayersModel, loss: LossKind): ModelSpec {
  const source = `the model '${model.name}'`;
  const frozen = model.layers.find((l) => !l.trainable && l.weights.length > 0);
  if (frozen)
    fail(
      `${source}: layer '${frozen.name}'`,
      'is frozen (trainable: false): Newton-CG trains every weight of the model',
    );
  const json = model.toJSON(null, false) as Json;
  const layers = ((json.config as Json | undefined)?.layers ?? []) as Json[];
  const last = [...layers].reverse().find((l) => l.class_name !== 'InputLayer');
  const lastConfig = last?.config as Json | undefined;
  // a final activation that is a loss's own (softmax: ce, sigmoid: bce) goes with that loss
  const activation = lastConfig?.activation;
  const owner = LOSSES.map(lossUnit).find((u) => u.outputActivation === activation);
  if (last?.class_name === 'Dense' && owner) {
    if (loss !== owner.name)
      fail(
        `${source}: its last layer (Dense '${String(lastConfig!.name)}')`,
        `activation '${String(activation)}' goes with loss '${owner.name}' (${owner.summary}), not '${loss}': give the last layer activation 'linear' for '${loss}'`,
      );
    last.config = { ...lastConfig, activation: 'linear' };
  }
  return specFromKeras(json, source);
}

/**
 * The tfjs Layers model of θ (after the input preprocessing layers when `m` has a
 * preprocessing): what `saveModel` writes, in memory. The caller owns it (`dispose()`).
 */
export function layersModel(m: SavedModel): tf.Sequential {
  const km = kerasModel(m.spec, m.preprocessing !== undefined);
  try {
    if (m.preprocessing) {
      const weights = preprocessingWeights(m.preprocessing);
      try {
        km.getLayer(PREPROCESS_PREFIX).setWeights(weights);
      } finally {
        tf.dispose(weights);
      }
    }
    setLayersModelParams(km, m.spec, m.theta);
  } catch (e) {
    km.dispose();
    throw e;
  }
  return km;
}

/**
 * Writes `model.json` and `weights.bin` into `dir` (each atomically), loadable with
 * `tf.loadLayersModel`.
 */
export async function saveModel(dir: string, m: SavedModel): Promise<void> {
  const km = layersModel(m);
  try {
    let artifacts: tf.io.ModelArtifacts | null = null;
    await km.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const a = artifacts as unknown as tf.io.ModelArtifacts;
    mkdirSync(dir, { recursive: true });
    const weights = new Uint8Array(a.weightData as ArrayBuffer);
    const json = {
      format: 'layers-model',
      generatedBy: 'tfjs-newton',
      convertedBy: null,
      modelTopology: a.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      userDefinedMetadata: {
        tfjsNewton: {
          loss: m.loss,
          // raw input r ↦ r / scale − mean[j]; the model's first layers apply it
          ...(m.preprocessing
            ? { preprocessing: { scale: m.preprocessing.scale, mean: [...m.preprocessing.mean] } }
            : {}),
        },
      },
    };
    const write = (name: string, data: string | Uint8Array) => {
      const tmp = join(dir, `${name}.tmp-${process.pid}`);
      writeFileSync(tmp, data);
      renameSync(tmp, join(dir, name));
    };
    write('weights.bin', weights);
    write('model.json', JSON.stringify(json));
  } finally {
    km.dispose();
  }
}

/** Reads a folder written by saveModel (or any compatible tfjs Layers model). */
export function loadModel(dir: string): SavedModel {
  const path = join(dir, 'model.json');
  let json: Json;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (e) {
    throw new UsageError(`${path}: cannot read the model (${errorLine(e)})`);
  }
  const spec = specFromKeras(json.modelTopology, path);
  const layout = layoutOf(spec);
  const groups = (json.weightsManifest ?? []) as {
    paths: string[];
    weights: { name: string; shape: number[]; dtype: string }[];
  }[];
  const chunks = groups.flatMap((g) =>
    g.paths.map((p) => {
      const file = join(dir, p);
      try {
        return readFileSync(file);
      } catch (e) {
        return fail(file, `${readFailure(e)}: the weights file that ${path} lists`);
      }
    }),
  );
  const bytes = Buffer.concat(chunks);
  const all = groups.flatMap((g) => g.weights);
  const meta = (json.userDefinedMetadata as Json | undefined)?.tfjsNewton as
    { loss?: string; preprocessing?: { scale: number; mean: number[] } } | undefined;
  // the preprocessing block's weights (tfjs lists its trainable ones first, the moving
  // statistics last) are skipped: its values are read from the metadata
  const isPre = (w: { name: string }) => w.name.startsWith(PREPROCESS_PREFIX);
  if (all.some(isPre) && !meta?.preprocessing)
    fail(path, 'the model has preprocessing layers but no preprocessing in its metadata');
  const offsets: number[] = [];
  all.reduce((o, w) => (offsets.push(o), o + 4 * w.shape.reduce((a, b) => a * b, 1)), 0);
  const specs = all.map((w, i) => ({ ...w, byteOffset: offsets[i] })).filter((w) => !isPre(w));
  if (specs.length !== layout.params.length)
    fail(
      path,
      `the manifest lists ${specs.length} weights, the topology needs ${layout.params.length}`,
    );
  const theta = new Float32Array(layout.numParams);
  specs.forEach((w, k) => {
    const p = layout.params[k];
    const off = w.byteOffset;
    if (w.dtype !== 'float32')
      fail(path, `weight ${w.name}: dtype ${w.dtype} is not supported (float32 only)`);
    if (w.shape.join() !== p.shape.join())
      fail(path, `weight ${w.name} has shape [${w.shape}], the topology needs [${p.shape}]`);
    if (off + p.size * 4 > bytes.length)
      fail(
        join(dir, groups[0]?.paths[0] ?? 'weights.bin'),
        `byte ${bytes.length}: truncated, ${off + p.size * 4} bytes needed`,
      );
    theta.set(
      new Float32Array(
        bytes.buffer.slice(bytes.byteOffset + off, bytes.byteOffset + off + p.size * 4),
      ),
      p.offset,
    );
  });
  const p = meta?.preprocessing;
  const preprocessing = p ? { scale: p.scale, mean: Float64Array.from(p.mean) } : undefined;
  if (preprocessing && preprocessing.mean.length !== spec.inputShape.reduce((a, b) => a * b, 1)) {
    fail(
      path,
      `the preprocessing in its metadata is for ${preprocessing.mean.length} features, the model takes [${spec.inputShape}]`,
    );
  }
  const loss = meta?.loss ?? 'ce';
  if (!isLoss(loss))
    fail(
      path,
      `the loss ${quoteContent(String(loss))} in its metadata is not one of ours (${lossList()})`,
    );
  return { spec, theta, loss, preprocessing };
}
