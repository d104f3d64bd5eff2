/**
 * The embedded default data set: UCI's 8x8 handwritten digits (1,797 samples, the copy
 * shipped with scikit-learn, CC BY 4.0), split 80/20 by a fixed seeded shuffle.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Rng } from '../rng.js';
import { normalise, takeRows, type Dataset, type TrainTest } from './dataset.js';
import { quoteContent } from '../errors.js';
import { DataError } from './errors.js';

const SPLIT_SEED = 20241128;
const TEST_FRACTION = 0.2;

/** data/digits.csv.gz in the package, from src/ or from dist/src/ */
export function digitsPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    dir = dirname(dir);
    const p = join(dir, 'data', 'digits.csv.gz');
    try {
      readFileSync(join(dir, 'package.json'));
      return p;
    } catch {
      // not the package root yet
    }
  }
  throw new Error('cannot find the package root holding data/digits.csv.gz');
}

/** Parses the digits CSV: 64 integer pixels 0..16, then the label 0..9, per line. */
export function parseDigitsCsv(text: string, file: string): Dataset {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const x = new Float32Array(lines.length * 64);
  const labels = new Int32Array(lines.length);
  lines.forEach((line, i) => {
    const cells = line.split(',');
    if (cells.length !== 65)
      throw new DataError(
        file,
        `line ${i + 1}`,
        `expected 65 comma-separated values, found ${cells.length}`,
      );
    for (let j = 0; j < 65; j++) {
      const v = Number(cells[j]);
      if (!Number.isInteger(v) || v < 0 || v > 16 || (j === 64 && v > 9)) {
        throw new DataError(
          file,
          `line ${i + 1}, column ${j + 1}`,
          `expected an integer in 0..${j === 64 ? 9 : 16}, found ${quoteContent(cells[j])}`,
        );
      }
      if (j < 64) x[i * 64 + j] = v;
      else labels[i] = v;
    }
  });
  return { x, labels, n: lines.length, inputShape: [8, 8, 1], numClasses: 10 };
}

/** The fixed split, raw pixels 0..16. */
export function readDigits(file = digitsPath()): { train: Dataset; test: Dataset } {
  const all = parseDigitsCsv(gunzipSync(readFileSync(file)).toString('utf8'), file);
  const perm = new Rng(SPLIT_SEED).permutation(all.n);
  const nTest = Math.round(all.n * TEST_FRACTION);
  return {
    test: takeRows(all, perm.subarray(0, nTest)),
    train: takeRows(all, perm.subarray(nTest)),
  };
}

export const DIGITS_SCALE = 16;

/** The fixed split, scaled to [0, 1] and centred. */
export function loadDigits(file = digitsPath()): TrainTest {
  const { train, test } = readDigits(file);
  return { name: 'digits', ...normalise(train, test, DIGITS_SCALE) };
}
