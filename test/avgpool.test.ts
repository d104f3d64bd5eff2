/**
 * The `avgpool` layer unit (src/model/layers/avgpool.ts), on cpu, wasm and tensorflow
 * (where tfjs-node loads, see test/helpers/native.ts):
 * (a) avgPool and AvgPoolGrad against cpu, and the gradient of AvgPoolGrad it registers
 *     against the adjoint identity ⟨AvgPoolGrad(dy), w⟩ = ⟨dy, avgPool(w)⟩;
 * (b) Gv through the linearization against the float64 reference (≤ 1e-4) and the double
 *     VJP (≤ 1e-5), J v against the VJP of Jᵀ with respect to its seed, ⟨Jv, w⟩ = ⟨v, Jᵀw⟩,
 *     for every loss, both max-pooling routes;
 * (c) loss and gradient against float64 finite differences;
 * (d) Keras AveragePooling2D out and in, predictions checked in plain tfjs;
 * (e) shapes and refusals.
 * No test leaves a tensor behind.
 */
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Linearization, type PoolRoute } from '../src/autodiff/linearized.ts';
import { initBackend } from '../src/backend/select.ts';
import { initParams } from '../src/model/init.ts';
import { kerasModel, loadModel, saveModel, specFromKeras } from '../src/model/keras.ts';
import { avgpoolLayer } from '../src/model/layers/index.ts';
import { curvatureState, LOSSES } from '../src/model/losses/index.ts';
import { Network } from '../src/model/network.ts';
import { Rng } from '../src/rng.ts';
import { layoutOf, type ModelSpec } from '../src/model/spec.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { dot, evaluatorGv, onBackend } from './helpers/evaluator.ts';
import { loadWithTfjs } from './helpers/models.ts';
import { forward64, gaussNewton64, jacobian64, loss64, relErr } from './helpers/net64.ts';
import { COMPUTE_BACKENDS } from './helpers/native.ts';
import { randomVec, sampleRows, syntheticData } from './helpers/synthetic.ts';

const BACKENDS = ['cpu', ...COMPUTE_BACKENDS] as const;
await initBackend('cpu');
for (const b of COMPUTE_BACKENDS) await initBackend(b);

const MODELS: Record<string, ModelSpec> = {
  'conv relu, avgpool 2x2 on an odd input': {
    inputShape: [7, 7, 2],
    layers: [
      { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'avgpool', poolSize: 2 }, // 7 -> 3 (floor)
      { type: 'flatten' },
      { type: 'dense', units: 3, activation: 'linear' },
    ],
  },
  'avgpool first (no tangent), overlapping 3x3/2, conv sigmoid, avgpool': {
    inputShape: [9, 8, 1],
    layers: [
      { type: 'avgpool', poolSize: 3, strides: 2 }, // 9x8 -> 4x3
      { type: 'conv2d', filters: 2, kernelSize: 1, padding: 'valid', activation: 'sigmoid' },
      { type: 'avgpool', poolSize: 2 }, // 4x3 -> 2x1
      { type: 'flatten' },
      { type: 'dense', units: 3, activation: 'linear' },
    ],
  },
  'conv tanh, avgpool 2x2/1, max pooling after it': {
    inputShape: [6, 6, 2],
    layers: [
      { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' },
      { type: 'avgpool', poolSize: 2, strides: 1 }, // 6 -> 5
      { type: 'maxpool' }, // 5 -> 2
      { type: 'flatten' },
      { type: 'dense', units: 4, activation: 'linear' },
    ],
  },
};

const N = 5;

function rand(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
}

/** The values of f() computed in a tidy on `backend`. */
async function on(backend: string, f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const v = (await out.data()) as Float32Array;
  out.dispose();
  return v;
}

function maxErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 1e-6,
    err = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    err = Math.max(err, Math.abs(got[i] - want[i]));
  }
  return got.length === want.length ? err / scale : Infinity;
}

// (a) kernels

const POOLS = [
  { name: '2x2 stride 2, even', xs: [2, 8, 6, 3], p: 2, s: 2 },
  { name: '2x2 stride 2, odd (floor)', xs: [2, 7, 9, 3], p: 2, s: 2 },
  { name: '3x3 stride 2 (overlapping)', xs: [2, 7, 8, 2], p: 3, s: 2 },
  { name: '3x3 stride 3', xs: [2, 9, 10, 2], p: 3, s: 3 },
  { name: '2x2 stride 1', xs: [1, 5, 6, 2], p: 2, s: 1 },
];

