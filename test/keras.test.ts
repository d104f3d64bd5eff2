/** Export to and import from tfjs's Layers format, checked with plain tfjs. */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { initBackend } from '../src/backend/select.ts';
import { initParams } from '../src/model/init.ts';
import { kerasModel, loadModel, saveModel, specFromKeras } from '../src/model/keras.ts';
import { lossList } from '../src/model/losses/index.ts';
import { Network } from '../src/model/network.ts';
import type { ModelSpec } from '../src/model/spec.ts';
import { loadWithTfjs } from './helpers/models.ts';
import { syntheticData } from './helpers/synthetic.ts';

await initBackend('cpu');

const SPECS: Record<string, ModelSpec> = {
  mlp: {
    inputShape: [6],
    layers: [
      { type: 'dense', units: 5, activation: 'tanh' },
      { type: 'dense', units: 3, activation: 'linear' },
    ],
  },
  cnn: {
    inputShape: [7, 7, 2],
    layers: [
      { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'maxpool' },
      { type: 'conv2d', filters: 2, kernelSize: 3, padding: 'valid', activation: 'sigmoid' },
      { type: 'flatten' },
      { type: 'dense', units: 4, activation: 'linear' },
    ],
  },
  'strided cnn': {
    inputShape: [9, 8, 2],
    layers: [
      {
        type: 'conv2d',
        filters: 3,
        kernelSize: 3,
        padding: 'same',
        activation: 'tanh',
        strides: 2,
      },
      {
        type: 'conv2d',
        filters: 2,
        kernelSize: 3,
        padding: 'valid',
        activation: 'relu',
        strides: 2,
      },
      { type: 'flatten' },
      { type: 'dense', units: 4, activation: 'linear' },
    ],
  },
};

for (const [name, spec] of Object.entries(SPECS)) {
  test.serial(
    `${name}: model.json + weights.bin load in plain tfjs with the same predictions, and read back exactly`,
    async (t) => {
      const net = new Network(spec);
      const theta = initParams(net.layout, 3).map((x, i) => x + 0.01 * Math.cos(i));
      const dir = mkdtempSync(join(tmpdir(), 'km-'));
      await saveModel(dir, { spec, theta, loss: 'mse' });
      const model = await loadWithTfjs(dir);
      const d = syntheticData(5, spec.inputShape, net.outputSize, 4);
      const x = tf.tensor(d.x, [5, ...spec.inputShape]);
      const theirs = (model.predict(x) as tf.Tensor).dataSync();
      const params = net.unflatten(theta);
      const ours = net.forward(params, x).dataSync();
      t.is(theirs.length, ours.length);
      for (let i = 0; i < ours.length; i++)
        t.true(
          Math.abs(theirs[i] - ours[i]) <= 1e-5 * Math.max(1, Math.abs(ours[i])),
          `output ${i}: ${theirs[i]} vs ${ours[i]}`,
        );
      const back = loadModel(dir);
      t.deepEqual(back.spec, spec);
      t.deepEqual(back.theta, theta);
      t.is(back.loss, 'mse');
      tf.dispose([x, ...params]);
      model.dispose();
    },
  );
}

test.serial(
  'a model.toJSON() topology becomes a spec; unsupported layers and settings are refused by name',
  (t) => {
    const m = kerasModel(SPECS.cnn);
    t.deepEqual(specFromKeras(m.toJSON(null, false)), SPECS.cnn);
    m.dispose();
    const withDropout = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [4], units: 3 }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 2 }),
      ],
    });
    t.throws(() => specFromKeras(withDropout.toJSON(null, false), 'm.json'), {
      message: /^m\.json: layer 1 \(Dropout '.*'\): layer type Dropout is not supported/,
    });
    const strided = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, strides: [2, 1] }),
      ],
    });
    t.throws(() => specFromKeras(strided.toJSON(null, false)), {
      message: /strides 2x1 are not supported \(equal strides only\)/,
    });
    const stride1 = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, strides: 1 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2 }),
      ],
    });
    t.false(
      'strides' in specFromKeras(stride1.toJSON(null, false)).layers[0],
      'stride 1 is left out of the spec',
    );
    stride1.dispose();
    const softmax = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax' })],
    });
    t.throws(() => specFromKeras(softmax.toJSON(null, false)), {
      message: /activation 'softmax' is not supported/,
    });
    t.throws(() => specFromKeras({ class_name: 'Functional', config: {} }, 'f.json'), {
      message: /^f\.json: expected a Keras Sequential model/,
    });
    for (const m2 of [withDropout, strided, softmax]) m2.dispose();
  },
);

test.serial('a truncated weights.bin is a named error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'km-'));
  await saveModel(dir, {
    spec: SPECS.mlp,
    theta: initParams(new Network(SPECS.mlp).layout, 1),
    loss: 'ce',
  });
  const bin = readFileSync(join(dir, 'weights.bin'));
  writeFileSync(join(dir, 'weights.bin'), bin.subarray(0, bin.length - 8));
  t.throws(() => loadModel(dir), { message: /weights\.bin: byte \d+: truncated/ });
});

test.serial(
  'a model whose metadata names an unknown loss is refused, listing the losses',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'km-'));
    await saveModel(dir, {
      spec: SPECS.mlp,
      theta: initParams(new Network(SPECS.mlp).layout, 1),
      loss: 'ce',
    });
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    json.userDefinedMetadata.tfjsNewton.loss = 'hinge';
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    t.throws(() => loadModel(dir), {
      message: new RegExp(
        `model\\.json: the loss 'hinge' in its metadata is not one of ours \\(${lossList()}\\)$`,
      ),
    });
  },
);
