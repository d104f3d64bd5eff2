import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { initBackend } from '../src/backend/select.ts';
import { initParams } from '../src/model/init.ts';
import { conv2dLayer, LAYERS } from '../src/model/layers/index.ts';
import { LOSSES, lossList, lossUnit } from '../src/model/losses/index.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { LAYER_TYPES, layoutOf, type LayerSpec } from '../src/model/spec.ts';
import { MODELS, TIES_MODEL } from './helpers/models.ts';
import { forward64, loss64, lossHessian64, relErr } from './helpers/net64.ts';
import { COMPUTE_BACKENDS } from './helpers/native.ts';
import { sampleRows, syntheticData } from './helpers/synthetic.ts';

test('cnn4 on 28x28x1: simpleNN shapes 28→14→7→3 and parameter count', (t) => {
  const L = layoutOf(presetModel('cnn4', [28, 28, 1], 10));
  t.deepEqual(
    L.shapes.map((s) => s.join('x')),
    ['28x28x32', '14x14x32', '14x14x64', '7x7x64', '7x7x64', '3x3x64', '576', '10'],
  );
  t.is(
    L.numParams,
    5 * 5 * 1 * 32 + 32 + 3 * 3 * 32 * 64 + 64 + 3 * 3 * 64 * 64 + 64 + 576 * 10 + 10,
  );
});

test('mlp presets flatten images and end with a linear layer of the classes', (t) => {
  const spec = presetModel('mlp:256,256', [28, 28, 1], 10);
  t.is(spec.layers[0].type, 'flatten');
  t.is(layoutOf(spec).numParams, 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  t.deepEqual(spec.layers.at(-1), { type: 'dense', units: 10, activation: 'linear' });
  t.is((presetModel('mlp:8@tanh', [4], 3).layers[0] as { activation: string }).activation, 'tanh');
});

test('bad model names and shapes are one-line errors', (t) => {
  t.throws(() => presetModel('mlp:0', [4], 3), {
    message: /hidden sizes must be positive integers/,
  });
  t.throws(() => presetModel('cnn4', [64], 10), { message: /needs image data of shape \[H,W,C\]/ });
  t.throws(() => presetModel('resnet', [4], 3), { message: /unknown model 'resnet'/ });
  t.throws(
    () =>
      layoutOf({
        inputShape: [8, 8, 1],
        layers: [
          { type: 'conv2d', filters: 2, kernelSize: 4, padding: 'same', activation: 'relu' },
        ],
      }),
    { message: /odd positive integer/ },
  );
  t.throws(
    () =>
      layoutOf({
        inputShape: [8, 8, 1],
        layers: [{ type: 'dense', units: 2, activation: 'relu' }],
      }),
    { message: /add a flatten layer/ },
  );
});

test('initialisation: N(0, 2/fan_in) weights, zero biases, same seed same network', (t) => {
  const L = layoutOf(presetModel('mlp:300', [400], 10));
  const a = initParams(L, 5),
    b = initParams(L, 5),
    c = initParams(L, 6);
  t.deepEqual(a, b);
  t.notDeepEqual(a, c);
  const W = L.params[0];
  let s = 0,
    s2 = 0;
  for (let i = 0; i < W.size; i++) {
    s += a[W.offset + i];
    s2 += a[W.offset + i] ** 2;
  }
  const variance = s2 / W.size - (s / W.size) ** 2;
  t.true(Math.abs(variance - 2 / 400) < 0.05 * (2 / 400), `variance ${variance}`);
  const bias = L.params[1];
  t.true(a.subarray(bias.offset, bias.offset + bias.size).every((v) => v === 0));
});

test('sparse initialisation: 15 nonzero N(0, 1) incoming weights per unit (all below 15), zero biases, seeded', (t) => {
  // a dense layer (kernel [in, out]), a small fan-in (8 < 15) and a conv kernel [k, k, c, out]
  const spec = {
    inputShape: [6, 6, 2],
    layers: [
      { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'valid', activation: 'tanh' },
      { type: 'flatten' },
      { type: 'dense', units: 40, activation: 'sigmoid' },
      { type: 'dense', units: 8, activation: 'sigmoid' },
      { type: 'dense', units: 5, activation: 'linear' },
    ],
  } as unknown as Parameters<typeof layoutOf>[0];
  const L = layoutOf(spec);
  const a = initParams(L, 3, 'sparse');
  t.deepEqual(a, initParams(L, 3, 'sparse'));
  t.notDeepEqual(a, initParams(L, 4, 'sparse'));
  const values: number[] = [];
  for (const p of L.params) {
    const block = a.subarray(p.offset, p.offset + p.size);
    if (p.role === 'bias') {
      t.true(
        block.every((v) => v === 0),
        p.name,
      );
      continue;
    }
    const units = p.shape[p.shape.length - 1];
    const inputs = p.size / units;
    t.is(inputs, p.fanIn, p.name);
    for (let j = 0; j < units; j++) {
      let nonzero = 0;
      for (let i = 0; i < inputs; i++) {
        const w = block[i * units + j];
        if (w !== 0) (nonzero++, values.push(w));
      }
      t.is(nonzero, Math.min(15, inputs), `${p.name} unit ${j}`);
    }
  }
  // N(0, 1): mean and variance of the ~700 drawn weights, 5 standard errors
  const n = values.length;
  const mean = values.reduce((x, y) => x + y, 0) / n;
  const variance = values.reduce((x, y) => x + (y - mean) ** 2, 0) / n;
  t.true(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean} of ${n}`);
  t.true(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance} of ${n}`);
  // the default stays simpleNN's
  t.deepEqual(initParams(L, 3), initParams(L, 3, 'he'));
});

