/** CSV and LIBSVM readers, the data options, and every bad-input case they name. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { parseCsv } from '../src/data/csv.ts';
import { parseLibsvm } from '../src/data/libsvm.ts';
import { loadData } from '../src/data/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'rd-'));
const file = (name: string, text: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('CSV: header detected, label column by default last, by index, negative index or name', (t) => {
  const d = parseCsv('a,b,label\n1,2,0\n3,4,2\n', 'f.csv');
  t.deepEqual([...d.x], [1, 2, 3, 4]);
  t.deepEqual([...d.labels], [0, 2]);
  t.is(d.numClasses, 3);
  t.deepEqual(d.inputShape, [2]);
  const byName = parseCsv('label,a,b\n1,5,6\n', 'f.csv', { labelCol: 'label' });
  t.deepEqual([...byName.x], [5, 6]);
  t.deepEqual([...byName.labels], [1]);
  t.deepEqual([...parseCsv('1,5,6\n0,7,8\n', 'f.csv', { labelCol: '0' }).labels], [1, 0]);
  t.deepEqual([...parseCsv('5,1,6\n', 'f.csv', { labelCol: -2 }).labels], [1]);
  t.is(parseCsv('1.5,2e3,1\n', 'f.csv').x[1], 2000, 'no header when every cell is a number');
});

test('CSV: ragged rows, non-numeric cells, NaN/Inf, bad labels and columns are named errors', (t) => {
  t.throws(() => parseCsv('1,2,0\n3,0\n', 'f.csv'), {
    message: /^f\.csv: line 2: expected 3 values, found 2$/,
  });
  t.throws(() => parseCsv('a,b,y\n1,x,0\n', 'f.csv'), {
    message: /^f\.csv: line 2, column 2: expected a number, found 'x'$/,
  });
  t.throws(() => parseCsv('1,NaN,0\n', 'f.csv'), {
    message: /line 1, column 2: expected a number, found 'NaN'/,
  });
  t.throws(() => parseCsv('1,Infinity,0\n', 'f.csv'), {
    message: /line 1, column 2: expected a finite number, found 'Infinity'/,
  });
  t.throws(() => parseCsv('1,2,-1\n', 'f.csv'), {
    message: /line 1, column 3: expected a class label \(an integer ≥ 0\), found '-1'/,
  });
  t.throws(() => parseCsv('1,2,0.5\n', 'f.csv'), { message: /expected a class label/ });
  t.throws(() => parseCsv('a,b\n1,2\n', 'f.csv', { labelCol: 'y' }), {
    message: /^f\.csv: line 1: no column named 'y' \(columns: a, b\)/,
  });
  t.throws(() => parseCsv('1,2\n', 'f.csv', { labelCol: 5 }), {
    message: /label column 5 is outside the 2 columns/,
  });
  t.throws(() => parseCsv('\n\n', 'f.csv'), { message: /the file has no data/ });
});

test('LIBSVM: sparse rows, labels mapped to classes in increasing order', (t) => {
  const d = parseLibsvm('+1 1:0.5 3:2\n-1 2:1\n+1\n', 'f.svm');
  t.deepEqual(d.inputShape, [3]);
  t.deepEqual([...d.x], [0.5, 0, 2, 0, 1, 0, 0, 0, 0]);
  t.deepEqual(d.classLabels, [-1, 1]);
  t.deepEqual([...d.labels], [1, 0, 1]);
  const test2 = parseLibsvm('-1 4:1\n', 'g.svm', { features: 4, classLabels: d.classLabels });
  t.deepEqual([...test2.labels], [0]);
});

test('LIBSVM: bad items, index order, unknown labels and NaN are named errors', (t) => {
  t.throws(() => parseLibsvm('1 1:2 x\n', 'f.svm'), {
    message: /^f\.svm: line 1, item 3: expected index:value, found 'x'$/,
  });
  t.throws(() => parseLibsvm('1 3:2 2:1\n', 'f.svm'), {
    message: /line 1, item 3: indices must start at 1 and increase, found 2 after 3/,
  });
  t.throws(() => parseLibsvm('1 0:2\n', 'f.svm'), { message: /indices must start at 1/ });
  t.throws(() => parseLibsvm('1 1:nan\n', 'f.svm'), {
    message: /line 1, item 2: expected a number, found 'nan'/,
  });
  t.throws(() => parseLibsvm('a 1:1\n', 'f.svm'), {
    message: /line 1, label: expected a number, found 'a'/,
  });
  t.throws(() => parseLibsvm('1.5 1:1\n', 'f.svm'), { message: /expected an integer class label/ });
  t.throws(() => parseLibsvm('3 1:1\n', 'f.svm', { classLabels: [1, 2] }), {
    message: /line 1, label: label 3 is not one of the training labels \(1, 2\)/,
  });
  t.throws(() => parseLibsvm('1 5:1\n', 'f.svm', { features: 4 }), {
    message: /index 5 exceeds the 4 features/,
  });
});

test('files: format by name or content, gzip, test/val files, --val-split, --shape, centring', (t) => {
  const train = file('train.csv', 'a,b,c,d,y\n0,2,4,6,0\n2,4,6,8,1\n4,6,8,10,2\n6,8,10,12,0\n');
  const testF = file('test.csv.gz', gzipSync('a,b,c,d,y\n1,1,1,1,2\n'));
  const d = loadData({ data: train, test: testF, shape: [2, 2, 1] });
  t.deepEqual(d.train.inputShape, [2, 2, 1]);
  t.deepEqual([...d.train.x.subarray(0, 4)], [-3, -3, -3, -3]);
  t.deepEqual([...d.test.x], [-2, -4, -6, -8]);
  t.is(d.test.numClasses, 3);
  const split = loadData({ data: train, valSplit: 0.25, seed: 2 });
  t.is(split.val!.n, 1);
  t.is(split.train.n, 3);
  const svm = file('data.txt', '2 1:1 2:2\n1 2:4\n');
  const s = loadData({ data: svm, val: file('val.svm', '1 1:3\n') });
  t.is(s.train.numClasses, 2);
  t.deepEqual([...s.val!.labels], [0]);
  t.is(s.test.n, 0, 'no test file: an empty test set');
});

test('files: mismatches between files and bad options are named errors', (t) => {
  const train = file('t2.csv', '1,2,0\n3,4,1\n');
  t.throws(() => loadData({ data: train, test: file('bad-label.csv', '1,2,5\n') }), {
    message: /bad-label\.csv: sample 1: label 5 out of range 0\.\.1/,
  });
  t.throws(() => loadData({ data: train, test: file('wide.csv', '1,2,3,0\n') }), {
    message: /wide\.csv: line 1: 3 features per sample, the training file .* has 2/,
  });
  t.throws(() => loadData({ data: train, shape: [3, 1, 1] }), {
    message: /t2\.csv: shape: --shape 3,1,1 holds 3 values, the samples have 2/,
  });
  t.throws(() => loadData({ data: train, valSplit: 1.5 }), {
    message: /--val-split must be between 0 and 1/,
  });
  t.throws(() => loadData({ data: 'digits', val: train }), {
    message: /use --val-split with digits/,
  });
  const gz = gzipSync('1,2,0\n'.repeat(50));
  t.throws(() => loadData({ data: file('cut.csv.gz', gz.subarray(0, gz.length - 5)) }), {
    message: /cut\.csv\.gz: gzip stream: cannot decompress/,
  });
  t.throws(() => loadData({ data: join(dir, 'nope.csv') }), { message: /unknown data set/ });
});