const attrsOf = (p: number, s: number) =>
  ({
    filterSize: p,
    strides: s,
    pad: 'valid',
    dimRoundingMode: undefined,
  }) as unknown as tf.NamedAttrMap;

for (const { name, xs, p, s } of POOLS) {
  const x4 = (v: Float32Array, shape: number[]) =>
    tf.tensor4d(v, shape as [number, number, number, number]);
  const out = (n: number) => Math.floor((n - p) / s) + 1;
  const ys = [xs[0], out(xs[1]), out(xs[2]), xs[3]];

  test.serial(`avgPool and AvgPoolGrad against cpu: ${name}`, async (t) => {
    const x = rand(xs, 1),
      dy = rand(ys, 2);
    const fwd = () => tf.avgPool(x4(x, xs), p, s, 'valid');
    const grad = () =>
      tf.grad((a: tf.Tensor) =>
        tf.sum(tf.mul(tf.avgPool(a as tf.Tensor4D, p, s, 'valid'), x4(dy, ys))),
      )(x4(x, xs));
    const want = [await on('cpu', fwd), await on('cpu', grad)];
    for (const b of COMPUTE_BACKENDS) {
      await onBackend(t, b, async () => {
        const e = [maxErr(await on(b, fwd), want[0]), maxErr(await on(b, grad), want[1])];
        t.true(e[0] <= 1e-5 && e[1] <= 1e-5, `${b}: avgPool ${e[0]}, AvgPoolGrad ${e[1]}`);
      });
    }
  });

  for (const backend of BACKENDS) {
    test.serial(
      `the gradient of AvgPoolGrad is avgPool, its adjoint: ${name}, ${backend}`,
      async (t) => {
        await onBackend(t, backend, async () => {
          new Network(MODELS['conv relu, avgpool 2x2 on an odd input']); // registers the unit's gradients
          const x = x4(rand(xs, 3), xs),
            dy = x4(rand(ys, 4), ys),
            w = x4(rand(xs, 5), xs);
          const grad = (d: tf.Tensor) =>
            tf.engine().runKernel('AvgPoolGrad', { dy: d, input: x }, attrsOf(p, s)) as tf.Tensor;
          const [lhs] = await on(backend, () => tf.sum(tf.mul(grad(dy), w)));
          const [rhs] = await on(backend, () =>
            tf.sum(tf.mul(dy, tf.avgPool(w as tf.Tensor4D, p, s, 'valid'))),
          );
          t.true(
            Math.abs(lhs - rhs) <= 1e-4 * Math.max(1, Math.abs(rhs)),
            `⟨AvgPoolGrad(dy), w⟩ ${lhs} vs ⟨dy, avgPool(w)⟩ ${rhs}`,
          );
          const viaTape = await on(backend, () =>
            tf.grad((d: tf.Tensor) => tf.sum(tf.mul(grad(d), w)))(dy),
          );
          const direct = await on(backend, () => tf.avgPool(w as tf.Tensor4D, p, s, 'valid'));
          t.true(
            maxErr(viaTape, direct) <= 1e-5,
            `gradient of AvgPoolGrad: ${maxErr(viaTape, direct)}`,
          );
          tf.dispose([x, dy, w]);
        });
      },
    );
  }
}

// (b), (c) Gauss-Newton products and gradients

interface Case {
  spec: ModelSpec;
  net: Network;
  theta: Float64Array;
  v: Float64Array;
  w: Float64Array;
  data: ReturnType<typeof syntheticData>;
}

function makeCase(spec: ModelSpec): Case {
  const net = new Network(spec);
  const data = syntheticData(N, spec.inputShape, net.outputSize, 11);
  const theta = Float64Array.from(initParams(net.layout, 3), (x, i) =>
    Math.fround(x + 0.05 * Math.sin(i)),
  );
  return {
    spec,
    net,
    data,
    theta,
    v: randomVec(net.numParams, 5),
    w: randomVec(N * net.outputSize, 6),
  };
}

