/** In-memory labelled data: samples row-major in one Float32Array. */
import { createHash } from 'node:crypto';

export interface Dataset {
  /** n × prod(inputShape) values */
  x: Float32Array;
  /** class of each sample, 0..numClasses-1 */
  labels: Int32Array;
  n: number;
  /** [d] or [H, W, C] */
  inputShape: number[];
  /**
   * the model's outputs: the classes, or with `targets` the target values per sample
   */
  numClasses: number;
  /**
   * real-valued targets, n × numClasses values row-major (an autoencoder's pixels, a
   * regression's columns): when present the loss compares z with them instead of the
   * one-hot labels, and `labels` (all 0) is not read
   */
  targets?: Float32Array;
}

export interface TrainTest {
  name: string;
  train: Dataset;
  test: Dataset;
  /** validation samples (kept out of training), when asked for */
  val?: Dataset;
  /** how every set was made from the raw values (also what an exported model applies) */
  preprocessing?: Preprocessing;
}

/**
 * simpleNN's preprocessing, as recorded with a run and inside exported models: a raw
 * feature value r becomes r / scale − mean[j] (float64 arithmetic, rounded to float32),
 * with `mean` the per-feature mean of the training set after scaling.
 */
export interface Preprocessing {
  scale: number;
  mean: Float64Array;
}

export function sampleSize(d: Pick<Dataset, 'inputShape'>): number {
  return d.inputShape.reduce((a, b) => a * b, 1);
}

/** The samples at `rows`, as a new data set. */
export function takeRows(d: Dataset, rows: ArrayLike<number>): Dataset {
  const m = sampleSize(d);
  const x = new Float32Array(rows.length * m);
  const labels = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    x.set(d.x.subarray(rows[i] * m, (rows[i] + 1) * m), i * m);
    labels[i] = d.labels[rows[i]];
  }
  if (d.targets === undefined) return { ...d, x, labels, n: rows.length };
  return { ...d, x, labels, targets: batchTargets(d, rows) as Float32Array, n: rows.length };
}

/** What the loss compares the rows' outputs with: their targets (n × k), else their labels. */
export function batchTargets(d: Dataset, rows: ArrayLike<number>): Float32Array | Int32Array {
  if (d.targets === undefined)
    return Int32Array.from(rows as ArrayLike<number>, (r) => d.labels[r]);
  const k = d.numClasses;
  const out = new Float32Array(rows.length * k);
  for (let i = 0; i < rows.length; i++)
    out.set(d.targets.subarray(rows[i] * k, (rows[i] + 1) * k), i * k);
  return out;
}

/** A contiguous range of samples, or an explicit list of sample indices (a chunk: see engine/plan.ts). */
export type Rows = { start: number; end: number } | Int32Array;

/**
 * Labelled samples as the evaluator (autodiff/evaluator.ts) computes on them: n ×
 * prod(inputShape) values, row-major, and n labels (or n × k real-valued targets). A
 * data set is one; `chunkSamples` gives a chunk's.
 */
export type Samples = Pick<Dataset, 'x' | 'labels' | 'n' | 'inputShape' | 'targets'>;

/**
 * The samples of a chunk of `d`: for a range, views of d's arrays (no copy); for a list
 * of indices, copies of those rows (takeRows).
 */
export function chunkSamples(d: Dataset, rows: Rows): Samples {
  if (rows instanceof Int32Array) return takeRows(d, rows);
  const m = sampleSize(d);
  const k = d.numClasses;
  return {
    x: d.x.subarray(rows.start * m, rows.end * m),
    labels: d.labels.subarray(rows.start, rows.end),
    n: rows.end - rows.start,
    inputShape: d.inputShape,
    ...(d.targets && { targets: d.targets.subarray(rows.start * k, rows.end * k) }),
  };
}

/**
 * simpleNN's preprocessing: pixels divided by `scale` (to [0, 1]), then the per-pixel
 * mean of the training set subtracted from both sets.
 */
export function normalise(
  train: Dataset,
  test: Dataset,
  scale: number,
): { train: Dataset; test: Dataset; preprocessing: Preprocessing } {
  const p = preprocessingOf(train, scale);
  return { train: preprocess(train, p), test: preprocess(test, p), preprocessing: p };
}

/** The preprocessing that centres `train` after dividing by `scale`. */
export function preprocessingOf(train: Dataset, scale: number): Preprocessing {
  const m = sampleSize(train);
  const mean = new Float64Array(m);
  for (let i = 0; i < train.n; i++)
    for (let j = 0; j < m; j++) mean[j] += train.x[i * m + j] / scale;
  for (let j = 0; j < m; j++) mean[j] /= train.n;
  return { scale, mean };
}

/** A data set of raw values preprocessed by `p` (its feature count must match). */
export function preprocess(d: Dataset, p: Preprocessing): Dataset {
  const m = sampleSize(d);
  if (p.mean.length !== m)
    throw new Error(`the preprocessing is for ${p.mean.length} features, the samples have ${m}`);
  const x = new Float32Array(d.x.length);
  for (let i = 0; i < d.n; i++)
    for (let j = 0; j < m; j++) x[i * m + j] = d.x[i * m + j] / p.scale - p.mean[j];
  return { ...d, x };
}

/**
 * A digest of a data set's samples (as float32 bytes), labels, targets, shape and classes: equal
 * digests mean the same training data, bit for bit, whatever file it came from.
 */
export function datasetDigest(d: Dataset): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ n: d.n, inputShape: d.inputShape, numClasses: d.numClasses }));
  h.update(new Uint8Array(d.x.buffer, d.x.byteOffset, d.n * sampleSize(d) * 4));
  h.update(new Uint8Array(d.labels.buffer, d.labels.byteOffset, d.n * 4));
  // a class data set's digest is as before targets existed (checkpoints still resume)
  if (d.targets)
    h.update(new Uint8Array(d.targets.buffer, d.targets.byteOffset, d.n * d.numClasses * 4));
  return `sha256:${h.digest('hex').slice(0, 32)}`;
}
