/**
 * Data given as tfjs tensors (what a tfjs user holds for `model.fit`): samples x of shape
 * [n, ...inputShape] and targets y, one-hot rows [n, k] or integer class labels [n], or
 * real-valued targets [n, k], with optional test and validation pairs. They become our
 * data sets by copying their values (the caller's tensors are read, never disposed or
 * changed); the samples are taken as they are, without preprocessing (the caller's model
 * takes them so).
 *
 * The rule for y [n, k]: when every row of the training y is one-hot (one 1, the rest 0)
 * it is class labels, as before there were targets; otherwise it is k real-valued targets
 * per sample, taken as they are, for loss mse or bce (a run refuses ce with them), and the
 * test and validation y are targets too.
 */
import type * as tf from '@tensorflow/tfjs';
import { UsageError } from '../errors.js';
import type { Dataset, TrainTest } from './dataset.js';

/** Training data as tensors, with optional test and validation pairs. */
export interface TensorData {
  /** samples, [n, ...inputShape] */
  x: tf.Tensor;
  /**
   * targets: one-hot rows [n, classes] or integer class labels [n]; or real-valued
   * targets [n, outputs] (any rows not all one-hot; for loss mse or bce)
   */
  y: tf.Tensor;
  testX?: tf.Tensor;
  testY?: tf.Tensor;
  valX?: tf.Tensor;
  valY?: tf.Tensor;
}

const PAIRS = [
  ['train', 'x', 'y'],
  ['test', 'testX', 'testY'],
  ['val', 'valX', 'valY'],
] as const;

/** The keys a TensorData may have. */
export const TENSOR_DATA_KEYS: readonly string[] = PAIRS.flatMap(([, x, y]) => [x, y]);

/**
 * What is wrong with `d` as TensorData (in a few words), or null: x and y tensors, the
 * optional pairs given both or neither, no other keys.
 */
export function tensorDataProblem(
  d: Record<string, unknown>,
  isTensor: (v: unknown) => boolean,
): string | null {
  const extra = Object.keys(d).find((k) => !TENSOR_DATA_KEYS.includes(k));
  if (extra !== undefined) return `an unknown key '${extra}' (${TENSOR_DATA_KEYS.join(', ')})`;
  for (const [, x, y] of PAIRS) {
    const gx = d[x] !== undefined,
      gy = d[y] !== undefined;
    if (x === 'x' && !(gx && gy)) return 'no x or no y';
    if (gx !== gy) return `${gx ? x : y} without ${gx ? y : x}`;
    if (gx && !isTensor(d[x])) return `${x} that is not a tensor`;
    if (gy && !isTensor(d[y])) return `${y} that is not a tensor`;
  }
  return null;
}

/** The first row of a y [n, k] that is not one-hot (one 1, the rest 0), or −1; −1 for other ranks. */
export function firstNotOneHot(y: tf.Tensor): number {
  if (y.rank !== 2) return -1;
  const [n, k] = y.shape as [number, number];
  const yv = y.dataSync();
  for (let i = 0; i < n; i++) {
    let ones = 0;
    for (let j = 0; j < k; j++) {
      const v = yv[i * k + j];
      if (v === 1) ones++;
      else if (v !== 0) return i;
    }
    if (ones !== 1) return i;
  }
  return -1;
}

/**
 * One set from tensors x and y; `classes` is the model's output count (labels must be
 * below it; one-hot rows, or with `targets` the real-valued targets' rows, must have that
 * many columns).
 */
function datasetOf(
  name: string,
  x: tf.Tensor,
  y: tf.Tensor,
  classes: number,
  targets: boolean,
): Dataset {
  const where = `data ${name === 'train' ? 'x, y' : `${name}X, ${name}Y`}`;
  const n = x.shape[0];
  if (x.rank < 2)
    throw new UsageError(`${where}: x must be [samples, ...sample shape], got shape [${x.shape}]`);
  if (y.shape[0] !== n)
    throw new UsageError(`${where}: ${n} samples in x, ${y.shape[0]} targets in y`);
  const labels = new Int32Array(n);
  if (targets) {
    if (y.rank !== 2 || y.shape[1] !== classes)
      throw new UsageError(
        `${where}: real-valued y must be [samples, ${classes}] (the model's outputs), got shape [${y.shape}]`,
      );
    const values = Float32Array.from(y.dataSync());
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw new UsageError(
        `${where}: y[${Math.floor(bad / classes)}][${bad % classes}] is ${values[bad]}: real-valued targets must be finite`,
      );
    return {
      x: Float32Array.from(x.dataSync()),
      labels,
      n,
      inputShape: x.shape.slice(1),
      numClasses: classes,
      targets: values,
    };
  }
  const yv = y.dataSync();
  if (y.rank === 2) {
    if (y.shape[1] !== classes)
      throw new UsageError(
        `${where}: one-hot y has ${y.shape[1]} columns, the model ${classes} outputs`,
      );
    for (let i = 0; i < n; i++) {
      let hot = -1;
      for (let j = 0; j < classes; j++) {
        const v = yv[i * classes + j];
        if (v === 1 && hot < 0) hot = j;
        else if (v !== 0) hot = -2;
      }
      if (hot < 0)
        throw new UsageError(
          `${where}: row ${i} of y is not one-hot (one 1, the rest 0): give one-hot rows or class labels`,
        );
      labels[i] = hot;
    }
  } else if (y.rank === 1) {
    for (let i = 0; i < n; i++) {
      const v = yv[i];
      if (!Number.isInteger(v) || v < 0 || v >= classes)
        throw new UsageError(
          `${where}: label ${i} is ${v}: class labels must be integers in 0..${classes - 1} (the model's outputs)`,
        );
      labels[i] = v;
    }
  } else
    throw new UsageError(
      `${where}: y must be one-hot rows [n, classes] or class labels [n], got shape [${y.shape}]`,
    );
  // a copy: dataSync may hand out the backend's own array
  return {
    x: Float32Array.from(x.dataSync()),
    labels,
    n,
    inputShape: x.shape.slice(1),
    numClasses: classes,
  };
}

const EMPTY = (inputShape: number[], numClasses: number, targets: boolean): Dataset => ({
  x: new Float32Array(0),
  labels: new Int32Array(0),
  n: 0,
  inputShape,
  numClasses,
  ...(targets && { targets: new Float32Array(0) }),
});

/**
 * The data sets of tensors, for a model with `classes` outputs (else: y's columns, or the
 * largest label + 1): the test set is empty (accuracy NaN) when not given. A training y
 * [n, k] with a row that is not one-hot makes every set's y real-valued targets (see the
 * module's comment). Copies the values; the tensors are left as they are.
 */
export function datasetsOfTensors(d: TensorData, classes?: number): TrainTest {
  classes ??=
    d.y.rank === 2
      ? d.y.shape[1]!
      : (d.y.dataSync() as ArrayLike<number> as Float32Array).reduce((a, b) => Math.max(a, b), 0) +
        1;
  const targets = firstNotOneHot(d.y) >= 0;
  const train = datasetOf('train', d.x, d.y, classes, targets);
  const test = d.testX
    ? datasetOf('test', d.testX, d.testY!, classes, targets)
    : EMPTY(train.inputShape, classes, targets);
  const val = d.valX ? datasetOf('val', d.valX, d.valY!, classes, targets) : undefined;
  return { name: 'tensors', train, test, ...(val ? { val } : {}) };
}
