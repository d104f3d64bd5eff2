/**
 * The native backend (tfjs-node) end to end, one TensorFlow context per pool worker:
 * the same trajectory bit for bit in-process and with 1 or 2 workers, for an MLP, a CNN
 * simpleNN's cnn4 with both losses, cnn7 and a Keras model.json import; a worker dying mid-Gv changes nothing; resume
 * continues the same run. Left out where tfjs-node is not installed (test/helpers/native.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { withFaults } from '../src/transport/faults.ts';
import test from 'ava';
import { initBackend } from '../src/backend/select.ts';
import type { TrainTest } from '../src/data/dataset.ts';
import { train, type TrainIteration, type TrainOptions } from '../src/run/train.ts';
import { WITH_NATIVE } from './helpers/native.ts';
import { syntheticData } from './helpers/synthetic.ts';

const nativeTest = WITH_NATIVE ? test.serial : test.serial.skip;

function dataOf(shape: number[], n: number, seed: number): TrainTest {
  return {
    name: 'synthetic',
    train: syntheticData(n, shape, 10, seed),
    test: syntheticData(60, shape, 10, seed + 1),
  };
}

/** Everything a run reports but its times, as its JSONL log holds it (NaN as null, as a resumed history has it). */
const trajectory = (h: TrainIteration[]) =>
  JSON.parse(JSON.stringify(h.map(({ iterSeconds: _s, elapsedSeconds: _e, ...rest }) => rest)));

await initBackend('cpu'); // kerasFile() below builds a tfjs model at load time

const CASES: { name: string; data: TrainTest; opts: TrainOptions }[] = [
  {
    name: 'mlp:32,16, ce',
    data: dataOf([8, 8, 1], 300, 1),
    opts: { model: 'mlp:32,16', loss: 'ce', C: 1, bsize: 64, gnSize: 100 },
  },
  {
    name: 'a small CNN (conv, pool, conv, pool, dense), mse',
    data: dataOf([12, 12, 1], 200, 2),
    opts: {
      model: {
        inputShape: [12, 12, 1],
        layers: [
          { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' },
          { type: 'maxpool' },
          { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'valid', activation: 'relu' },
          { type: 'maxpool' },
          { type: 'flatten' },
          { type: 'dense', units: 10, activation: 'linear' },
        ],
      },
      loss: 'mse',
      bsize: 48,
      gnSize: 90,
    },
  },
  {
    name: 'cnn4 (simpleNN) on 28x28, ce',
    data: dataOf([28, 28, 1], 96, 3),
    opts: { model: 'cnn4', loss: 'ce', bsize: 40, gnSize: 48 },
  },
  {
    name: 'cnn4 (simpleNN) on 28x28, mse',
    data: dataOf([28, 28, 1], 96, 4),
    opts: { model: 'cnn4', loss: 'mse', bsize: 40, gnSize: 48 },
  },
  {
    name: 'cnn7 on 28x28, ce',
    data: dataOf([28, 28, 1], 64, 5),
    opts: { model: 'cnn7', loss: 'ce', bsize: 24, gnSize: 40 },
  },
  {
    name: 'a Keras model.json import (conv valid, pool, dense tanh), mse',
    data: dataOf([10, 10, 1], 120, 6),
    opts: { model: kerasFile(), loss: 'mse', bsize: 50, gnSize: 60 },
  },
];

/** A Keras/tfjs Sequential topology written to a file, as a user would bring one. */
function kerasFile(): string {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      inputShape: [10, 10, 1],
      filters: 3,
      kernelSize: 3,
      padding: 'valid',
      activation: 'relu',
    }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 8, activation: 'tanh' }));
  m.add(tf.layers.dense({ units: 10 }));
  const file = join(mkdtempSync(join(tmpdir(), 'tn-native-')), 'model.json');
  writeFileSync(file, JSON.stringify(m.toJSON(null, false)));
  m.dispose();
  return file;
}

for (const c of CASES) {
  nativeTest(
    `tensorflow: ${c.name}: the same trajectory in-process and on 1 and 2 workers`,
    async (t) => {
      await initBackend('tensorflow');
      const before = tf.memory().numTensors;
      const run = (workers: number) =>
        train({ ...c.opts, data: c.data, iters: 3, seed: 5, workers, backend: 'tensorflow' });
      const local = await run(0);
      t.is(local.backend, 'tensorflow');
      t.is(local.history.length, 3);
      t.true(
        local.history.every((h) => Number.isFinite(h.f)) && local.history[2].f < local.history[0].f,
        'the objective decreases',
      );
      for (const w of [1, 2]) {
        const r = await run(w);
        t.is(r.workers, w);
        t.deepEqual(trajectory(r.history), trajectory(local.history), `${w} workers`);
        t.deepEqual([...r.params], [...local.params], `${w} workers: θ`);
      }
      t.is(tf.memory().numTensors, before, 'tensors leaked in the main thread');
    },
  );
}

nativeTest(
  'tensorflow: a worker that dies in a Gv pass, and a run resumed from its checkpoint, change nothing',
  async (t) => {
    const c = CASES[1];
    const base = { ...c.opts, data: c.data, seed: 6, workers: 2, backend: 'tensorflow' as const };
    const want = await train({ ...base, iters: 4 });
    // θ version 2: Gv chunk 1 of the second iteration; the worker exits (its native context dies with it)
    const faulty = await train(
      withFaults(
        { ...base, iters: 4 },
        { kind: 'Gv', chunk: 1, attempts: 1, mode: 'exit', fromThetaVersion: 2 },
      ),
    );
    t.deepEqual(trajectory(faulty.history), trajectory(want.history));
    const out = mkdtempSync(join(tmpdir(), 'tn-native-'));
    await train({ ...base, iters: 2, out });
    const resumed = await train({ ...base, iters: 4, resume: out });
    t.deepEqual(trajectory(resumed.history), trajectory(want.history));
    t.deepEqual([...resumed.params], [...want.params]);
  },
);
