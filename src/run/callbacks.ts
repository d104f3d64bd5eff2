/**
 * tfjs's fit-style callbacks on a Newton run: one Newton iteration is one epoch of one
 * batch (the whole training set), so `tf.node.tensorBoard(dir)`, `tf.callbacks.earlyStopping()`
 * and `{ onEpochEnd(epoch, logs) {...} }` objects work unchanged. The protocol is
 * tfjs-layers' own (its CallbackList: setModel, setParams, then onTrainBegin, per epoch
 * onEpochBegin, onBatchBegin, onBatchEnd, onEpochEnd, and onTrainEnd, each awaited in
 * order); a callback stops the run by setting `model.stopTraining = true`, as
 * EarlyStopping does.
 *
 * `RunHooks` is what `train` calls at those points; `CallbackRunner` implements it over a
 * tfjs model (the caller's, whose weights it sets to θ after every iteration, or one of
 * its own for callbacks on a run of a preset or spec), and the training thread of
 * `startTraining` implements it by asking the host, which runs a CallbackRunner there.
 */
import * as tf from '@tensorflow/tfjs';
import { layersModel, setLayersModelParams } from '../model/keras.js';
import type { ModelSpec } from '../model/spec.js';

/** A tfjs callback object (tf.Callback, tf.CustomCallback and their subclasses). */
export type BaseCallback = NonNullable<ConstructorParameters<typeof tf.CallbackList>[0]>[number];
/** The functions tfjs's `model.fit` takes as `callbacks` (onEpochEnd, onTrainBegin, ...). */
export type CustomCallbackArgs = tf.CustomCallbackArgs;
/** What the `callbacks` option takes: as `model.fit` does, one or a list of either kind. */
export type FitCallbacks =
  BaseCallback | CustomCallbackArgs | readonly (BaseCallback | CustomCallbackArgs)[];

/** The keys of a CustomCallbackArgs object. */
export const CALLBACK_KEYS: readonly string[] = [
  'onTrainBegin',
  'onTrainEnd',
  'onEpochBegin',
  'onEpochEnd',
  'onBatchBegin',
  'onBatchEnd',
  'onYield',
  'nowFunc',
  'nextFrameFunc',
];

/** A tfjs callback instance rather than a CustomCallbackArgs object. */
export const isCallbackInstance = (c: object): c is BaseCallback =>
  typeof (c as BaseCallback).setParams === 'function' &&
  typeof (c as BaseCallback).setModel === 'function';

/**
 * The logs of an epoch (a Newton iteration), as tfjs's callbacks read them: `loss`, the
 * mean training loss ξ at the new θ (f less the regulariser ‖θ‖²/(2Cl)); `val_loss` and
 * `val_acc` with validation data, `test_acc` with test data; and the iteration's own `f`
 * (the objective), `gradNorm`, `lambda`, `cgIters`.
 */
export type RunLogs = Record<string, number>;

/** What the callbacks' `params` hold (tfjs's names; one step of `samples` per epoch). */
export interface RunParams {
  [key: string]: number | string | boolean | number[] | string[] | boolean[];
  epochs: number;
  initialEpoch: number;
  samples: number;
  steps: number;
  batchSize: number;
  verbose: number;
  doValidation: boolean;
  metrics: string[];
}

/** Whether a Sequential has its inner model (it gets it when compiled, built or first called). */
function builtSequential(m: tf.Sequential): boolean {
  try {
    void m.stopTraining;
    return true;
  } catch {
    return false;
  }
}

/** What `train` calls at the points of tfjs's fit loop. */
export interface RunHooks {
  /** before the first iteration: the run's model and its θ there (initial, or resumed) */
  trainBegin(params: RunParams, start: { spec: ModelSpec; theta: Float32Array }): Promise<void>;
  /** before iteration `epoch` + 1 */
  epochBegin(epoch: number): Promise<void>;
  /** after iteration `epoch` + 1 is committed, θ its parameters: resolves true to stop */
  epochEnd(epoch: number, logs: RunLogs, theta: Float32Array): Promise<boolean>;
  /** once the run has ended (not after an error): θ the final parameters */
  trainEnd(logs: RunLogs | undefined, theta: Float32Array): Promise<void>;
  /** frees what the hooks hold (also after an error) */
  dispose(): void;
}

/**
 * RunHooks over tfjs callbacks and a model: the caller's (its weights set to θ after each
 * iteration and at the end: trained in place), or, when there is none and callbacks are
 * given, a model of `spec` made here (disposed by `dispose`), so that callbacks that need
 * one (EarlyStopping's stopTraining, TensorBoard's weight histograms) have it.
 */
export class CallbackRunner implements RunHooks {
  private readonly list: tf.CallbackList;
  private model: tf.LayersModel | null;
  private owned: tf.LayersModel | null = null;
  private spec: ModelSpec | null = null;
  private samples = 0;

  constructor(callbacks: FitCallbacks | undefined, model: tf.LayersModel | null) {
    const given = callbacks === undefined ? [] : Array.isArray(callbacks) ? callbacks : [callbacks];
    this.list = new tf.CallbackList(
      (given as (BaseCallback | CustomCallbackArgs)[]).map((c) =>
        isCallbackInstance(c) ? c : new tf.CustomCallback(c, 'auto'),
      ),
    );
    this.model = model;
  }

  async trainBegin(
    params: RunParams,
    start: { spec: ModelSpec; theta: Float32Array },
  ): Promise<void> {
    this.samples = params.samples;
    this.spec = start.spec;
    if (!this.model && this.list.callbacks.length > 0) {
      await tf.ready();
      this.model = this.owned = layersModel({ spec: start.spec, theta: start.theta, loss: 'ce' });
    }
    if (this.model) {
      // an uncompiled Sequential has no stopTraining until built (as its predict() builds it)
      if (this.model instanceof tf.Sequential && !builtSequential(this.model)) this.model.build();
      this.model.stopTraining = false;
      this.list.setModel(this.model);
    }
    this.list.setParams(params);
    await this.list.onTrainBegin();
  }

  async epochBegin(epoch: number): Promise<void> {
    await this.list.onEpochBegin(epoch);
    await this.list.onBatchBegin(0, { batch: 0, size: this.samples });
  }

  async epochEnd(epoch: number, logs: RunLogs, theta: Float32Array): Promise<boolean> {
    if (this.model) setLayersModelParams(this.model, this.spec!, theta);
    await this.list.onBatchEnd(0, { batch: 0, size: this.samples, loss: logs.loss });
    await this.list.onEpochEnd(epoch, { ...logs });
    return this.model?.stopTraining === true;
  }

  async trainEnd(logs: RunLogs | undefined, theta: Float32Array): Promise<void> {
    if (this.model) setLayersModelParams(this.model, this.spec!, theta);
    await this.list.onTrainEnd(logs && { ...logs });
  }

  dispose(): void {
    this.owned?.dispose();
  }
}
