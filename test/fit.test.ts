/**
 * At home in tfjs: a caller's tf.LayersModel and tensors trained by Newton (newtonFit,
 * train, startTraining), tfjs's callbacks (earlyStopping, tf.node.tensorBoard, plain
 * objects), the TensorBoard option and flag, and the example. Every test that touches
 * tensors checks that none leaked and that the caller's tensors are alive.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test, { type ExecutionContext } from 'ava';
import { ChunkEvaluator } from '../src/autodiff/evaluator.ts';
import { initBackend } from '../src/backend/select.ts';
import { loadData } from '../src/data/load.ts';
import { UsageError } from '../src/errors.ts';
import { startTraining } from '../src/host/start.ts';
import { Network } from '../src/model/network.ts';
import { trainFirstOrder } from '../src/run/baseline.ts';
import { evaluate } from '../src/run/evaluate.ts';
import { newtonFit } from '../src/run/fit.ts';
import { fromTfjs } from '../src/run/prepare.ts';
import { train } from '../src/run/train.ts';
import { WITH_NATIVE } from './helpers/native.ts';

const BACKEND = WITH_NATIVE ? 'tensorflow' : 'wasm';
await initBackend(BACKEND);
const nativeTest = WITH_NATIVE ? test.serial : test.serial.skip;

const digits = loadData({ data: 'digits' });
const X = tf.tensor2d(digits.train.x, [digits.train.n, 64]);
const Y1H = tf.oneHot(tf.tensor1d(digits.train.labels, 'int32'), 10);
const XV = tf.tensor2d(digits.test.x, [digits.test.n, 64]);
const YV = tf.tensor1d(digits.test.labels, 'int32');
const DATA = [X, Y1H, XV, YV];

/** Dense relu → Dense softmax, what a tfjs user writes for categoricalCrossentropy. */
function mlp(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [64], units: 32, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}

/** A model's weights, flattened, as plain numbers. */
const weightsOf = (m: tf.LayersModel) => m.getWeights().flatMap((w) => Array.from(w.dataSync()));

/** No tensor leaked since `before` (the models disposed), and the caller's data is alive. */
function noLeak(t: ExecutionContext, before: number) {
  t.is(tf.memory().numTensors, before, 'no tensor leaked');
  t.true(
    DATA.every((d) => !d.isDisposed),
    "the caller's tensors are not disposed",
  );
}

const FAST = { C: 1, workers: 0, backend: BACKEND } as const;

test.serial(
  'newtonFit trains a tf.sequential in place: 95% validation accuracy, predict() agrees, a History',
  async (t) => {
    const before = tf.memory().numTensors;
    const model = mlp();
    const w0 = weightsOf(model);
    const h = await newtonFit(model, X, Y1H, { ...FAST, epochs: 15, validationData: [XV, YV] });
    t.deepEqual(h.epoch, [...Array(15).keys()]);
    for (const k of ['loss', 'val_loss', 'val_acc', 'f', 'gradNorm', 'lambda', 'cgIters'])
      t.is(h.history[k]?.length, 15, k);
    t.is(h.params.epochs, 15);
    t.is(h.params.samples, digits.train.n);
    t.true(h.params.doValidation);
    const valAcc = h.history.val_acc[14];
    t.true(valAcc >= 0.95, `val_acc ${valAcc}`);
    t.is(valAcc, h.result.history[14].valAcc);
    // the caller's model holds the last θ (in the layout's order), changed from its own start
    const w = weightsOf(model);
    t.deepEqual(w, Array.from(h.result.params));
    t.notDeepEqual(w, w0);
    // its predict() (softmax probabilities) agrees with our network (logits) at θ
    const net = new Network(fromTfjs({ model, loss: 'ce' }).options.model as never);
    const params = net.unflatten(h.result.params);
    const [gap, correct] = tf.tidy(() => {
      const p = model.predict(XV) as tf.Tensor2D;
      const q = tf.softmax(net.forward(params, XV));
      return [
        tf.max(tf.abs(tf.sub(p, q))).dataSync()[0],
        tf.sum(tf.cast(tf.equal(tf.argMax(p, 1), YV), 'int32')).dataSync()[0],
      ];
    });
    tf.dispose(params);
    t.true(gap < 1e-5, `predict differs by ${gap}`);
    t.is(correct / digits.test.n, valAcc);
    // loss is the mean training loss ξ (f less the regulariser), val_loss the validation's
    const ev = new ChunkEvaluator(net, 'ce');
    ev.setParams(h.result.params);
    const flat = { inputShape: [64] };
    const trainLoss = evaluate(ev, { ...digits.train, ...flat }, 1024).loss;
    const valLoss = evaluate(ev, { ...digits.test, ...flat }, 1024).loss;
    ev.dispose();
    t.true(
      Math.abs(h.history.loss[14] - trainLoss) < 1e-6,
      `${h.history.loss[14]} vs ${trainLoss}`,
    );
    t.true(h.history.loss[14] < h.history.f[14]);
    t.true(Math.abs(h.history.val_loss[14] - valLoss) < 1e-12);
    model.dispose();
    noLeak(t, before);
  },
);

