/**
 * Regression (issue 19, part 3): CSV target columns (by name, index, negative index; the
 * same columns of --test files; errors naming file and line), the built-in friedman1 set
 * (deterministic, the formula within the noise), held-out RMSE and R² as passes of the
 * engine against a float64 computation on the host (in-process and on 2 pool workers bit
 * for bit), training on friedman1 (identical reports in-process and on 2 workers, R²
 * improving, the best model by validation RMSE, the JSONL record), `eval` of a target set
 * and newtonFit with a real-valued y. No tensor is left behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { ChunkEvaluator } from '../src/autodiff/evaluator.ts';
import { initBackend } from '../src/backend/select.ts';
import { sampleSize, takeRows, type Dataset } from '../src/data/dataset.ts';
import { FRIEDMAN1_TEST, FRIEDMAN1_TRAIN, friedman1, friedman1Mean } from '../src/data/friedman.ts';
import { loadData } from '../src/data/load.ts';
import { regressionMetrics, targetSpread } from '../src/engine/evaluation.ts';
import { UsageError } from '../src/errors.ts';
import type { LossKind } from '../src/model/loss.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { evaluate } from '../src/run/evaluate.ts';
import { newtonFit } from '../src/run/fit.ts';
import { NEWTON_OPTIONS } from '../src/run/options.ts';
import { logRecord } from '../src/run/records.ts';
import { train, type TrainIteration } from '../src/run/train.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { PoolProblem } from '../src/transport/threads.ts';
import { readJsonl } from './helpers/jsonl.ts';
import { forward64 } from './helpers/net64.ts';

await initBackend('wasm');

const cli = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });

const tmp = () => mkdtempSync(join(tmpdir(), 'tfjs-newton-regression-'));

/** A CSV file with a header: features a, b, c and targets y1, y2 in between. */
function csvFile(dir: string, name: string, rows: number[][], header = 'a,b,y1,c,y2'): string {
  const file = join(dir, name);
  writeFileSync(file, [header, ...rows.map((r) => r.join(','))].join('\n') + '\n');
  return file;
}

const ROWS = [
  [1, 2, 0.5, 3, -1.25],
  [4, 5, 1.5, 6, 2.5],
  [7, 8, -3, 9, 0.75],
];

test('CSV target columns: by name, index and negative index, in the order given; the same columns of --test and --val', (t) => {
  const dir = tmp();
  const file = csvFile(dir, 'train.csv', ROWS);
  // the test file's columns in another order: names find them there
  const testFile = csvFile(
    dir,
    'test.csv',
    [
      [2, 10, 20, 0.25, 30],
      [-2, 11, 21, 0.5, 31],
    ],
    'y2,a,b,y1,c',
  );
  const byName = loadData({ data: file, targets: 'y1,y2' });
  const d = byName.train;
  t.is(d.n, 3);
  t.deepEqual(d.inputShape, [3]);
  t.is(d.numClasses, 2);
  t.deepEqual(
    [...d.targets!],
    [0.5, -1.25, 1.5, 2.5, -3, 0.75],
    'targets as they are, not centred',
  );
  t.deepEqual([...d.labels], [0, 0, 0]);
  // features a, b, c centred by their means 4, 5, 6
  t.deepEqual([...d.x], [-3, -3, -3, 0, 0, 0, 3, 3, 3]);
  t.deepEqual([...byName.preprocessing!.mean], [4, 5, 6]);
  for (const cols of ['2,4', '-3,-1', '2,-1', ' y1 , -1 ']) {
    const other = loadData({ data: file, targets: cols }).train;
    t.deepEqual([...other.x], [...d.x], cols);
    t.deepEqual([...other.targets!], [...d.targets!], cols);
  }
  const swapped = loadData({ data: file, targets: 'y2,y1' }).train;
  t.deepEqual([...swapped.targets!], [-1.25, 0.5, 2.5, 1.5, 0.75, -3], 'in the order given');
  const one = loadData({ data: file, targets: 'c' }).train;
  t.is(one.numClasses, 1);
  t.deepEqual(one.inputShape, [4]);
  t.deepEqual([...one.targets!], [3, 6, 9]);
  const withTest = loadData({ data: file, test: testFile, val: testFile, targets: 'y1,y2' });
  t.deepEqual([...withTest.test.targets!], [0.25, 2, 0.5, -2]);
  t.deepEqual([...withTest.test.x], [10 - 4, 20 - 5, 30 - 6, 11 - 4, 21 - 5, 31 - 6]);
  t.deepEqual([...withTest.val!.targets!], [...withTest.test.targets!]);
  // without a header, indices
  const bare = join(dir, 'bare.csv');
  writeFileSync(bare, ROWS.map((r) => r.join(',')).join('\n') + '\n');
  t.deepEqual([...loadData({ data: bare, targets: '2,-1' }).train.targets!], [...d.targets!]);
});

