/**
 * An exported model takes the raw inputs, as the data files hold them, and predicts what
 * `eval` predicts, sample by sample, in a separate process that imports nothing but
 * @tensorflow/tfjs (test/helpers/predict-plain.mjs); the preprocessing travels with the
 * model (in its first layers and its metadata) and with the checkpoint, so eval and
 * resume use the run's preprocessing, not one recomputed from whatever data they get.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { ChunkEvaluator } from '../src/autodiff/evaluator.ts';
import { initBackend } from '../src/backend/select.ts';
import { DIGITS_SCALE, readDigits } from '../src/data/digits.ts';
import { loadData } from '../src/data/load.ts';
import { loadModel } from '../src/model/keras.ts';
import { Network } from '../src/model/network.ts';
import type { ModelSpec } from '../src/model/spec.ts';
import { train } from '../src/run/train.ts';

const CNN: ModelSpec = {
  inputShape: [8, 8, 1],
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' },
    { type: 'maxpool' },
    { type: 'flatten' },
    { type: 'dense', units: 10, activation: 'linear' },
  ],
};

for (const [name, model] of [
  ['an MLP', 'mlp:32'],
  ['a CNN (conv same, pool)', CNN],
] as const) {
  test.serial(
    `${name} exported by train predicts raw digits exactly as eval, in plain tfjs`,
    async (t) => {
      await initBackend('wasm');
      const out = mkdtempSync(join(tmpdir(), 'tn-export-'));
      const r = await train({
        data: 'digits',
        model,
        C: 1,
        iters: 6,
        workers: 0,
        backend: 'wasm',
        out,
      });
      t.true(r.testAcc > 0.8, `test accuracy ${r.testAcc}`);

      // what eval computes: the saved model on data preprocessed as the model says
      const saved = loadModel(join(out, 'last'));
      t.is(saved.preprocessing?.scale, DIGITS_SCALE);
      t.is(saved.preprocessing?.mean.length, 64);
      const sets = loadData({ data: 'digits', preprocessing: saved.preprocessing });
      const before = tf.memory().numTensors;
      const ev = new ChunkEvaluator(new Network(saved.spec), saved.loss);
      ev.setParams(saved.theta);
      const want = ev.predict(sets.test);
      ev.dispose();
      t.is(tf.memory().numTensors, before, 'tensors leaked');
      const correct = want.reduce((a, c, i) => a + (c === sets.test.labels[i] ? 1 : 0), 0);
      t.is(
        correct / sets.test.n,
        r.testAcc,
        'eval-style predictions give the accuracy train reported',
      );

      // plain tfjs on the raw pixels (0..16), no preprocessing by the caller
      const raw = readDigits().test;
      const inputs = join(out, 'raw.json');
      writeFileSync(inputs, JSON.stringify({ shape: [raw.n, 8, 8, 1], x: [...raw.x] }));
      const p = spawnSync(
        process.execPath,
        ['test/helpers/predict-plain.mjs', join(out, 'last'), inputs],
        { encoding: 'utf8', timeout: 120_000 },
      );
      t.is(p.status, 0, p.stderr);
      const got = JSON.parse(p.stdout) as { classes: number[]; logits: number[][] };
      t.is(got.classes.length, raw.n);
      const differ = got.classes.map((c, i) => (c === want[i] ? -1 : i)).filter((i) => i >= 0);
      t.deepEqual(differ, [], `samples whose class differs from eval's: ${differ.join(', ')}`);
    },
  );
}

test.serial(
  "eval uses the model's preprocessing, not one recomputed from the data it is given",
  async (t) => {
    await initBackend('wasm');
    const out = mkdtempSync(join(tmpdir(), 'tn-export-'));
    await train({
      data: 'digits',
      model: 'mlp:16',
      C: 1,
      iters: 2,
      workers: 0,
      backend: 'wasm',
      out,
    });
    const saved = loadModel(join(out, 'last'));
    // a validation split changes the training set, hence a recomputed mean; the model's does not change
    const own = loadData({
      data: 'digits',
      valSplit: 0.5,
      seed: 3,
      preprocessing: saved.preprocessing,
    });
    const fresh = loadData({ data: 'digits', valSplit: 0.5, seed: 3 });
    t.deepEqual([...own.preprocessing!.mean], [...saved.preprocessing!.mean]);
    t.notDeepEqual([...fresh.preprocessing!.mean], [...saved.preprocessing!.mean]);
    t.throws(
      () => loadData({ data: 'digits', preprocessing: { scale: 1, mean: new Float64Array(3) } }),
      {
        message: /the samples have 64 features, the model's preprocessing is for 3/,
      },
    );
  },
);
