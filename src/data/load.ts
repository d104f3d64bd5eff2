/**
 * Resolves the data options of `train` and `eval` to training, test and validation sets:
 * the embedded digits, Fashion-MNIST, the generated regression set friedman1, a folder of
 * IDX files, or CSV / LIBSVM files. Every set's features are scaled (pixels to [0, 1];
 * files as they are unless --scale) and centred by the training set's per-feature mean
 * (simpleNN's preprocessing); real-valued targets (friedman1's y, CSV target columns) are
 * left as they are.
 */
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { Rng } from '../rng.js';
import { readCsv } from './csv.js';
import {
  preprocess,
  preprocessingOf,
  sampleSize,
  takeRows,
  type Dataset,
  type Preprocessing,
  type TrainTest,
} from './dataset.js';
import { DIGITS_SCALE, readDigits } from './digits.js';
import { DataError } from './errors.js';
import { friedman1 } from './friedman.js';
import { readMnistDir } from './idx.js';
import { readLibsvm, type LibsvmDataset } from './libsvm.js';
import { readText } from './text.js';

export const FASHION_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

export interface DataOptions {
  /** digits, fashion-mnist, friedman1, a folder of IDX files, or a CSV / LIBSVM file (plain or .gz) */
  data: string;
  /** the Fashion-MNIST folder */
  dataDir?: string;
  /** test file, same format as a `data` file (built-in sets have their own) */
  test?: string;
  /** validation file, same format */
  val?: string;
  /** or: this fraction of the training samples (seeded) for validation */
  valSplit?: number;
  /** CSV label column: index from 0, negative from the end, or header name (default last) */
  labelCol?: string;
  /** sample shape, e.g. [28, 28, 1], for flat file data that CNNs read as images */
  shape?: number[];
  /** divide features by this before centring (default: 255 for IDX, 16 for digits, 1 for files) */
  scale?: number;
  /**
   * what the model is trained to output: 'labels' (the classes, the default; friedman1's
   * default is its real-valued y), 'inputs' (the samples themselves, scaled as by `scale`
   * but not centred: an autoencoder), or a comma-separated list of CSV columns (header
   * names, or indices from 0, negative from the end) holding real-valued targets, every
   * other column a feature (then `labelCol` is not used)
   */
  targets?: string;
  /** train on the first N training samples only (after a validation split) */
  trainSamples?: number;
  /** seed of the validation split */
  seed?: number;
  /**
   * apply this preprocessing (a checkpoint's or an exported model's) instead of centring
   * by this training set's mean: the same numbers on any machine, whatever data is given
   */
  preprocessing?: Preprocessing;
}

/** The folder of the Fashion-MNIST files: --data-dir, else $TFJS_NEWTON_DATA, else Debian's. */
export function fashionDir(dataDir?: string): string {
  return dataDir ?? process.env.TFJS_NEWTON_DATA ?? FASHION_DEFAULT_DIR;
}

type FileFormat = 'csv' | 'libsvm';

function formatOf(file: string): FileFormat {
  const base = file.replace(/\.gz$/, '').toLowerCase();
  if (base.endsWith('.csv')) return 'csv';
  if (/\.(libsvm|svm|svmlight)$/.test(base)) return 'libsvm';
  const first = readText(file).split('\n', 1)[0];
  return /^\s*[-+]?[\d.eE+-]+\s+\d+:/.test(first) || /^\s*[-+]?\d+\s*$/.test(first)
    ? 'libsvm'
    : 'csv';
}

/**
 * Reads a training file and the files that must match it (same format, same classes, or
 * the same target columns when `targetCols` is given).
 */