test('CSV target columns: errors name the file, the line and what was expected', (t) => {
  const dir = tmp();
  const file = csvFile(dir, 'train.csv', ROWS);
  const bad = csvFile(dir, 'bad.csv', [ROWS[0], [4, 5, 'x1' as never, 6, 2], ROWS[2]]);
  const nan = csvFile(dir, 'nan.csv', [ROWS[0], ROWS[1], [7, 8, 1, 9, 'Infinity' as never]]);
  const bare = join(dir, 'bare.csv');
  writeFileSync(bare, '1,2,3\n4,5,6\n');
  const cases: [Parameters<typeof loadData>[0], string][] = [
    [
      { data: file, targets: 'y1,zz' },
      `${file}: line 1: no column named 'zz' (columns: a, b, y1, c, y2)`,
    ],
    [{ data: file, targets: '7' }, `${file}: line 1: target column 7 is outside the 5 columns`],
    [
      { data: file, targets: 'y1,-6' },
      `${file}: line 1: target column -6 is outside the 5 columns`,
    ],
    [{ data: bare, targets: 'y' }, `${bare}: line 1: no header line, so no column named 'y'`],
    [
      { data: bad, targets: 'y1,y2' },
      `${bad}: line 3, column 3 (target y1): expected a number, found 'x1'`,
    ],
    [
      { data: nan, targets: 'y1,y2' },
      `${nan}: line 4, column 5 (target y2): expected a finite number, found 'Infinity'`,
    ],
    [
      { data: file, targets: 'y1,2' },
      `${file}: line 1: target column '2' is column 3, given twice`,
    ],
    [
      { data: bare, targets: '0,1,2' },
      `${bare}: line 1: the 3 target columns leave no feature column of the 3`,
    ],
    [
      { data: file, targets: 'y1,y2', labelCol: 'a' },
      '--label-col a and --targets y1,y2: with target columns every other column is a feature and there is no label column; give one or the other',
    ],
    [
      { data: file, targets: 'y1,,y2' },
      "--targets 'y1,,y2': an empty column in the list: give labels, inputs, or CSV columns such as y1,y2 or -2,-1",
    ],
    [{ data: 'digits', targets: 'y1' }, "unknown targets 'y1': use labels or inputs"],
  ];
  for (const [opts, message] of cases)
    t.throws(() => loadData(opts), { instanceOf: UsageError, message }, JSON.stringify(opts));
  // the test file: its own header, its own line numbers
  const testBad = csvFile(dir, 'test-bad.csv', [[1, 2, 3, 4, 5]], 'a,b,y1,c,w');
  t.throws(() => loadData({ data: file, test: testBad, targets: 'y1,y2' }), {
    message: `${testBad}: line 1: no column named 'y2' (columns: a, b, y1, c, w)`,
  });
  const libsvm = join(dir, 'train.libsvm');
  writeFileSync(libsvm, '1 1:0.5 2:1\n0 1:1\n');
  t.throws(() => loadData({ data: libsvm, targets: '1' }), {
    instanceOf: UsageError,
    message: `${libsvm}: a LIBSVM file has one class label per line, no columns: --targets 1 is for CSV files (use labels or inputs)`,
  });
});