test.serial(
  "a final sigmoid goes with loss 'bce' (one Bernoulli per output): trained on its logits, predict() agrees; with 'ce' refused",
  async (t) => {
    const before = tf.memory().numTensors;
    const sigmoidMlp = () =>
      tf.sequential({
        layers: [
          tf.layers.dense({ inputShape: [64], units: 32, activation: 'relu' }),
          tf.layers.dense({ units: 10, activation: 'sigmoid' }),
        ],
      });
    const model = sigmoidMlp();
    const h = await newtonFit(model, X, Y1H, {
      ...FAST,
      loss: 'bce',
      epochs: 10,
      validationData: [XV, YV],
    });
    t.true(h.history.val_acc[9] >= 0.9, `val_acc ${h.history.val_acc[9]}`);
    t.true(h.history.loss[9] < h.history.loss[0]);
    const net = new Network(fromTfjs({ model, loss: 'bce' }).options.model as never);
    const params = net.unflatten(h.result.params);
    const gap = tf.tidy(() => {
      const p = model.predict(XV) as tf.Tensor2D;
      return tf.max(tf.abs(tf.sub(p, tf.sigmoid(net.forward(params, XV))))).dataSync()[0];
    });
    tf.dispose(params);
    t.true(gap < 1e-5, `predict differs by ${gap}`);
    model.dispose();
    const refused = sigmoidMlp();
    await t.throwsAsync(newtonFit(refused, X, Y1H, { ...FAST, epochs: 1 }), {
      instanceOf: UsageError,
      message:
        /its last layer \(Dense '\w+'\): activation 'sigmoid' goes with loss 'bce' \(sigmoid cross-entropy, one Bernoulli per output\), not 'ce'/,
    });
    refused.dispose();
    noLeak(t, before);
  },
);

test.serial(
  "train({ model: LayersModel, data: tensors }) starts from the model's weights; labels or one-hot",
  async (t) => {
    const before = tf.memory().numTensors;
    const a = mlp();
    const b = mlp();
    b.setWeights(a.getWeights());
    const w0 = weightsOf(a);
    const seen: number[][] = [];
    const ra = await train({
      ...FAST,
      model: a,
      data: { x: X, y: Y1H, testX: XV, testY: YV },
      iters: 3,
      // every iteration's θ is on the model when the callbacks run
      callbacks: { onEpochEnd: () => void seen.push(weightsOf(a)) },
    });
    const labels = tf.tensor1d(digits.train.labels, 'float32');
    const rb = await train({ ...FAST, model: b, data: { x: X, y: labels }, iters: 3 });
    labels.dispose();
    // integer labels and one-hot rows are the same data; the start was the model's weights
    t.deepEqual(Array.from(rb.params), Array.from(ra.params));
    t.deepEqual(seen.at(-1), Array.from(ra.params));
    t.is(seen.length, 3);
    t.notDeepEqual(seen[0], w0);
    t.true(ra.testAcc > 0.5);
    t.true(Number.isNaN(rb.testAcc), 'no test tensors: no test accuracy');
    // a preset's seeded start differs
    const rc = await train({ ...FAST, model: 'mlp:32', data: { x: X, y: Y1H }, iters: 3 });
    t.notDeepEqual(Array.from(rc.params), Array.from(ra.params));
    a.dispose();
    b.dispose();
    noLeak(t, before);
  },
);