function readFiles(
  o: DataOptions,
  targetCols?: string[],
): { train: Dataset; others: (Dataset | undefined)[] } {
  const fmt = formatOf(o.data);
  const extra = [o.test, o.val];
  if (fmt === 'libsvm') {
    if (targetCols)
      throw new UsageError(
        `${o.data}: a LIBSVM file has one class label per line, no columns: --targets ${o.targets} is for CSV files (use labels or inputs)`,
      );
    const train = readLibsvm(o.data);
    const opts = { features: sampleSize(train), classLabels: train.classLabels };
    return { train, others: extra.map((f) => (f ? readLibsvm(f, opts) : undefined)) };
  }
  const csv = { labelCol: o.labelCol, targetCols };
  const train = readCsv(o.data, csv);
  const others = extra.map((f) => {
    if (!f) return undefined;
    const d = readCsv(f, csv);
    if (sampleSize(d) !== sampleSize(train))
      throw new DataError(
        f,
        'line 1',
        `${sampleSize(d)} features per sample, the training file ${o.data} has ${sampleSize(train)}`,
      );
    if (targetCols) return d; // the same columns, so as many targets
    const bad = d.labels.findIndex((c) => c >= train.numClasses);
    if (bad >= 0)
      throw new DataError(
        f,
        `sample ${bad + 1}`,
        `label ${d.labels[bad]} out of range 0..${train.numClasses - 1} (the classes of ${o.data})`,
      );
    return { ...d, numClasses: train.numClasses };
  });
  return { train, others };
}

function reshape(d: Dataset, shape: number[] | undefined, file: string): Dataset {
  if (!shape) return d;
  const want = shape.reduce((a, b) => a * b, 1);
  if (want !== sampleSize(d))
    throw new DataError(
      file,
      'shape',
      `--shape ${shape.join(',')} holds ${want} values, the samples have ${sampleSize(d)}`,
    );
  return { ...d, inputShape: shape };
}

/**
 * What `targets` asks for: the labels, the inputs, or CSV columns (a comma-separated list
 * of header names or indices).
 */
function targetsOf(given: string | undefined): 'labels' | 'inputs' | string[] {
  if (given === undefined || given === 'labels' || given === 'inputs') return given ?? 'labels';
  const cols = given.split(',').map((c) => c.trim());
  if (cols.some((c) => c === ''))
    throw new UsageError(
      `--targets '${given}': an empty column in the list: give labels, inputs, or CSV columns such as y1,y2 or -2,-1`,
    );
  return cols;
}