test('friedman1: deterministic, independent of --seed, the formula within the noise, features centred and y as it is', (t) => {
  const a = friedman1();
  const b = friedman1();
  t.deepEqual(a, b, 'the same samples twice');
  const { train, test } = a;
  t.is(train.n, FRIEDMAN1_TRAIN);
  t.is(test.n, FRIEDMAN1_TEST);
  for (const d of [train, test]) {
    t.deepEqual(d.inputShape, [10]);
    t.is(d.numClasses, 1);
    t.is(d.x.length, d.n * 10);
    t.is(d.targets!.length, d.n);
    t.true(d.x.every((v) => v >= 0 && v < 1));
  }
  // y − f(x) is the N(0, 1) noise: bounded, mean ≈ 0, variance ≈ 1
  const all = [train, test];
  const r = all.flatMap((d) =>
    Array.from({ length: d.n }, (_, i) => d.targets![i] - friedman1Mean(d.x, i * 10)),
  );
  const mean = r.reduce((s, v) => s + v, 0) / r.length;
  const variance = r.reduce((s, v) => s + (v - mean) ** 2, 0) / r.length;
  t.true(
    r.every((v) => Math.abs(v) < 5.5),
    `max |noise| ${Math.max(...r.map(Math.abs))}`,
  );
  t.true(Math.abs(mean) < 0.05, `noise mean ${mean}`);
  t.true(Math.abs(variance - 1) < 0.06, `noise variance ${variance}`);
  // x6..x10 do not enter: the formula reads x1..x5 only
  const x = Float64Array.from(train.x.subarray(0, 10));
  const moved = Float64Array.from(x, (v, j) => (j >= 5 ? 1 - v : v));
  t.is(friedman1Mean(moved), friedman1Mean(x));
  // loaded: the same whatever --seed; features centred by the training means, y as generated
  const loaded = loadData({ data: 'friedman1' });
  const again = loadData({ data: 'friedman1', seed: 7 });
  t.deepEqual([...again.train.x], [...loaded.train.x]);
  t.deepEqual([...loaded.train.targets!], [...train.targets!]);
  t.deepEqual([...loaded.test.targets!], [...test.targets!]);
  t.is(loaded.preprocessing!.scale, 1);
  const m = loaded.preprocessing!.mean;
  t.true(m.every((v) => Math.abs(v - 0.5) < 0.02));
  t.is(loaded.train.x[0], Math.fround(train.x[0] - m[0]));
  t.is(loaded.name, 'friedman1');
  // it has no class labels; its own test set
  t.throws(() => loadData({ data: 'friedman1', targets: 'labels' }), {
    message:
      'friedman1 is a regression set (one real-valued target per sample): it has no class labels',
  });
  t.throws(() => loadData({ data: 'friedman1', test: 'x.csv' }), {
    message: /--test is for file data; friedman1 has its own test set/,
  });
  const ae = loadData({ data: 'friedman1', targets: 'inputs' });
  t.is(ae.train.numClasses, 10);
});

/** RMSE and R² of `set` at θ in float64 on the host, the prediction through the loss's activation. */
function metrics64(spec: Network['spec'], theta: Float64Array, set: Dataset, loss: LossKind) {
  const m = sampleSize(set);
  const k = set.numClasses;
  const y = set.targets!;
  let sse = 0;
  for (let i = 0; i < set.n; i++) {
    const z = forward64(spec, theta, Float64Array.from(set.x.subarray(i * m, (i + 1) * m)));
    for (let j = 0; j < k; j++) {
      const p = loss === 'bce' ? 1 / (1 + Math.exp(-z[j])) : z[j];
      sse += (p - y[i * k + j]) ** 2;
    }
  }
  const mean = Array.from({ length: k }, (_, j) => {
    let s = 0;
    for (let i = 0; i < set.n; i++) s += y[i * k + j];
    return s / set.n;
  });
  let sst = 0;
  for (let i = 0; i < set.n; i++) for (let j = 0; j < k; j++) sst += (y[i * k + j] - mean[j]) ** 2;
  return { rmse: Math.sqrt(sse / (set.n * k)), r2: 1 - sse / sst };
}