for (const backend of BACKENDS) {
  for (const [name, spec] of Object.entries(MODELS)) {
    for (const loss of LOSSES) {
      test.serial(
        `avgpool: linearized Gv = float64 JᵀBJv = double VJP: ${name}, ${loss}, ${backend}`,
        async (t) => {
          const c = makeCase(spec);
          await onBackend(t, backend, () => {
            const lin = evaluatorGv(c, loss, 'linearized');
            const dbl = evaluatorGv(c, loss, 'double-vjp');
            const want = gaussNewton64(spec, loss, c.theta, sampleRows(c.data), c.v);
            t.true(relErr(lin, want) <= 1e-4, `vs float64: ${relErr(lin, want)}`);
            t.true(relErr(lin, dbl) <= 1e-5, `vs double VJP: ${relErr(lin, dbl)}`);
            t.true(relErr(dbl, want) <= 1e-4, `double VJP vs float64: ${relErr(dbl, want)}`);
            t.true(dot(c.v, lin) >= 0, 'vᵀGv ≥ 0');
          });
        },
      );

      test.serial(
        `avgpool: loss and gradient against float64 finite differences: ${name}, ${loss}, ${backend}`,
        async (t) => {
          const c = makeCase(spec);
          await onBackend(t, backend, async () => {
            const problem = new LocalProblem(c.net, c.data, loss, 3);
            const { loss: f, grad } = await problem.lossAndGradient(c.theta);
            await problem.close();
            const rows = sampleRows(c.data);
            const f64 =
              rows.reduce(
                (s, x, i) => s + loss64(loss, forward64(spec, c.theta, x), c.data.labels[i]),
                0,
              ) / N;
            t.true(Math.abs(f - f64) <= 1e-5 * Math.max(1, Math.abs(f64)), `loss ${f} vs ${f64}`);
            const want = new Float64Array(c.theta.length);
            rows.forEach((x, i) => {
              const z = forward64(spec, c.theta, x);
              const J = jacobian64(spec, c.theta, x);
              for (let o = 0; o < z.length; o++) {
                const e = Float64Array.from(z);
                e[o] += 1e-6;
                const lp = loss64(loss, e, c.data.labels[i]);
                e[o] -= 2e-6;
                const dz = (lp - loss64(loss, e, c.data.labels[i])) / 2e-6;
                for (let p = 0; p < c.theta.length; p++) want[p] += (J[o][p] * dz) / N;
              }
            });
            t.true(relErr(grad, want) <= 1e-4, `gradient relative error ${relErr(grad, want)}`);
          });
        },
      );
    }

    for (const route of ['kernels', 'mask'] as PoolRoute[]) {
      test.serial(
        `avgpool: J v = seed-VJP of the linearization's Jᵀ, ⟨Jv, w⟩ = ⟨v, Jᵀw⟩: ${name}, pooling by ${route}, ${backend}`,
        async (t) => {
          const c = makeCase(spec);
          await onBackend(t, backend, () => {
            const params = c.net.unflatten(c.theta);
            const x = tf.tensor(c.data.x, [N, ...spec.inputShape]);
            const vt = c.net.unflatten(c.v);
            const wt = tf.tensor2d(Float32Array.from(c.w), [N, c.net.outputSize]);
            const lin = new Linearization(c.net, params, x, route);
            const jv = lin.jvp(vt);
            const ref = tf.tidy(() =>
              tf.grad(
                (u: tf.Tensor) =>
                  tf.addN(
                    lin.vjp(u as tf.Tensor2D).map((g, k) => tf.sum(tf.mul(g, vt[k]))),
                  ) as tf.Scalar,
              )(tf.zerosLike(jv)),
            );
            const jvA = jv.dataSync();
            t.true(
              relErr(jvA, ref.dataSync()) <= 1e-5,
              `J v vs seed VJP: ${relErr(jvA, ref.dataSync())}`,
            );
            const jtw = lin.vjp(wt);
            const flat = tf.tidy(() => tf.concat(jtw.map((g) => tf.reshape(g, [-1]))));
            const lhs = dot(jvA, c.w),
              rhs = dot(c.v, flat.dataSync());
            t.true(
              Math.abs(lhs - rhs) <=
                1e-5 * Math.max(Math.abs(lhs), Math.sqrt(dot(jvA, jvA) * dot(c.w, c.w))),
              `⟨Jv, w⟩ = ${lhs}, ⟨v, Jᵀw⟩ = ${rhs}`,
            );
            for (const loss of LOSSES) {
              const state = curvatureState(loss, lin.z);
              tf.dispose([...lin.gaussNewton(vt, loss, state), ...(state ? [state] : [])]);
            }
            lin.dispose();
            tf.dispose([jv, ref, ...jtw, flat, ...params, x, ...vt, wt]);
          });
        },
      );
    }
  }
}

// (d) Keras

