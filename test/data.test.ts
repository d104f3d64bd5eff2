import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { loadDigits, parseDigitsCsv } from '../src/data/digits.ts';
import { idxDataset, loadMnistDir, parseIdx } from '../src/data/idx.ts';
import { loadData } from '../src/data/load.ts';

function idx(dims: number[], data: number[], type = 0x08): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const v = new DataView(head.buffer);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
  return new Uint8Array([...head, ...data]);
}

test('IDX: plain and gzip files parse to the same array', (t) => {
  const raw = idx([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
  for (const buf of [raw, gzipSync(raw)]) {
    const a = parseIdx(buf, 'f');
    t.deepEqual(a.dims, [2, 2, 3]);
    t.deepEqual([...a.data], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
  }
});

test('IDX: bad magic, truncated data and corrupt gzip are named errors', (t) => {
  t.throws(() => parseIdx(idx([2], [1, 2], 0x0d), 'x.idx'), {
    message: /^x\.idx: byte 0: bad magic number 0x00000d01/,
  });
  t.throws(() => parseIdx(idx([3], [1, 2]), 'x.idx'), {
    message: /^x\.idx: byte 8: header says 3 = 3 bytes of data, the file has 2/,
  });
  const gz = gzipSync(idx([4], [1, 2, 3, 4]));
  t.throws(() => parseIdx(gz.subarray(0, gz.length - 6), 'y.gz'), {
    message: /^y\.gz: gzip stream: cannot decompress .*truncated or corrupt/,
  });
  t.throws(() => parseIdx(new Uint8Array([0, 0]), 'z'), { message: /^z: byte 0: file too short/ });
});

test('IDX: labels out of range and mismatched counts are named errors', (t) => {
  const images = parseIdx(idx([2, 1, 1], [5, 6]), 'img');
  t.throws(() => idxDataset(images, parseIdx(idx([2], [3, 10]), 'lab'), 'img', 'lab'), {
    message: /^lab: byte 9: label 10 out of range 0\.\.9/,
  });
  t.throws(() => idxDataset(images, parseIdx(idx([3], [1, 2, 3]), 'lab'), 'img', 'lab'), {
    message: /^lab: header: 3 labels for 2 images in img/,
  });
});

test('a folder of IDX files loads, scaled to [0,1] with the training mean subtracted', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'idx-'));
  writeFileSync(
    join(dir, 'train-images-idx3-ubyte.gz'),
    gzipSync(idx([2, 1, 2], [0, 255, 255, 255])),
  );
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([2], [0, 1]));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([1, 1, 2], [51, 0]));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([1], [9])));
  const d = loadMnistDir(dir);
  t.deepEqual(d.train.inputShape, [1, 2, 1]);
  t.deepEqual([...d.train.x], [-0.5, 0, 0.5, 0]);
  t.deepEqual(
    [...d.test.x].map((v) => Math.round(v * 1e6) / 1e6),
    [-0.3, -1],
  );
  t.deepEqual([...d.test.labels], [9]);
  t.throws(() => loadData('fashion-mnist', join(dir, 'missing')), {
    message: /folder .*missing not found: pass --data-dir/,
  });
  const empty = mkdtempSync(join(tmpdir(), 'idx-'));
  t.throws(() => loadMnistDir(empty), { message: /train-images-idx3-ubyte\.gz: file: not found/ });
});

test('digits: the embedded set loads with a fixed 80/20 split, scaled and centred', (t) => {
  const a = loadDigits(),
    b = loadDigits();
  t.is(a.train.n + a.test.n, 1797);
  t.is(a.test.n, 359);
  t.deepEqual(a.train.inputShape, [8, 8, 1]);
  t.deepEqual([...a.test.labels.slice(0, 20)], [...b.test.labels.slice(0, 20)]);
  const m = 64;
  for (let j = 0; j < m; j++) {
    let s = 0;
    for (let i = 0; i < a.train.n; i++) s += a.train.x[i * m + j];
    t.true(Math.abs(s / a.train.n) < 1e-5);
  }
  const counts = new Array(10).fill(0);
  for (const c of a.test.labels) counts[c]++;
  t.true(
    counts.every((c) => c > 20),
    'every class is in the test split',
  );
});

test('digits CSV: ragged rows and bad cells are named errors', (t) => {
  const row = Array(64).fill('1').join(',');
  t.throws(() => parseDigitsCsv(`${row},3\n1,2\n`, 'd.csv'), {
    message: /^d\.csv: line 2: expected 65 comma-separated values, found 2/,
  });
  t.throws(() => parseDigitsCsv(`${row},x\n`, 'd.csv'), {
    message: /^d\.csv: line 1, column 65: expected an integer in 0\.\.9, found 'x'/,
  });
  t.throws(() => parseDigitsCsv(`${row.replace(/^1/, '17')},3\n`, 'd.csv'), {
    message: /column 1: expected an integer in 0\.\.16/,
  });
});

test('unknown data set names are refused', (t) => {
  t.throws(() => loadData('imagenet'), { message: /unknown data set 'imagenet'/ });
});
