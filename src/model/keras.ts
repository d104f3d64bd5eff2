/**
 * Models in and out in tfjs's Layers format (what `model.save()` writes and
 * `tf.loadLayersModel` reads): a Keras `Sequential` topology in `model.json` and the
 * float32 weights, in layer order (kernel, then bias), in `weights.bin`.
 *
 * - `specFromKeras`: a topology (a model.json, or `model.toJSON()`) whose layers are
 *   among ours; any other layer or setting is refused by name.
 * - `saveModel` / `loadModel`: θ and a spec to and from a folder.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { LossKind } from './loss.js';
import { ACTIVATIONS, layoutOf, type Activation, type LayerSpec, type ModelSpec } from './spec.js';

type Json = Record<string, unknown>;

function fail(where: string, what: string): never {
  throw new UsageError(`${where}: ${what}`);
}

function pair(v: unknown): number[] {
  return Array.isArray(v) ? (v as number[]) : [v as number, v as number];
}

/** The model spec of a Keras/tfjs Sequential topology. */
export function specFromKeras(topology: unknown, source = 'model'): ModelSpec {
  let t = topology as Json;
  if (typeof t === 'string') {
    try {
      t = JSON.parse(t) as Json;
    } catch (e) {
      fail(source, `not JSON (${(e as Error).message.split('\n')[0]}): expected a Keras/tfjs model.json`);
    }
  }
  const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(t)) fail(source, `expected a Keras/tfjs model.json (a JSON object), found ${t === null ? 'null' : Array.isArray(t) ? 'an array' : typeof t}`);
  if ('modelTopology' in t) t = t.modelTopology as Json;
  if (isObject(t) && 'model_config' in t) t = t.model_config as Json;
  if (!isObject(t) || t.class_name !== 'Sequential') fail(source, `expected a Keras Sequential model, found class_name ${JSON.stringify(isObject(t) ? t.class_name : t)}`);
  const cfg = t.config as Json | Json[] | null | undefined;
  if (!Array.isArray(cfg) && !isObject(cfg)) fail(source, `the Sequential model's config is ${JSON.stringify(cfg) ?? 'missing'}: expected its layers`);
  const layers = (Array.isArray(cfg) ? cfg : (cfg.layers as Json[])) ?? [];
  if (!Array.isArray(layers)) fail(source, 'the Sequential model\'s config.layers is not a list of layers');
  let inputShape: number[] | null = null;
  const out: LayerSpec[] = [];
  layers.forEach((layer, i) => {
    const c = (layer.config ?? {}) as Json;
    const name = `${source}: layer ${i} (${layer.class_name}${c.name ? ` '${c.name}'` : ''})`;
    const bis = (c.batch_input_shape ?? c.batchInputShape ?? c.batch_shape) as (number | null)[] | undefined;
    if (bis && inputShape === null) inputShape = bis.slice(1) as number[];
    const act = (c.activation ?? 'linear') as string;
    const activation = (act === 'linear' || act === null ? 'linear' : act) as Activation;
    const checkAct = () => {
      if (!(ACTIVATIONS as readonly string[]).includes(activation)) fail(name, `activation '${act}' is not supported (use ${ACTIVATIONS.join(', ')})`);
    };
    const checkBias = () => {
      if (c.use_bias === false) fail(name, 'use_bias=false is not supported');
    };
    switch (layer.class_name) {
      case 'InputLayer':
        break;
      case 'Dense':
        checkAct();
        checkBias();
        out.push({ type: 'dense', units: c.units as number, activation });
        break;
      case 'Conv2D': {
        checkAct();
        checkBias();
        const [kh, kw] = pair(c.kernel_size);
        const [sh, sw] = pair(c.strides ?? 1);
        const [dh, dw] = pair(c.dilation_rate ?? 1);
        if (kh !== kw) fail(name, `kernel ${kh}x${kw} is not square`);
        if (sh !== 1 || sw !== 1) fail(name, `strides ${sh}x${sw} are not supported (stride 1 only)`);
        if (dh !== 1 || dw !== 1) fail(name, 'dilation is not supported');
        if ((c.data_format ?? 'channels_last') !== 'channels_last') fail(name, 'data_format must be channels_last');
        const padding = c.padding as string;
        if (padding !== 'same' && padding !== 'valid') fail(name, `padding '${padding}' is not supported`);
        out.push({ type: 'conv2d', filters: c.filters as number, kernelSize: kh, padding, activation });
        break;
      }
      case 'MaxPooling2D': {
        const [ph, pw] = pair(c.pool_size ?? 2);
        const [sh, sw] = pair(c.strides ?? [ph, pw]);
        if (ph !== 2 || pw !== 2 || sh !== 2 || sw !== 2 || (c.padding ?? 'valid') !== 'valid') {
          fail(name, 'only 2x2 max pooling with stride 2 and valid padding is supported');
        }
        out.push({ type: 'maxpool' });
        break;
      }
      case 'Flatten':
        out.push({ type: 'flatten' });
        break;
      case 'Activation':
        checkAct();
        fail(name, 'separate Activation layers are not supported: give the activation to the Dense or Conv2D layer');
        break;
      default:
        fail(name, `layer type ${layer.class_name} is not supported (Dense, Conv2D, MaxPooling2D, Flatten, InputLayer are)`);
    }
  });
  if (inputShape === null) fail(source, 'the first layer has no batch_input_shape (the input shape)');
  const spec = { inputShape: inputShape as number[], layers: out };
  layoutOf(spec); // shapes must chain
  return spec;
}