test('strided convolutions: ⌈n/s⌉ outputs with same padding, ⌊(n − k)/s⌋ + 1 with valid; stride 1 is left out of specs', (t) => {
  const conv = (padding: 'same' | 'valid', strides: number) => ({
    type: 'conv2d' as const,
    filters: 2,
    kernelSize: 3,
    padding,
    activation: 'relu' as const,
    strides,
  });
  const shapes = (padding: 'same' | 'valid', strides: number) =>
    layoutOf({ inputShape: [9, 8, 1], layers: [conv(padding, strides), { type: 'flatten' }] })
      .shapes[0];
  t.deepEqual(shapes('same', 2), [5, 4, 2]);
  t.deepEqual(shapes('valid', 2), [4, 3, 2]);
  t.deepEqual(shapes('same', 3), [3, 3, 2]);
  t.deepEqual(shapes('valid', 3), [3, 2, 2]);
  t.false('strides' in conv2dLayer(2, 3, 'same', 'relu'));
  t.is(conv2dLayer(2, 3, 'same', 'relu', 2).strides, 2);
  t.throws(
    () => layoutOf({ inputShape: [9, 8, 1], layers: [conv('same', 0), { type: 'flatten' }] }),
    { message: /^layer 0 \(conv2d\) strides must be a positive integer, got 0$/ },
  );
  t.throws(() => layoutOf({ inputShape: [2, 2, 1], layers: [conv('valid', 2)] }), {
    message: /a 3x3 valid convolution does not fit a 2x2 input/,
  });
});

test('the registries: one unit per layer type and per loss, named in messages', (t) => {
  t.deepEqual(
    [...LAYER_TYPES],
    LAYERS.map((u) => u.type),
  );
  t.is(new Set(LAYERS.map((u) => u.kerasClass)).size, LAYERS.length);
  t.throws(
    () => layoutOf({ inputShape: [4], layers: [{ type: 'lstm' } as unknown as LayerSpec] }),
    { message: new RegExp(`^layer 0: unknown type 'lstm' \\(use ${LAYER_TYPES.join(', ')}\\)$`) },
  );
  t.is(
    lossList(),
    LOSSES.length === 2 ? `${LOSSES[0]} or ${LOSSES[1]}` : `one of ${LOSSES.join(', ')}`,
  );
  t.throws(() => lossUnit('hinge'), { message: `unknown loss 'hinge': use ${lossList()}` });
  for (const name of LOSSES) t.is(lossUnit(name).name, name);
});