test.serial(
  'held-out RMSE and R² against float64 on the host (mse, bce); in-process, 2 pool workers and evaluate() agree bit for bit',
  async (t) => {
    const before = tf.memory().numTensors;
    const f = loadData({ data: 'friedman1', trainSamples: 300 });
    const test1 = takeRows(
      f.test,
      Int32Array.from({ length: 250 }, (_, i) => i),
    );
    // two outputs in [0, 1] for bce: y scaled, and 1 − that
    const two = (d: Dataset): Dataset => {
      const targets = new Float32Array(d.n * 2);
      for (let i = 0; i < d.n; i++) {
        targets[2 * i] = d.targets![i] / 30;
        targets[2 * i + 1] = 1 - d.targets![i] / 30;
      }
      return { ...d, numClasses: 2, targets };
    };
    const BSIZE = 64; // 4 chunks of 250, the last short
    for (const [loss, outputs] of [
      ['mse', 1],
      ['bce', 2],
    ] as const) {
      const train = outputs === 1 ? f.train : two(f.train);
      const testSet = outputs === 1 ? test1 : two(test1);
      const net = new Network(presetModel('mlp:8@tanh', [10], outputs));
      const theta = Float64Array.from(initParams(net.layout, 3));
      const want = metrics64(net.spec, theta, testSet, loss);
      const spread = targetSpread(testSet);
      const local = new LocalProblem(net, train, loss, BSIZE, { test: testSet });
      const pool = new PoolProblem(net, train, loss, {
        workers: 2,
        bsize: BSIZE,
        backend: 'wasm',
        evalSets: { test: testSet },
      });
      try {
        const sse = await local.squaredError(theta, 'test');
        const got = regressionMetrics(sse, spread);
        t.true(
          Math.abs(got.rmse - want.rmse) <= 1e-5 * want.rmse,
          `${loss}: ${got.rmse} ${want.rmse}`,
        );
        t.true(Math.abs(got.r2 - want.r2) <= 1e-5, `${loss}: ${got.r2} ${want.r2}`);
        t.is(await pool.squaredError(theta, 'test'), sse, `${loss}: 2 workers, bit for bit`);
        t.is(pool.stats.tasks, 4);
        // accuracy does not apply to targets, nor squaredError to an absent set
        t.true(Number.isNaN(await local.accuracy(theta, 'test')));
        t.true(Number.isNaN(await local.squaredError(theta, 'val')));
        const ev = new ChunkEvaluator(net, loss);
        ev.setParams(Float32Array.from(theta));
        const r = evaluate(ev, testSet, BSIZE);
        ev.dispose();
        t.is(r.rmse, got.rmse, `${loss}: evaluate()`);
        t.is(r.r2, got.r2);
        t.true(Number.isNaN(r.accuracy));
        t.deepEqual(r.confusion, []);
      } finally {
        await local.close();
        await pool.close();
      }
    }
    // a class set has no squared error (and no pass runs)
    const digits = loadData({ data: 'digits' });
    const net = new Network(presetModel('mlp:4', [8, 8, 1], 10));
    const local = new LocalProblem(net, digits.train, 'ce', 512, { test: digits.test });
    const theta = Float64Array.from(initParams(net.layout, 1));
    t.true(Number.isNaN(await local.squaredError(theta, 'test')));
    t.is(local.stats.tasks, 0);
    t.true((await local.accuracy(theta, 'test')) > 0);
    await local.close();
    t.is(tf.memory().numTensors, before, 'no tensor leaked');
  },
);

const strip = (h: TrainIteration[]) => h.map(({ iterSeconds, elapsedSeconds, ...rest }) => rest);

