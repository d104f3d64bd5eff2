/**
 * The LIBSVM sparse format: `label index:value index:value ...`, indices from 1 and
 * increasing. Labels are integers (e.g. -1/+1, or 1..K); they are mapped to classes
 * 0..K-1 in increasing order, and the mapping is kept so that other files use the same.
 */
import type { Dataset } from './dataset.js';
import { quoteContent, showContent } from '../errors.js';
import { DataError } from './errors.js';
import { finite, LABEL_LIMIT, numberedLines, readText } from './text.js';

/** Largest feature index, and largest dense size (samples × features) of a file. */
const MAX_INDEX = 2 ** 31 - 1;
const MAX_VALUES = 2 ** 31 - 1;

export interface LibsvmDataset extends Dataset {
  /** the file's label of each class 0..K-1 */
  classLabels: number[];
}

export interface LibsvmOptions {
  /** number of features (default: the largest index seen) */
  features?: number;
  /** class labels to use (from the training file), in class order */
  classLabels?: number[];
}

export function parseLibsvm(text: string, file: string, opts: LibsvmOptions = {}): LibsvmDataset {
  const rows: { line: number; label: number; idx: number[]; val: number[] }[] = [];
  let maxIdx = 0;
  let maxAt = 'line 1';
  for (const { line, text: t } of numberedLines(text)) {
    const parts = t.trim().split(/\s+/);
    const label = finite(parts[0], file, `line ${line}, label`);
    if (!Number.isInteger(label))
      throw new DataError(
        file,
        `line ${line}, label`,
        `expected an integer class label, found '${parts[0]}'`,
      );
    if (Math.abs(label) >= LABEL_LIMIT)
      throw new DataError(
        file,
        `line ${line}, label`,
        `class label ${showContent(parts[0])} out of range ${-(LABEL_LIMIT - 1)}..${LABEL_LIMIT - 1}`,
      );
    const idx: number[] = [];
    const val: number[] = [];
    let prev = 0;
    for (let k = 1; k < parts.length; k++) {
      const m = /^(\d+):(.*)$/.exec(parts[k]);
      const where = `line ${line}, item ${k + 1}`;
      if (!m)
        throw new DataError(file, where, `expected index:value, found ${quoteContent(parts[k])}`);
      const i = Number(m[1]);
      if (i > MAX_INDEX)
        throw new DataError(file, where, `index ${m[1]} out of range 1..${MAX_INDEX}`);
      if (i < 1 || i <= prev)
        throw new DataError(
          file,
          where,
          `indices must start at 1 and increase, found ${i} after ${prev}`,
        );
      if (opts.features !== undefined && i > opts.features)
        throw new DataError(file, where, `index ${i} exceeds the ${opts.features} features`);
      prev = i;
      idx.push(i - 1);
      val.push(finite(m[2], file, where));
    }
    if (prev > maxIdx) {
      maxIdx = prev;
      maxAt = `line ${line}, item ${parts.length}`;
    }
    rows.push({ line, label, idx, val });
  }
  if (rows.length === 0) throw new DataError(file, 'line 1', 'the file has no data');
  const m = opts.features ?? maxIdx;
  if (rows.length * m > MAX_VALUES) {
    throw new DataError(
      file,
      maxAt,
      `index ${maxIdx} makes the dense data ${rows.length} samples × ${m} features, more than ${MAX_VALUES} values`,
    );
  }
  const classLabels =
    opts.classLabels ?? [...new Set(rows.map((r) => r.label))].sort((a, b) => a - b);
  const classOf = new Map(classLabels.map((l, c) => [l, c]));
  const x = new Float32Array(rows.length * m);
  const labels = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    const c = classOf.get(r.label);
    if (c === undefined)
      throw new DataError(
        file,
        `line ${r.line}, label`,
        `label ${r.label} is not one of the training labels (${classLabels.join(', ')})`,
      );
    labels[i] = c;
    r.idx.forEach((j, k) => (x[i * m + j] = r.val[k]));
  });
  return {
    x,
    labels,
    n: rows.length,
    inputShape: [m],
    numClasses: classLabels.length,
    classLabels,
  };
}

export function readLibsvm(file: string, opts: LibsvmOptions = {}): LibsvmDataset {
  return parseLibsvm(readText(file), file, opts);
}