for (const [name, spec] of Object.entries(MODELS)) {
  test.serial(
    `avgpool: model.json + weights.bin load in plain tfjs with the same predictions, and read back exactly: ${name}`,
    async (t) => {
      await onBackend(t, 'cpu', async () => {
        const net = new Network(spec);
        const theta = initParams(net.layout, 3).map((x, i) => x + 0.01 * Math.cos(i));
        const dir = mkdtempSync(join(tmpdir(), 'avgpool-'));
        await saveModel(dir, { spec, theta, loss: 'ce' });
        const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
        t.true(JSON.stringify(json.modelTopology).includes('"AveragePooling2D"'));
        const model = await loadWithTfjs(dir);
        const d = syntheticData(4, spec.inputShape, net.outputSize, 4);
        const x = tf.tensor(d.x, [4, ...spec.inputShape]);
        const theirs = tf.tidy(() => model.predict(x) as tf.Tensor);
        const ours = tf.tidy(() => net.forward(net.unflatten(theta), x));
        t.true(
          maxErr(theirs.dataSync(), ours.dataSync()) <= 1e-5,
          `predictions: ${maxErr(theirs.dataSync(), ours.dataSync())}`,
        );
        tf.dispose([x, theirs, ours]);
        model.dispose();
        const back = loadModel(dir);
        t.deepEqual(back.spec, spec);
        t.deepEqual(back.theta, theta);
        const km = kerasModel(spec);
        t.deepEqual(specFromKeras(km.toJSON(null, false)), spec);
        km.dispose();
      });
    },
  );
}

test.serial('avgpool: Keras AveragePooling2D settings are read or refused by name', async (t) => {
  await onBackend(t, 'cpu', () => {
    const topo = (pool: object) => {
      const m = tf.sequential({
        layers: [
          tf.layers.averagePooling2d({ inputShape: [8, 8, 1], ...pool }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 2 }),
        ],
      });
      const json = m.toJSON(null, false);
      m.dispose();
      return json;
    };
    t.deepEqual(specFromKeras(topo({ poolSize: 2 })).layers[0], { type: 'avgpool', poolSize: 2 });
    t.deepEqual(specFromKeras(topo({ poolSize: 3, strides: 1 })).layers[0], {
      type: 'avgpool',
      poolSize: 3,
      strides: 1,
    });
    t.throws(() => specFromKeras(topo({ poolSize: 2, padding: 'same' }), 'm.json'), {
      message:
        /^m\.json: layer 0 \(AveragePooling2D '.*'\): padding 'same' is not supported \(valid only\)$/,
    });
    t.throws(() => specFromKeras(topo({ poolSize: [2, 3] })), {
      message: /pool size 2x3 is not square/,
    });
    t.throws(() => specFromKeras(topo({ poolSize: 2, strides: [2, 1] })), {
      message: /strides 2x1 are not supported/,
    });
  });
});

// (e) layout

test('avgpool: shapes ⌊(n − p)/s⌋ + 1, no parameters, refusals', (t) => {
  const shape = (poolSize: number, strides?: number) =>
    layoutOf({
      inputShape: [9, 8, 2],
      layers: [{ type: 'avgpool', poolSize, strides }, { type: 'flatten' }],
    }).shapes[0];
  t.deepEqual(shape(2), [4, 4, 2]);
  t.deepEqual(shape(3, 2), [4, 3, 2]);
  t.deepEqual(shape(2, 1), [8, 7, 2]);
  t.is(layoutOf(MODELS['conv relu, avgpool 2x2 on an odd input']).params.length, 4);
  t.deepEqual(avgpoolLayer(), { type: 'avgpool', poolSize: 2 });
  t.deepEqual(avgpoolLayer(3, 1), { type: 'avgpool', poolSize: 3, strides: 1 });
  t.throws(() => layoutOf({ inputShape: [2, 2, 1], layers: [{ type: 'avgpool', poolSize: 3 }] }), {
    message: /^layer 0 \(avgpool\): a 3x3 pooling does not fit a 2x2 input$/,
  });
  t.throws(() => layoutOf({ inputShape: [8], layers: [{ type: 'avgpool', poolSize: 2 }] }), {
    message: /needs an \[H,W,C\] input/,
  });
  t.throws(() => layoutOf({ inputShape: [4, 4, 1], layers: [{ type: 'avgpool', poolSize: 0 }] }), {
    message: /pool size must be a positive integer, got 0/,
  });
});