test.serial(
  'train on friedman1 (mlp:16@tanh, mse): the same reports in-process and on 2 pool workers, R² improves, the log has RMSE and R²',
  async (t) => {
    const before = tf.memory().numTensors;
    const dir = tmp();
    const common = {
      data: 'friedman1',
      model: 'mlp:16@tanh',
      loss: 'mse' as const,
      iters: 4,
      backend: 'wasm' as const,
    };
    const a = await train({ ...common, workers: 0, log: join(dir, 'a.jsonl') });
    const b = await train({ ...common, workers: 2 });
    t.deepEqual(strip(b.history), strip(a.history), 'bit for bit');
    t.is(b.testRmse, a.testRmse);
    const first = a.history[0];
    const last = a.history.at(-1)!;
    t.true(last.testR2 > first.testR2, `R² ${first.testR2} → ${last.testR2}`);
    t.true(last.testR2 > 0.5, `R² ${last.testR2}`);
    t.true(a.history.every((h) => Number.isNaN(h.testAcc) && Number.isNaN(h.valRmse)));
    t.is(a.testRmse, last.testRmse, 'the final test RMSE is the last iteration’s');
    t.is(a.testR2, last.testR2);
    t.true(Number.isNaN(a.testAcc));
    const log = readJsonl(join(dir, 'a.jsonl'));
    t.is(log.length, 4);
    t.is(log[3].testRmse, last.testRmse);
    t.is(log[3].testR2, last.testR2);
    t.is(log[3].valRmse, null);
    t.is(log[3].testAcc, null);
    // a class run's record has none of these fields
    const classRecord = logRecord({ ...last, testAcc: 0.5, testRmse: NaN, testR2: NaN });
    t.false('testRmse' in classRecord || 'valR2' in classRecord);
    t.is(tf.memory().numTensors, before, 'no tensor leaked');
  },
);

test.serial(
  'with a validation split the best model is the one of lowest validation RMSE; `eval` prints RMSE and R², no confusion matrix',
  async (t) => {
    const before = tf.memory().numTensors;
    const dir = tmp();
    const r = await train({
      data: 'friedman1',
      model: 'mlp:16@tanh',
      loss: 'mse',
      iters: 5,
      valSplit: 0.2,
      workers: 0,
      backend: 'wasm',
      out: dir,
    });
    const rmse = r.history.map((h) => h.valRmse);
    t.true(rmse.every((v) => v > 0));
    t.true(r.history.every((h) => h.valR2 < 1 && Number.isNaN(h.valAcc)));
    const best = rmse.indexOf(Math.min(...rmse)) + 1;
    t.is(r.bestIter, best);
    t.is(tf.memory().numTensors, before, 'no tensor leaked');
    const evalArgs = [
      'eval',
      '--model',
      join(dir, 'last'),
      '--data',
      'friedman1',
      '--backend',
      'wasm',
    ];
    const out = cli(evalArgs);
    t.is(out.status, 0, out.stderr);
    const last = r.history.at(-1)!;
    t.is(
      out.stdout.trim(),
      `friedman1 test: 1000 samples, mse loss ${/loss (\S+),/.exec(out.stdout)![1]}, RMSE ${last.testRmse.toPrecision(4)} R² ${last.testR2.toFixed(4)}`,
    );
    t.notRegex(out.stdout, /true\\pred|accuracy/);
    const json = cli([...evalArgs, '--json']);
    t.is(json.status, 0, json.stderr);
    const rec = JSON.parse(json.stdout);
    t.deepEqual(Object.keys(rec), [
      'model',
      'data',
      'split',
      'lossKind',
      'samples',
      'loss',
      'rmse',
      'r2',
    ]);
    t.is(rec.rmse, last.testRmse, 'the same chunks and sums as training');
    t.is(rec.r2, last.testR2);
    // and the line a run prints per iteration, and at its end
    const train1 = cli([
      'train',
      '--data',
      'friedman1',
      '--model',
      'mlp:8@tanh',
      '--loss',
      'mse',
      '--iters',
      '2',
      '--workers',
      '0',
      '--backend',
      'wasm',
    ]);
    t.is(train1.status, 0, train1.stderr);
    const lines = train1.stdout.trim().split('\n');
    t.regex(lines[0], /^iter +1 .* test RMSE \d+\.\d+ R² -?\d\.\d{4}$/);
    t.regex(lines.at(-1)!, /^test RMSE \d+\.\d+ R² -?\d\.\d{4} after 2 iterations, /);
  },
);