/** A tfjs Layers Sequential model of the spec (weights left as initialised). */
export function kerasModel(spec: ModelSpec): tf.Sequential {
  const m = tf.sequential();
  spec.layers.forEach((l, i) => {
    const first = i === 0 ? { inputShape: spec.inputShape } : {};
    switch (l.type) {
      case 'dense':
        m.add(tf.layers.dense({ ...first, units: l.units, activation: l.activation }));
        break;
      case 'conv2d':
        m.add(tf.layers.conv2d({ ...first, filters: l.filters, kernelSize: l.kernelSize, padding: l.padding, activation: l.activation }));
        break;
      case 'maxpool':
        m.add(tf.layers.maxPooling2d({ ...first, poolSize: 2, strides: 2, padding: 'valid' }));
        break;
      case 'flatten':
        m.add(tf.layers.flatten(first));
        break;
    }
  });
  return m;
}

export interface SavedModel {
  spec: ModelSpec;
  theta: Float32Array;
  loss: LossKind;
}

/**
 * Writes `model.json` and `weights.bin` into `dir` (each atomically), loadable with
 * `tf.loadLayersModel`.
 */
export async function saveModel(dir: string, m: SavedModel): Promise<void> {
  const layout = layoutOf(m.spec);
  const km = kerasModel(m.spec);
  try {
    km.setWeights(layout.params.map((p) => tf.tensor(m.theta.subarray(p.offset, p.offset + p.size), p.shape)));
    let artifacts: tf.io.ModelArtifacts | null = null;
    await km.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const a = artifacts as unknown as tf.io.ModelArtifacts;
    mkdirSync(dir, { recursive: true });
    const weights = new Uint8Array(a.weightData as ArrayBuffer);
    const json = {
      format: 'layers-model',
      generatedBy: 'tfjs-newton',
      convertedBy: null,
      modelTopology: a.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      userDefinedMetadata: { tfjsNewton: { loss: m.loss } },
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
    throw new UsageError(`${path}: cannot read the model (${(e as Error).message.split('\n')[0]})`);
  }
  const spec = specFromKeras(json.modelTopology, path);
  const layout = layoutOf(spec);
  const groups = (json.weightsManifest ?? []) as { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
  const chunks = groups.flatMap((g) =>
    g.paths.map((p) => {
      const file = join(dir, p);
      try {
        return readFileSync(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot read (${code ?? (e as Error).message})`;
        return fail(file, `${why}: the weights file that ${path} lists`);
      }
    }),
  );
  const bytes = Buffer.concat(chunks);
  const specs = groups.flatMap((g) => g.weights);
  if (specs.length !== layout.params.length) fail(path, `the manifest lists ${specs.length} weights, the topology needs ${layout.params.length}`);
  const theta = new Float32Array(layout.numParams);
  let off = 0;
  specs.forEach((w, k) => {
    const p = layout.params[k];
    if (w.dtype !== 'float32') fail(path, `weight ${w.name}: dtype ${w.dtype} is not supported (float32 only)`);
    if (w.shape.join() !== p.shape.join()) fail(path, `weight ${w.name} has shape [${w.shape}], the topology needs [${p.shape}]`);
    if (off + p.size * 4 > bytes.length) fail(join(dir, groups[0]?.paths[0] ?? 'weights.bin'), `byte ${bytes.length}: truncated, ${off + p.size * 4} bytes needed`);
    theta.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset + off, bytes.byteOffset + off + p.size * 4)), p.offset);
    off += p.size * 4;
  });
  const meta = (json.userDefinedMetadata as Json | undefined)?.tfjsNewton as { loss?: LossKind } | undefined;
  return { spec, theta, loss: meta?.loss ?? 'ce' };
}