test('every loss: its float64 B is the finite-difference Hessian of its float64 value, and the unit computes both (cpu), leak-free', async (t) => {
  await initBackend('cpu');
  const before = tf.memory().numTensors;
  const z = Float64Array.from([1.3, -0.4, 0.05, -2.2]);
  const y = 2;
  const oneHot = Float64Array.from(z, (_, k) => (k === y ? 1 : 0));
  const h = 1e-4;
  for (const kind of LOSSES) {
    const at = (d: number[]) =>
      loss64(
        kind,
        Float64Array.from(z, (v, k) => v + d[k]),
        y,
      );
    const B = lossHessian64(kind, z);
    const e = (k: number, s: number) => Array.from(z, (_, j) => (j === k ? s : 0));
    for (let i = 0; i < z.length; i++)
      for (let j = 0; j < z.length; j++) {
        const d = (si: number, sj: number) => e(i, si * h).map((v, k) => v + e(j, sj * h)[k]);
        const fd = (at(d(1, 1)) - at(d(1, -1)) - at(d(-1, 1)) + at(d(-1, -1))) / (4 * h * h);
        t.true(Math.abs(fd - B[i][j]) < 1e-5, `${kind} B[${i}][${j}]: ${B[i][j]} vs ${fd}`);
      }
    const u = lossUnit(kind);
    const w = Float64Array.from([0.7, -1.1, 0.2, 0.5]);
    const [sum, grad, Bw] = tf.tidy(() => {
      const zt = tf.tensor2d([...z], [1, 4]);
      const yt = tf.tensor2d([...oneHot], [1, 4]);
      const state = u.curvatureState(zt);
      const r = [u.sum(zt, yt), u.gradient(zt, yt), u.applyB(state, tf.tensor2d([...w], [1, 4]))];
      state?.dispose();
      return r.map((x) => x.dataSync().slice());
    });
    t.true(Math.abs(sum[0] - loss64(kind, z, y)) < 1e-5, `${kind} value`);
    for (let k = 0; k < z.length; k++) {
      const fd = (at(e(k, h)) - at(e(k, -h))) / (2 * h);
      t.true(Math.abs(grad[k] - fd) < 1e-4, `${kind} gradient ${k}: ${grad[k]} vs ${fd}`);
      const want = B[k].reduce((s, b, j) => s + b * w[j], 0);
      t.true(Math.abs(Bw[k] - want) < 1e-5, `${kind} Bw ${k}: ${Bw[k]} vs ${want}`);
    }
  }
  t.is(tf.memory().numTensors, before);
});

const N = 4;
for (const backend of ['cpu', ...COMPUTE_BACKENDS] as const) {
  test.serial(
    `every layer type's forward pass equals the float64 reference, no tensor left behind: ${backend}`,
    async (t) => {
      await initBackend(backend);
      const before = tf.memory().numTensors;
      for (const [name, spec] of Object.entries({ ...MODELS, ties: TIES_MODEL })) {
        const net = new Network(spec);
        const data = syntheticData(N, spec.inputShape, net.outputSize, 3);
        const theta = Float64Array.from(
          initParams(net.layout, 5),
          (x, i) => x + Math.fround(0.05 * Math.sin(i)),
        );
        const z = tf.tidy(() =>
          net.forward(net.unflatten(theta), tf.tensor(data.x, [N, ...spec.inputShape])),
        );
        const got = z.dataSync();
        z.dispose();
        const th32 = Float64Array.from(Float32Array.from(theta));
        const want = sampleRows(data).flatMap((x) => [...forward64(spec, th32, x)]);
        t.true(relErr(got, want) <= 1e-5, `${name}: relative error ${relErr(got, want)}`);
      }
      t.is(tf.memory().numTensors, before, 'tensors leaked');
    },
  );
}
