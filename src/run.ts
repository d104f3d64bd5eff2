/**
 * What a Newton run and a first-order baseline share: the options with their defaults, the
 * data, backend and network of a run (the model resolved and checked against the data),
 * and accuracy by chunks in the calling thread; beside it, `evaluate`: loss, accuracy and
 * confusion matrix of a model on a data set (what `tfjs-newton eval` prints).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ChunkEvaluator, GvMethod } from './autodiff/evaluator.js';
import { initBackend, type BackendChoice } from './backend/select.js';
import { chunkSamples, type Dataset, type Preprocessing, type TrainTest } from './data/dataset.js';
import { loadData } from './data/load.js';
import { rangeChunks } from './engine/plan.js';
import { UsageError } from './errors.js';
import { specFromKeras } from './model/keras.js';
import { LOSSES, lossList, type LossKind } from './model/loss.js';
import { Network } from './model/network.js';
import { presetModel } from './model/presets.js';
import { layoutOf, type ModelSpec } from './model/spec.js';
import type { TrainOptions } from './train.js';

export const TRAIN_DEFAULTS = {
  data: 'digits' as string | TrainTest,
  model: 'mlp:64,64' as string | ModelSpec,
  loss: 'ce' as LossKind,
  gnRatio: 0.05,
  iters: 30,
  bsize: 1024,
  seed: 1,
  backend: 'auto' as BackendChoice,
  gv: 'linearized' as GvMethod,
};

/** Fraction of correctly classified samples, by chunks of `bsize` (NaN for no samples). */
export function accuracy(ev: ChunkEvaluator, data: Dataset, bsize: number): number {
  if (data.n === 0) return NaN;
  let correct = 0;
  for (const rows of rangeChunks(data.n, bsize)) {
    const pred = ev.predict(chunkSamples(data, rows));
    if ('start' in rows)
      for (let i = 0; i < pred.length; i++) if (pred[i] === data.labels[rows.start + i]) correct++;
  }
  return correct / data.n;
}

/** A model's loss, accuracy and confusion matrix on a data set (`evaluate`). */
export interface EvalReport {
  samples: number;
  /** the mean loss ξ over the samples (the evaluator's loss, without the regularisation term) */
  loss: number;
  /** the fraction of samples whose predicted class (argmax of z) is their label */
  accuracy: number;
  /** confusion[true][predicted]: sample counts, numClasses × numClasses */
  confusion: number[][];
}

/**
 * Loss, accuracy and confusion matrix of the evaluator's network at its θ (setParams) on
 * `d`, by chunks of `bsize` samples in the calling thread (NaN loss and accuracy for no
 * samples).
 */
export function evaluate(ev: ChunkEvaluator, d: Dataset, bsize: number): EvalReport {
  const confusion = Array.from({ length: d.numClasses }, () =>
    new Array<number>(d.numClasses).fill(0),
  );
  let loss = 0;
  let correct = 0;
  for (const rows of rangeChunks(d.n, bsize)) {
    const samples = chunkSamples(d, rows);
    loss += ev.lossSum(samples);
    const pred = ev.predict(samples);
    const start = 'start' in rows ? rows.start : 0;
    pred.forEach((p, i) => {
      const y = d.labels[start + i];
      confusion[y][p]++;
      if (p === y) correct++;
    });
  }
  return { samples: d.n, loss: loss / d.n, accuracy: correct / d.n, confusion };
}

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
    throw new UsageError(`${source} has ${out} outputs, the data has ${data.numClasses} classes`);
  return spec;
}

/** Data, backend and network of a run: shared by Newton and the first-order baselines. */
export async function prepareRun(
  o: ReturnType<typeof withDefaults>,
  preprocessing?: Preprocessing,
) {
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
          shape: o.shape,
          scale: o.scale,
          seed: o.seed,
          preprocessing,
        })
      : o.data;
  const spec = resolveModel(o.model, sets.train);
  return { backend, sets, spec, net: new Network(spec) };
}

export function withDefaults(options: TrainOptions) {
  const given = Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as TrainOptions;
  return { ...TRAIN_DEFAULTS, ...given };
}