export function loadData(opts: DataOptions | string, dataDir?: string): TrainTest {
  const o: DataOptions = typeof opts === 'string' ? { data: opts, dataDir } : opts;
  const targets = targetsOf(o.targets);
  const columns = Array.isArray(targets) ? targets : undefined;
  if (columns && o.labelCol !== undefined)
    throw new UsageError(
      `--label-col ${o.labelCol} and --targets ${o.targets}: with target columns every other column is a feature and there is no label column; give one or the other`,
    );
  let raw: { train: Dataset; test?: Dataset; val?: Dataset };
  let scale: number;
  let name = o.data;
  const builtIn = (files: { train: Dataset; test: Dataset }) => {
    // columns are a CSV file's: a built-in set has labels (or friedman1's y) and inputs
    if (columns) throw new UsageError(`unknown targets '${o.targets}': use labels or inputs`);
    if (o.test) throw new UsageError(`--test is for file data; ${o.data} has its own test set`);
    if (o.val) {
      throw new UsageError(`--val FILE is for file data; use --val-split with ${o.data}`);
    }
    return files;
  };
  if (o.data === 'digits') {
    raw = builtIn(readDigits());
    scale = DIGITS_SCALE;
  } else if (o.data === 'friedman1') {
    if (targets === 'labels' && o.targets !== undefined)
      throw new UsageError(
        'friedman1 is a regression set (one real-valued target per sample): it has no class labels',
      );
    raw = builtIn(friedman1());
    scale = 1;
  } else if (o.data === 'fashion-mnist' || (existsSync(o.data) && statSync(o.data).isDirectory())) {
    const dir = o.data === 'fashion-mnist' ? fashionDir(o.dataDir) : o.data;
    if (!existsSync(dir)) {
      throw new UsageError(
        `Fashion-MNIST folder ${dir} not found: pass --data-dir DIR or set TFJS_NEWTON_DATA (on Debian/Ubuntu: apt-get install dataset-fashion-mnist)`,
      );
    }
    raw = builtIn(readMnistDir(dir, o.data));
    scale = 255;
  } else if (existsSync(o.data)) {
    const { train, others } = readFiles(o, columns);
    raw = { train, test: others[0], val: others[1] };
    scale = 1;
  } else {
    throw new UsageError(
      `unknown data set '${o.data}': use digits, fashion-mnist, friedman1, a folder with MNIST-style IDX files, or a CSV / LIBSVM file`,
    );
  }
  if (o.data !== 'digits' && targets === 'labels' && raw.train.targets === undefined)
    oneClass(raw.train, o.data);
  const shaped = {
    train: reshape(raw.train, o.shape, o.data),
    test: raw.test && reshape(raw.test, o.shape, o.test ?? o.data),
    val: raw.val && reshape(raw.val, o.shape, o.val ?? o.data),
  };
  if (o.valSplit !== undefined) {
    if (o.val) throw new UsageError('give --val or --val-split, not both');
    if (!(o.valSplit > 0 && o.valSplit < 1))
      throw new UsageError(`--val-split must be between 0 and 1, got ${o.valSplit}`);
    const perm = new Rng(o.seed ?? 1).permutation(shaped.train.n);
    const nVal = Math.max(1, Math.round(o.valSplit * shaped.train.n));
    const left = shaped.train.n - nVal;
    if (left < 2) {
      throw new UsageError(
        `--val-split ${o.valSplit} leaves ${left} training sample${left === 1 ? '' : 's'} of ${shaped.train.n} (${nVal} for validation): use a smaller fraction`,
      );
    }
    shaped.val = takeRows(shaped.train, perm.subarray(0, nVal).sort());
    shaped.train = takeRows(shaped.train, perm.subarray(nVal).sort());
  }
  if (o.trainSamples !== undefined) {
    if (!Number.isInteger(o.trainSamples) || o.trainSamples < 1)
      throw new UsageError(`--train-samples must be a positive integer, got ${o.trainSamples}`);
    if (o.trainSamples < shaped.train.n)
      shaped.train = takeRows(
        shaped.train,
        Int32Array.from({ length: o.trainSamples }, (_, i) => i),
      );
  }
  const given = o.preprocessing;
  if (given && given.mean.length !== sampleSize(shaped.train)) {
    throw new UsageError(
      `${o.data}: the samples have ${sampleSize(shaped.train)} features, the model's preprocessing is for ${given.mean.length}`,
    );
  }
  const p = given ?? preprocessingOf(shaped.train, o.scale ?? scale);
  const [train, test, val] = [
    shaped.train,
    shaped.test ?? emptyLike(shaped.train),
    shaped.val ?? emptyLike(shaped.train),
  ].map((d) =>
    targets === 'inputs' ? withInputTargets(preprocess(d, p), d, p.scale) : preprocess(d, p),
  );
  return { name, train, test, val: shaped.val ? val : undefined, preprocessing: p };
}

/** A classifier needs two classes: all training labels the same is refused, naming the file. */
function oneClass(d: Dataset, file: string): void {
  if (d.n === 0) throw new DataError(file, 'file', 'no training samples');
  const first = d.labels[0];
  if (d.labels.some((c) => c !== first)) return;
  const label = (d as Partial<LibsvmDataset>).classLabels?.[first] ?? first;
  throw new UsageError(
    `${file}: all ${d.n} samples have label ${label}: a classifier needs at least 2 classes`,
  );
}

/**
 * `d` (preprocessed) with the raw samples of `raw` divided by `scale` as its targets:
 * one output per feature, labels not read.
 */
function withInputTargets(d: Dataset, raw: Dataset, scale: number): Dataset {
  const targets = new Float32Array(raw.n * sampleSize(raw));
  for (let i = 0; i < targets.length; i++) targets[i] = raw.x[i] / scale;
  return { ...d, labels: new Int32Array(d.n), numClasses: sampleSize(raw), targets };
}

function emptyLike(d: Dataset): Dataset {
  return { ...d, x: new Float32Array(0), labels: new Int32Array(0), n: 0 };
}