test.serial(
  'a layer Newton cannot differentiate twice is refused by name, with what is supported',
  async (t) => {
    const before = tf.memory().numTensors;
    const cases: [tf.layers.Layer[], RegExp][] = [
      [
        [
          tf.layers.dense({ inputShape: [64], units: 8, activation: 'relu' }),
          tf.layers.dropout({ rate: 0.5, name: 'drop' }),
          tf.layers.dense({ units: 10, activation: 'softmax' }),
        ],
        /layer 1 \(Dropout 'drop'\): layer type Dropout is not supported \(Dense, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, InputLayer are\)/,
      ],
      [
        [
          tf.layers.batchNormalization({ inputShape: [64], name: 'bn' }),
          tf.layers.dense({ units: 10 }),
        ],
        /layer 0 \(BatchNormalization 'bn'\): layer type BatchNormalization is not supported/,
      ],
      [
        [
          tf.layers.dense({ inputShape: [64], units: 8, activation: 'softmax', name: 'mid' }),
          tf.layers.dense({ units: 10 }),
        ],
        /layer 0 \(Dense 'mid'\): activation 'softmax' is not supported \(use relu, tanh, sigmoid, linear\)/,
      ],
    ];
    for (const [layers, message] of cases) {
      const model = tf.sequential({ layers });
      const w0 = weightsOf(model);
      const e = await t.throwsAsync(newtonFit(model, X, Y1H, { ...FAST, epochs: 1 }), {
        instanceOf: UsageError,
        message,
      });
      t.regex(e!.message, /^the model '\w+': /);
      t.deepEqual(weightsOf(model), w0, 'the model is left as it was');
      model.dispose();
    }
    const softmaxMse = mlp();
    await t.throwsAsync(newtonFit(softmaxMse, X, Y1H, { ...FAST, loss: 'mse', epochs: 1 }), {
      instanceOf: UsageError,
      message:
        /its last layer \(Dense '\w+'\): activation 'softmax' goes with loss 'ce' \(softmax cross-entropy\), not 'mse'/,
    });
    softmaxMse.layers[0].trainable = false;
    await t.throwsAsync(newtonFit(softmaxMse, X, Y1H, { ...FAST, epochs: 1 }), {
      instanceOf: UsageError,
      message: /layer '\w+': is frozen \(trainable: false\)/,
    });
    softmaxMse.dispose();
    noLeak(t, before);
  },
);

test.serial('bad arguments and options are TypeErrors naming them', async (t) => {
  const before = tf.memory().numTensors;
  const model = mlp();
  await t.throwsAsync(newtonFit(model, X, 'y' as never), {
    instanceOf: TypeError,
    message: "newtonFit: y must be a tensor, got 'y'",
  });
  await t.throwsAsync(newtonFit(model, X, Y1H, { validationData: [XV] as never }), {
    instanceOf: TypeError,
    message: 'newtonFit: validationData must be [x, y] tensors, got an array',
  });
  await t.throwsAsync(newtonFit(model, X, Y1H, { epochs: 2, iters: 3 }), {
    instanceOf: TypeError,
    message: /epochs \(2\) and iters \(3\) are the same setting/,
  });
  await t.throwsAsync(newtonFit(model, X, Y1H, { callbacks: { onEpochEnds: () => {} } as never }), {
    instanceOf: TypeError,
    message: "option 'callbacks': unknown callback 'onEpochEnds' (did you mean 'onEpochEnd'?)",
  });
  await t.throwsAsync(train({ model, data: { x: X } as never }), {
    instanceOf: TypeError,
    message:
      /option 'data' must be tensors \(\{ x, y, testX\?, testY\?, valX\?, valY\? \}\), got no x or no y/,
  });
  await t.throwsAsync(train({ model, data: { x: X, y: Y1H, testX: XV } as never }), {
    instanceOf: TypeError,
    message: /got testX without testY/,
  });
  await t.throwsAsync(trainFirstOrder({ optim: 'adam', model } as never), {
    instanceOf: TypeError,
    message: /trainFirstOrder does not take a tf.LayersModel/,
  });
  const bad = tf.tensor1d([0, 1, 12]);
  const x3 = tf.zeros([3, 64]);
  await t.throwsAsync(newtonFit(model, x3, bad, FAST), {
    instanceOf: UsageError,
    message:
      "data x, y: label 2 is 12: class labels must be integers in 0..9 (the model's outputs)",
  });
  tf.dispose([bad, x3]);
  model.dispose();
  noLeak(t, before);
});

