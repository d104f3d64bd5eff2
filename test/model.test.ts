import test from 'ava';
import { initParams } from '../src/model/init.ts';
import { presetModel } from '../src/model/presets.ts';
import { layoutOf } from '../src/model/spec.ts';

test('cnn4 on 28x28x1: simpleNN shapes 28→14→7→3 and parameter count', (t) => {
  const L = layoutOf(presetModel('cnn4', [28, 28, 1], 10));
  t.deepEqual(L.shapes.map((s) => s.join('x')), ['28x28x32', '14x14x32', '14x14x64', '7x7x64', '7x7x64', '3x3x64', '576', '10']);
  t.is(L.numParams, 5 * 5 * 1 * 32 + 32 + 3 * 3 * 32 * 64 + 64 + 3 * 3 * 64 * 64 + 64 + 576 * 10 + 10);
});

test('mlp presets flatten images and end with a linear layer of the classes', (t) => {
  const spec = presetModel('mlp:256,256', [28, 28, 1], 10);
  t.is(spec.layers[0].type, 'flatten');
  t.is(layoutOf(spec).numParams, 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  t.deepEqual(spec.layers.at(-1), { type: 'dense', units: 10, activation: 'linear' });
  t.is((presetModel('mlp:8@tanh', [4], 3).layers[0] as { activation: string }).activation, 'tanh');
});

test('bad model names and shapes are one-line errors', (t) => {
  t.throws(() => presetModel('mlp:0', [4], 3), { message: /hidden sizes must be positive integers/ });
  t.throws(() => presetModel('cnn4', [64], 10), { message: /needs image data of shape \[H,W,C\]/ });
  t.throws(() => presetModel('resnet', [4], 3), { message: /unknown model 'resnet'/ });
  t.throws(() => layoutOf({ inputShape: [8, 8, 1], layers: [{ type: 'conv2d', filters: 2, kernelSize: 4, padding: 'same', activation: 'relu' }] }), { message: /odd positive integer/ });
  t.throws(() => layoutOf({ inputShape: [8, 8, 1], layers: [{ type: 'dense', units: 2, activation: 'relu' }] }), { message: /add a flatten layer/ });
});

test('initialisation: N(0, 2/fan_in) weights, zero biases, same seed same network', (t) => {
  const L = layoutOf(presetModel('mlp:300', [400], 10));
  const a = initParams(L, 5), b = initParams(L, 5), c = initParams(L, 6);
  t.deepEqual(a, b);
  t.notDeepEqual(a, c);
  const W = L.params[0];
  let s = 0, s2 = 0;
  for (let i = 0; i < W.size; i++) {
    s += a[W.offset + i];
    s2 += a[W.offset + i] ** 2;
  }
  const variance = s2 / W.size - (s / W.size) ** 2;
  t.true(Math.abs(variance - 2 / 400) < 0.05 * (2 / 400), `variance ${variance}`);
  const bias = L.params[1];
  t.true(a.subarray(bias.offset, bias.offset + bias.size).every((v) => v === 0));
});