test.serial(
  'newtonFit with a real-valued y [n, 1] and loss mse: RMSE and R² in the result and the logs; ce refuses it in one line',
  async (t) => {
    const before = tf.memory().numTensors;
    const f = loadData({ data: 'friedman1', trainSamples: 800 });
    const x = tf.tensor2d(f.train.x, [800, 10]);
    const y = tf.tensor2d(f.train.targets!, [800, 1]);
    const xt = tf.tensor2d(f.test.x, [f.test.n, 10]);
    const yt = tf.tensor2d(f.test.targets!, [f.test.n, 1]);
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [10], units: 8, activation: 'tanh' }),
        tf.layers.dense({ units: 1 }),
      ],
    });
    const { history, result } = await newtonFit(model, x, y, {
      loss: 'mse',
      epochs: 4,
      C: 1,
      workers: 0,
      backend: 'wasm',
      validationData: [xt, yt],
      testData: [xt, yt],
    });
    t.is(history.val_rmse.length, 4);
    t.is(history.val_r2.at(-1), result.history.at(-1)!.valR2);
    t.is(history.test_rmse.at(-1), result.testRmse);
    t.true(history.val_r2.at(-1)! > history.val_r2[0], `${history.val_r2}`);
    t.false('val_acc' in history || 'test_acc' in history);
    // the model is trained in place: its predictions give the reported RMSE
    const pred = model.predict(xt) as tf.Tensor;
    const sse = tf.tidy(() => tf.sum(tf.square(tf.sub(pred, yt))).dataSync()[0]);
    pred.dispose();
    t.true(
      Math.abs(Math.sqrt(sse / f.test.n) - result.testRmse) <= 1e-4 * result.testRmse,
      `${Math.sqrt(sse / f.test.n)} ${result.testRmse}`,
    );
    await t.throwsAsync(newtonFit(model, x, y, { epochs: 1, workers: 0, backend: 'wasm' }), {
      instanceOf: UsageError,
      message:
        "newtonFit: row 0 of y is not one-hot (one 1, the rest 0): loss 'ce' takes one-hot rows or class labels; for real-valued y [samples, outputs] give loss 'mse' or 'bce'",
    });
    // a one-hot y is still class labels with mse (accuracy, no RMSE)
    const labels = tf.tensor1d(
      Int32Array.from({ length: 800 }, (_, i) => (f.train.targets![i] > 14 ? 1 : 0)),
      'int32',
    );
    const oneHot = tf.oneHot(labels, 2);
    const classifier = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [10], units: 2 })],
    });
    const c = await newtonFit(classifier, x, oneHot, {
      loss: 'mse',
      epochs: 1,
      workers: 0,
      backend: 'wasm',
      testData: [x, oneHot],
    });
    t.true(c.result.testAcc >= 0 && c.result.testAcc <= 1, `${c.result.testAcc}`);
    t.true(Number.isNaN(c.result.testRmse));
    tf.dispose([x, y, xt, yt, labels, oneHot]);
    model.dispose();
    classifier.dispose();
    t.is(tf.memory().numTensors, before, 'no tensor leaked');
  },
);

test('the train help says what --targets takes, within 76 columns', (t) => {
  const out = cli(['train', '--help']);
  t.is(out.status, 0, out.stderr);
  t.regex(out.stdout, /--targets WHAT/);
  t.regex(out.stdout, /friedman1 \(regression/);
  for (const key of ['targets', 'data', 'val'] as const)
    for (const line of NEWTON_OPTIONS[key].help!.split('\n'))
      t.true(line.length <= 76, `${key}: ${line.length} characters: ${line}`);
  const readme = readFileSync('README.md', 'utf8');
  t.true(readme.includes('### Regression and autoencoders'));
  t.true(readme.includes('`--targets=-2,-1`'));
});