test.serial(
  'tf.callbacks.earlyStopping stops the run; callbacks are called in tfjs order, awaited',
  async (t) => {
    const before = tf.memory().numTensors;
    const model = mlp();
    const calls: string[] = [];
    const h = await newtonFit(model, X, Y1H, {
      ...FAST,
      epochs: 10,
      validationData: [XV, YV],
      callbacks: [
        {
          onTrainBegin: async () => {
            await new Promise((r) => setTimeout(r, 5));
            calls.push('trainBegin');
          },
          onEpochBegin: (e: number) => void calls.push(`epochBegin ${e}`),
          onBatchEnd: (b: number, logs?: tf.Logs) => void calls.push(`batchEnd ${b} ${logs?.size}`),
          onEpochEnd: (e: number) => void calls.push(`epochEnd ${e}`),
          onTrainEnd: () => void calls.push('trainEnd'),
        },
        // val_loss must fall by 10 to count: the second epoch cannot, and patience is 1
        tf.callbacks.earlyStopping({ minDelta: 10, patience: 1 }),
      ],
    });
    const n = digits.train.n;
    t.deepEqual(calls, [
      'trainBegin',
      'epochBegin 0',
      `batchEnd 0 ${n}`,
      'epochEnd 0',
      'epochBegin 1',
      `batchEnd 0 ${n}`,
      'epochEnd 1',
      'trainEnd',
    ]);
    t.deepEqual(h.epoch, [0, 1]);
    t.is(h.result.history.length, 2);
    t.is(h.result.stopped, 'stopped by a callback (model.stopTraining) after iteration 2');
    t.deepEqual(weightsOf(model), Array.from(h.result.params));
    model.dispose();
    noLeak(t, before);
  },
);

test.serial(
  'callbacks on a run of a preset get a model of its own, disposed after the run',
  async (t) => {
    const before = tf.memory().numTensors;
    const stopper = tf.callbacks.earlyStopping({ monitor: 'loss', baseline: 0, patience: 2 });
    let units: number[] = [];
    const r = await train({
      ...FAST,
      data: 'digits',
      model: 'mlp:16',
      iters: 4,
      callbacks: [
        stopper,
        { onEpochEnd: () => void (units = stopper.model.outputs.map((o) => o.shape[1]!)) },
      ],
    });
    t.is(r.stopped, 'stopped by a callback (model.stopTraining) after iteration 2');
    t.true(stopper.model instanceof tf.LayersModel);
    t.deepEqual(units, [10]);
    t.deepEqual(
      stopper.model.layers.map((l) => l.getClassName()),
      ['Flatten', 'Dense', 'Dense'],
    );
    noLeak(t, before);
  },
);

/** The events files under `dir` and what they hold, as text. */
function events(dir: string): { files: string[]; text: string } {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) =>
    /events\.out\.tfevents/.test(f),
  );
  return {
    files,
    text: files.map((f) => readFileSync(join(dir, f)).toString('latin1')).join(''),
  };
}

nativeTest('tf.node.tensorBoard writes an events file per writer, unchanged', async (t) => {
  const tfn = (await import('@tensorflow/tfjs-node')) as unknown as {
    node: { tensorBoard(dir: string): never };
  };
  const before = tf.memory().numTensors;
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-newton-tb-'));
  const model = mlp();
  const h = await newtonFit(model, X, Y1H, {
    ...FAST,
    epochs: 3,
    validationData: [XV, YV],
    callbacks: tfn.node.tensorBoard(dir),
  });
  t.is(h.epoch.length, 3);
  // tfjs-node keeps each folder's summary writer for the process: 5 tensors each, once
  t.is(tf.memory().numTensors, before + model.weights.length + 2 * 5);
  const again = await newtonFit(model, X, Y1H, {
    ...FAST,
    epochs: 2,
    validationData: [XV, YV],
    callbacks: tfn.node.tensorBoard(dir),
  });
  t.is(again.epoch.length, 2);
  const train = events(join(dir, 'train'));
  const val = events(join(dir, 'val'));
  t.is(train.files.length, 1);
  t.is(val.files.length, 1);
  for (const tag of ['epoch_loss', 'epoch_gradNorm', 'epoch_cgIters'])
    t.true(train.text.includes(tag), tag);
  for (const tag of ['epoch_loss', 'epoch_acc']) t.true(val.text.includes(tag), tag);
  model.dispose();
  noLeak(t, before + 2 * 5);
});

