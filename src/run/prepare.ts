/**
 * What a Newton run and a first-order baseline share before they compute: the backend, the
 * data (loaded, or as given) and the network, its model resolved and checked against the
 * data.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/select.js';
import type { Dataset, Preprocessing } from '../data/dataset.js';
import { loadData } from '../data/load.js';
import { datasetsOfTensors, type TensorData } from '../data/tensors.js';
import { UsageError } from '../errors.js';
import { paramsOfLayersModel, specFromKeras, specOfLayersModel } from '../model/keras.js';
import { LOSSES, lossList } from '../model/loss.js';
import { Network } from '../model/network.js';
import { presetModel } from '../model/presets.js';
import { layoutOf, type ModelSpec } from '../model/spec.js';
import {
  TRAIN_DEFAULTS,
  type ResolvedOptions,
  type TfjsTrainOptions,
  type TrainOptions,
} from './options.js';

/**
 * The caller's tfjs objects as a run takes them: a tf.LayersModel as its spec (a final
 * softmax taken as the loss's, see specOfLayersModel) and its current weights as the
 * initial θ, tensors as loaded data (copies, without preprocessing). Other options are
 * returned as they are.
 */
export function fromTfjs(options: TfjsTrainOptions): {
  options: TrainOptions;
  /** the caller's model, trained in place */
  model: tf.LayersModel | null;
  /** θ to start from (the model's weights), instead of the seeded initialisation */
  initialParams?: Float32Array;
} {
  const { model, data, ...rest } = options;
  if (!(model instanceof tf.LayersModel) && !isTensorData(data))
    return { options: options as TrainOptions, model: null };
  let spec = model as TrainOptions['model'];
  let initialParams: Float32Array | undefined;
  if (model instanceof tf.LayersModel) {
    spec = specOfLayersModel(model, options.loss ?? TRAIN_DEFAULTS.loss);
    initialParams = paramsOfLayersModel(model, spec);
  }
  const classes = typeof spec === 'object' ? layoutOf(spec).outputSize : undefined;
  const sets = isTensorData(data) ? datasetsOfTensors(data, classes) : data;
  return {
    options: { ...rest, model: spec, data: sets },
    model: model instanceof tf.LayersModel ? model : null,
    initialParams,
  };
}

const isTensorData = (d: unknown): d is TensorData =>
  typeof d === 'object' && d !== null && (d as TensorData).x instanceof tf.Tensor;

/** The model spec from a preset name, a model.json file, or a spec; checked against the data. */
export function resolveModel(model: string | ModelSpec, data: Dataset): ModelSpec {
  let spec: ModelSpec;
  let source = 'the model';
  if (typeof model !== 'string') spec = model;
  else if (model.endsWith('.json')) {
    if (!existsSync(model)) throw new UsageError(`${model}: model file not found`);
    spec = specFromKeras(readFileSync(model, 'utf8'), model);
    source = model;
  } else spec = presetModel(model, data.inputShape, data.numClasses);
  if (spec.inputShape.join() !== data.inputShape.join()) {
    const hint = spec.inputShape.length === 3 ? ` (pass --shape ${spec.inputShape.join(',')})` : '';
    throw new UsageError(
      `${source} expects samples of shape [${spec.inputShape}], the data has [${data.inputShape}]${hint}`,
    );
  }
  const out = layoutOf(spec).outputSize;
  if (out !== data.numClasses)
    throw new UsageError(
      `${source} has ${out} outputs, the data has ${data.numClasses} ${data.targets ? 'target values per sample' : 'classes'}`,
    );
  return spec;
}

/** Data, backend and network of a run: shared by Newton and the first-order baselines. */
export async function prepareRun(o: ResolvedOptions, preprocessing?: Preprocessing) {
  if (!(LOSSES as readonly string[]).includes(o.loss))
    throw new UsageError(`unknown loss '${o.loss}': use ${lossList()}`);
  const backend = await initBackend(o.backend);
  const sets =
    typeof o.data === 'string'
      ? loadData({
          data: o.data,
          dataDir: o.dataDir,
          test: o.test,
          val: o.val,
          valSplit: o.valSplit,
          labelCol: o.labelCol,
          targets: o.targets,
          trainSamples: o.trainSamples,
          shape: o.shape,
          scale: o.scale,
          seed: o.seed,
          preprocessing,
        })
      : o.data;
  // ce's closed forms assume targets that sum to 1 (one-hot labels)
  if (sets.train.targets && o.loss === 'ce')
    throw new UsageError(
      `loss ce is for class labels; for real-valued targets use --loss mse (values) or bce (values in [0, 1])`,
    );
  const spec = resolveModel(o.model, sets.train);
  return { backend, sets, spec, net: new Network(spec) };
}
