/**
 * CSV data: one sample a line, comma-separated numbers, the class label in one column
 * (`labelCol`: an index from 0, negative from the end, or a header name; default the
 * last), or real-valued targets in the columns `targetCols` (same forms), every other
 * column a feature. A first line with any cell that is not a number (nor NaN/Inf, which
 * are reported as bad values) is taken as a header.
 */
import type { Dataset } from './dataset.js';
import { quoteContent, showContent } from '../errors.js';
import { DataError } from './errors.js';
import { classLabel, finite, numberedLines, readText } from './text.js';

export interface CsvOptions {
  labelCol?: string | number;
  /**
   * the columns of real-valued targets (indices from 0, negative from the end, or header
   * names), in the order the model's outputs take them; then there is no label column
   */
  targetCols?: readonly (string | number)[];
}

/** The index of column `want` (an index, negative from the end, or a header name). */
function columnIndex(
  want: string | number,
  header: string[] | null,
  width: number,
  file: string,
  what: string,
): number {
  if (typeof want === 'string' && !/^-?\d+$/.test(want)) {
    if (!header)
      throw new DataError(
        file,
        'line 1',
        `no header line, so no column named ${quoteContent(want)}`,
      );
    const col = header.indexOf(want);
    if (col < 0)
      throw new DataError(
        file,
        'line 1',
        `no column named ${quoteContent(want)} (columns: ${header
          .slice(0, 20)
          .map((h) => showContent(h, 30))
          .join(', ')}${header.length > 20 ? `, … ${header.length} in all` : ''})`,
      );
    return col;
  }
  const n = Number(want);
  const col = n < 0 ? width + n : n;
  if (col < 0 || col >= width)
    throw new DataError(file, 'line 1', `${what} column ${want} is outside the ${width} columns`);
  return col;
}

export function parseCsv(text: string, file: string, opts: CsvOptions = {}): Dataset {
  const lines = numberedLines(text);
  if (lines.length === 0) throw new DataError(file, 'line 1', 'the file has no data');
  const split = (s: string) => s.split(',').map((c) => c.trim());
  let header: string[] | null = null;
  const first = split(lines[0].text);
  const numberLike = (c: string) =>
    c !== '' && (!Number.isNaN(Number(c)) || /^[-+]?(nan|inf|infinity)$/i.test(c));
  if (!first.every(numberLike)) {
    header = first;
    lines.shift();
    if (lines.length === 0)
      throw new DataError(file, 'line 2', 'the file has a header and no data');
  }
  const width = header?.length ?? first.length;
  const wanted = opts.targetCols;
  if (wanted !== undefined) return parseTargets(lines, header, width, file, wanted, split);
  if (width < 2)
    throw new DataError(
      file,
      `line ${lines[0]?.line ?? 1}`,
      'expected at least 2 columns (features and a label)',
    );
  const col = columnIndex(opts.labelCol ?? -1, header, width, file, 'label');
  const m = width - 1;
  const x = new Float32Array(lines.length * m);
  const labels = new Int32Array(lines.length);
  lines.forEach(({ line, text: t }, i) => {
    const cells = split(t);
    if (cells.length !== width)
      throw new DataError(file, `line ${line}`, `expected ${width} values, found ${cells.length}`);
    let k = 0;
    cells.forEach((c, j) => {
      const where = `line ${line}, column ${j + 1}`;
      if (j === col) labels[i] = classLabel(c, file, where);
      else x[i * m + k++] = finite(c, file, where);
    });
  });
  const numClasses = labels.reduce((a, b) => Math.max(a, b), 0) + 1;
  return { x, labels, n: lines.length, inputShape: [m], numClasses };
}

/** The samples of a CSV with real-valued targets in the columns `wanted` (labels all 0). */
function parseTargets(
  lines: { line: number; text: string }[],
  header: string[] | null,
  width: number,
  file: string,
  wanted: readonly (string | number)[],
  split: (s: string) => string[],
): Dataset {
  if (wanted.length === 0) throw new DataError(file, 'line 1', 'no target columns given');
  const cols = wanted.map((w) => columnIndex(w, header, width, file, 'target'));
  const twice = cols.findIndex((c, i) => cols.indexOf(c) !== i);
  if (twice >= 0)
    throw new DataError(
      file,
      'line 1',
      `target column ${quoteContent(String(wanted[twice]))} is column ${cols[twice] + 1}, given twice`,
    );
  const k = cols.length;
  const m = width - k;
  if (m < 1)
    throw new DataError(
      file,
      'line 1',
      `the ${k} target columns leave no feature column of the ${width}`,
    );
  /** where each column goes: its target's index (≥ 0), or −1 − its feature's index */
  const slot = new Int32Array(width);
  let f = 0;
  for (let j = 0; j < width; j++) {
    const t = cols.indexOf(j);
    slot[j] = t >= 0 ? t : -1 - f++;
  }
  const x = new Float32Array(lines.length * m);
  const targets = new Float32Array(lines.length * k);
  lines.forEach(({ line, text: t }, i) => {
    const cells = split(t);
    if (cells.length !== width)
      throw new DataError(file, `line ${line}`, `expected ${width} values, found ${cells.length}`);
    cells.forEach((c, j) => {
      const s = slot[j];
      if (s >= 0) {
        const name = header ? ` (target ${showContent(header[j], 30)})` : ' (a target)';
        targets[i * k + s] = finite(c, file, `line ${line}, column ${j + 1}${name}`);
      } else x[i * m - 1 - s] = finite(c, file, `line ${line}, column ${j + 1}`);
    });
  });
  return {
    x,
    labels: new Int32Array(lines.length),
    n: lines.length,
    inputShape: [m],
    numClasses: k,
    targets,
  };
}

export function readCsv(file: string, opts: CsvOptions = {}): Dataset {
  return parseCsv(readText(file), file, opts);
}