nativeTest("the tensorboard option writes the run's scalars", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-newton-tbo-'));
  const before = tf.memory().numTensors;
  const r = await train({ ...FAST, data: 'digits', model: 'mlp:16', iters: 2, tensorboard: dir });
  t.is(r.history.length, 2);
  t.is(tf.memory().numTensors, before + 5, "tfjs-node's writer of the folder");
  const { files, text } = events(dir);
  t.is(files.length, 1);
  for (const tag of ['gradNorm', 'lambda', 'cgIters', 'testAcc']) t.true(text.includes(tag), tag);
  t.false(text.includes('valAcc'), 'no validation set: no valAcc');
});

test.serial('tensorboard on wasm is refused at once, before anything loads', async (t) => {
  const before = tf.memory().numTensors;
  await t.throwsAsync(
    train({ data: 'no-such-data', backend: 'wasm', tensorboard: join(tmpdir(), 'never') }),
    {
      instanceOf: UsageError,
      message:
        '--tensorboard needs the native backend (@tensorflow/tfjs-node): TensorBoard writing is not available on wasm',
    },
  );
  t.is(tf.memory().numTensors, before);
});

test.serial(
  "startTraining with a LayersModel: the thread trains, the caller's model gets the weights, callbacks run here",
  async (t) => {
    const before = tf.memory().numTensors;
    const a = mlp();
    const b = mlp();
    b.setWeights(a.getWeights());
    const options = { ...FAST, iters: 4, data: { x: X, y: Y1H, valX: XV, valY: YV } };
    const epochs: number[] = [];
    const handle = startTraining({
      ...options,
      model: a,
      workers: 1,
      callbacks: [
        { onEpochEnd: (e: number) => void epochs.push(e) },
        tf.callbacks.earlyStopping({ monitor: 'val_acc', minDelta: 1, patience: 2 }),
      ],
    });
    const r = await handle.result;
    t.is(await handle.exited, 0);
    t.deepEqual(epochs, [0, 1, 2]);
    t.is(r.stopped, 'stopped by a callback (model.stopTraining) after iteration 3');
    t.deepEqual(weightsOf(a), Array.from(r.params));
    // the same trajectory as in-process
    const h = await newtonFit(b, X, Y1H, { ...FAST, epochs: 3, validationData: [XV, YV] });
    t.deepEqual(Array.from(h.result.params), Array.from(r.params));
    a.dispose();
    b.dispose();
    noLeak(t, before);
  },
);

const cli = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });

nativeTest('--tensorboard DIR on the CLI writes events', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-newton-tbc-'));
  const r = cli([
    'train',
    '--model',
    'mlp:16',
    '--iters',
    '2',
    '--workers',
    '0',
    '--tensorboard',
    dir,
  ]);
  t.is(r.status, 0, r.stderr);
  const { files, text } = events(dir);
  t.is(files.length, 1);
  t.true(text.includes('gradNorm'));
});

test('--tensorboard on --backend wasm: one line, exit 2, nothing trained', (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'tfjs-newton-tbw-')), 'tb');
  const r = cli(['train', '--iters', '2', '--backend', 'wasm', '--tensorboard', dir]);
  t.is(r.status, 2);
  t.is(
    r.stderr,
    'tfjs-newton: --tensorboard needs the native backend (@tensorflow/tfjs-node): TensorBoard writing is not available on wasm\n',
  );
  t.false(/iter/.test(r.stdout));
  t.false(existsSync(dir));
});

nativeTest(
  'examples/tensorboard.mjs trains a tf.sequential with TensorBoard and early stopping',
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tfjs-newton-example-'));
    const r = spawnSync(process.execPath, ['examples/tensorboard.mjs', dir], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    t.is(r.status, 0, r.stderr);
    const acc = Number(/val_acc ([\d.]+)%/.exec(r.stdout)?.[1]);
    t.true(acc >= 95, r.stdout);
    const predicted = /model\.predict: ([\d.]+)%/.exec(r.stdout)?.[1];
    t.is(predicted, acc.toFixed(2), 'the model predicts what the run measured');
    t.is(events(join(dir, 'train')).files.length, 1);
    t.is(events(join(dir, 'val')).files.length, 1);
  },
);
