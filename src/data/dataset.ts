/** In-memory labelled data: samples row-major in one Float32Array. */
export interface Dataset {
  /** n × prod(inputShape) values */
  x: Float32Array;
  /** class of each sample, 0..numClasses-1 */
  labels: Int32Array;
  n: number;
  /** [d] or [H, W, C] */
  inputShape: number[];
  numClasses: number;
}

export interface TrainTest {
  name: string;
  train: Dataset;
  test: Dataset;
  /** validation samples (kept out of training), when asked for */
  val?: Dataset;
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
  return { ...d, x, labels, n: rows.length };
}

/**
 * simpleNN's preprocessing: pixels divided by `scale` (to [0, 1]), then the per-pixel
 * mean of the training set subtracted from both sets.
 */
export function normalise(train: Dataset, test: Dataset, scale: number): { train: Dataset; test: Dataset } {
  const [tr, te] = centre(train, [train, test], scale);
  return { train: tr, test: te };
}

/** Each of `sets` divided by `scale`, minus the per-feature mean of `train`/scale. */
export function centre(train: Dataset, sets: Dataset[], scale: number): Dataset[] {
  const m = sampleSize(train);
  const mean = new Float64Array(m);
  for (let i = 0; i < train.n; i++) for (let j = 0; j < m; j++) mean[j] += train.x[i * m + j] / scale;
  for (let j = 0; j < m; j++) mean[j] /= train.n;
  const apply = (d: Dataset): Dataset => {
    const x = new Float32Array(d.x.length);
    for (let i = 0; i < d.n; i++) for (let j = 0; j < m; j++) x[i * m + j] = d.x[i * m + j] / scale - mean[j];
    return { ...d, x };
  };
  return sets.map(apply);
}
