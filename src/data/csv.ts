/**
 * CSV data: one sample a line, comma-separated numbers, the class label in one column
 * (`labelCol`: an index from 0, negative from the end, or a header name; default the
 * last). A first line with any cell that is not a number (nor NaN/Inf, which are
 * reported as bad values) is taken as a header.
 */
import type { Dataset } from './dataset.js';
import { quoteContent, showContent } from '../errors.js';
import { DataError } from './errors.js';
import { classLabel, finite, numberedLines, readText } from './text.js';

export interface CsvOptions {
  labelCol?: string | number;
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
  if (width < 2)
    throw new DataError(
      file,
      `line ${lines[0]?.line ?? 1}`,
      'expected at least 2 columns (features and a label)',
    );
  let col: number;
  const want = opts.labelCol ?? -1;
  if (typeof want === 'string' && !/^-?\d+$/.test(want)) {
    if (!header)
      throw new DataError(
        file,
        'line 1',
        `no header line, so no column named ${quoteContent(want)}`,
      );
    col = header.indexOf(want);
    if (col < 0)
      throw new DataError(
        file,
        'line 1',
        `no column named ${quoteContent(want)} (columns: ${header
          .slice(0, 20)
          .map((h) => showContent(h, 30))
          .join(', ')}${header.length > 20 ? `, … ${header.length} in all` : ''})`,
      );
  } else {
    const n = Number(want);
    col = n < 0 ? width + n : n;
    if (col < 0 || col >= width)
      throw new DataError(file, 'line 1', `label column ${want} is outside the ${width} columns`);
  }
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

export function readCsv(file: string, opts: CsvOptions = {}): Dataset {
  return parseCsv(readText(file), file, opts);
}
