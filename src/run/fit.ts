/**
 * `newtonFit(model, x, y, options)`: Newton-CG where a tfjs user has `model.fit(x, y,
 * { epochs, validationData, callbacks })`. The caller's tf.LayersModel is trained in place
 * from its current weights, one Newton iteration per epoch, with tfjs's callbacks
 * (src/run/callbacks.ts), and a tfjs-like History comes back. It is `train` with the model
 * and the tensors as its `model` and `data`.
 */
import * as tf from '@tensorflow/tfjs';
import { firstNotOneHot } from '../data/tensors.js';
import { UsageError } from '../errors.js';
import { describe } from './schema.js';
import type { RunParams } from './callbacks.js';
import type { DataOptions } from '../data/load.js';
import type { TfjsTrainOptions } from './options.js';
import { train, type TrainResult } from './train.js';

/**
 * The options of `newtonFit`: those of `train` (C, iters, workers, backend, callbacks,
 * tensorboard, ...) but data and model, which are its arguments, plus model.fit's words.
 */
export interface NewtonFitOptions extends Omit<
  TfjsTrainOptions,
  'data' | 'model' | Exclude<keyof DataOptions, 'seed'>
> {
  /** Newton iterations, as model.fit's epochs (one iteration per epoch); or `iters` */
  epochs?: number;
  /**
   * [x, y] held out: val_loss and val_acc in the logs (val_rmse and val_r2 with real-valued
   * y); the best iteration by val_acc (by val_rmse) is kept in the result
   */
  validationData?: [tf.Tensor, tf.Tensor];
  /** [x, y] for test accuracy (`test_acc` in the logs, `result.testAcc`; with real-valued y `test_rmse`, `test_r2`) */
  testData?: [tf.Tensor, tf.Tensor];
}

/** What `newtonFit` returns: tfjs's History record, with the run's result. */
export interface NewtonHistory {
  /** the epochs (0-based, as tfjs counts them): iteration k is epoch k − 1 */
  epoch: number[];
  /** each log's values by epoch: loss, val_loss, val_acc, test_acc, f, gradNorm, lambda, cgIters */
  history: Record<string, number[]>;
  /** what the callbacks were given as `params` */
  params: RunParams;
  /** what `train` returns (the last and best θ, the iterations' reports, why it stopped, ...) */
  result: TrainResult;
}

function checkPair(name: string, v: unknown): [tf.Tensor, tf.Tensor] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== 2 || !v.every((t) => t instanceof tf.Tensor))
    throw new TypeError(`newtonFit: ${name} must be [x, y] tensors, got ${describe(v)}`);
  return v as [tf.Tensor, tf.Tensor];
}

/**
 * Trains `model` (a tf.LayersModel: Dense, Conv2D, pooling and Flatten layers) by Newton-CG
 * on x and y, like `model.fit(x, y, options)`. y is one-hot rows [n, k] or integer class
 * labels [n]; or, with loss 'mse' or 'bce', real-valued targets [n, k] (a y whose rows are
 * not all one-hot is taken as they are; test and validation y then too; see
 * data/tensors.ts), for which RMSE and R² replace accuracy. It starts from the model's
 * current weights, which it leaves trained (set after every iteration, so callbacks see
 * them). The loss is `loss` ('ce' by default: a final softmax
 * layer is the loss's softmax), not the model's compiled one; no optimizer is used. The
 * tensors given are neither disposed nor changed.
 */
export async function newtonFit(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  options: NewtonFitOptions = {},
): Promise<NewtonHistory> {
  if (!(model instanceof tf.LayersModel))
    throw new TypeError(`newtonFit: model must be a tf.LayersModel, got ${describe(model)}`);
  if (!(x instanceof tf.Tensor))
    throw new TypeError(`newtonFit: x must be a tensor, got ${describe(x)}`);
  if (!(y instanceof tf.Tensor))
    throw new TypeError(`newtonFit: y must be a tensor, got ${describe(y)}`);
  const { epochs, validationData, testData, callbacks, ...rest } = options;
  if (epochs !== undefined && rest.iters !== undefined && epochs !== rest.iters)
    throw new TypeError(
      `newtonFit: epochs (${epochs}) and iters (${rest.iters}) are the same setting: give one`,
    );
  // ce's targets are one-hot: a y that is not (real-valued targets) is for mse or bce
  const row = (rest.loss ?? 'ce') === 'ce' ? firstNotOneHot(y) : -1;
  if (row >= 0)
    throw new UsageError(
      `newtonFit: row ${row} of y is not one-hot (one 1, the rest 0): loss 'ce' takes one-hot rows or class labels; for real-valued y [samples, outputs] give loss 'mse' or 'bce'`,
    );
  const val = checkPair('validationData', validationData);
  const test = checkPair('testData', testData);
  const out = { epoch: [] as number[], history: {} as Record<string, number[]> };
  const recorder = new tf.CustomCallback({
    onEpochEnd: (epoch, logs) => {
      out.epoch.push(epoch);
      for (const [k, v] of Object.entries(logs ?? {})) (out.history[k] ??= []).push(v as number);
    },
  });
  const given = callbacks === undefined ? [] : Array.isArray(callbacks) ? callbacks : [callbacks];
  const result = await train({
    ...rest,
    iters: epochs ?? rest.iters,
    model,
    data: {
      x,
      y,
      ...(test ? { testX: test[0], testY: test[1] } : {}),
      ...(val ? { valX: val[0], valY: val[1] } : {}),
    },
    // tfjs's fit puts its History last
    callbacks: [...given, recorder],
  });
  return { ...out, params: recorder.params as RunParams, result };
}
