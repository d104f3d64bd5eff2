/**
 * The LIBSVM sparse format: `label index:value index:value ...`, indices from 1 and
 * increasing. Labels are integers (e.g. -1/+1, or 1..K); they are mapped to classes
 * 0..K-1 in increasing order, and the mapping is kept so that other files use the same.
 */
import type { Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { finite, numberedLines, readText } from './text.js';

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
  for (const { line, text: t } of numberedLines(text)) {
    const parts = t.trim().split(/\s+/);
    const label = finite(parts[0], file, `line ${line}, label`);
    if (!Number.isInteger(label)) throw new DataError(file, `line ${line}, label`, `expected an integer class label, found '${parts[0]}'`);
    const idx: number[] = [];
    const val: number[] = [];
    let prev = 0;
    for (let k = 1; k < parts.length; k++) {
      const m = /^(\d+):(.*)$/.exec(parts[k]);
      const where = `line ${line}, item ${k + 1}`;
      if (!m) throw new DataError(file, where, `expected index:value, found '${parts[k]}'`);
      const i = Number(m[1]);
      if (i < 1 || i <= prev) throw new DataError(file, where, `indices must start at 1 and increase, found ${i} after ${prev}`);
      if (opts.features !== undefined && i > opts.features) throw new DataError(file, where, `index ${i} exceeds the ${opts.features} features`);
      prev = i;
      idx.push(i - 1);
      val.push(finite(m[2], file, where));
    }
    maxIdx = Math.max(maxIdx, prev);
    rows.push({ line, label, idx, val });
  }
  if (rows.length === 0) throw new DataError(file, 'line 1', 'the file has no data');
  const m = opts.features ?? maxIdx;
  const classLabels = opts.classLabels ?? [...new Set(rows.map((r) => r.label))].sort((a, b) => a - b);
  const classOf = new Map(classLabels.map((l, c) => [l, c]));
  const x = new Float32Array(rows.length * m);
  const labels = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    const c = classOf.get(r.label);
    if (c === undefined) throw new DataError(file, `line ${r.line}, label`, `label ${r.label} is not one of the training labels (${classLabels.join(', ')})`);
    labels[i] = c;
    r.idx.forEach((j, k) => (x[i * m + j] = r.val[k]));
  });
  return { x, labels, n: rows.length, inputShape: [m], numClasses: classLabels.length, classLabels };
}

export function readLibsvm(file: string, opts: LibsvmOptions = {}): LibsvmDataset {
  return parseLibsvm(readText(file), file, opts);
}
