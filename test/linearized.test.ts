/**
 * The linearized Gauss-Newton product (src/autodiff/linearized.ts), on cpu, wasm and
 * tensorflow, both pooling routes:
 * (a) Gv against the float64 reference (relative error ≤ 1e-4);
 * (b) Gv against the double-VJP product (≤ 1e-5);
 * (c) the forward sweep's J v against the VJP of its own backward sweep with respect to
 *     the seed, and ⟨Jv, w⟩ = ⟨v, Jᵀw⟩ (≤ 1e-5);
 * (d) no tensor left behind by prepare + products + release (every test).
 * tensorflow: where tfjs-node is installed or required (test/helpers/native.ts).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { ChunkEvaluator, type GvMethod } from '../src/autodiff/evaluator.ts';
import { lossAndGradient } from '../src/autodiff/gauss-newton.ts';
import { Linearization, poolArgmaxMask, type PoolRoute } from '../src/autodiff/linearized.ts';
import { Rng } from '../src/rng.ts';
import { initBackend } from '../src/backend/select.ts';
import type { Dataset } from '../src/data/dataset.ts';
import { curvatureState, LOSSES } from '../src/model/losses/index.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { layoutOf, type ModelSpec } from '../src/model/spec.ts';
import { dot, evaluatorGv, onBackend } from './helpers/evaluator.ts';
import { gaussNewton64, relErr } from './helpers/net64.ts';
import { MODELS, TIES_MODEL } from './helpers/models.ts';
import { COMPUTE_BACKENDS } from './helpers/native.ts';
import { randomVec, sampleRows, syntheticData } from './helpers/synthetic.ts';

const BACKENDS = ['cpu', ...COMPUTE_BACKENDS] as const;
const ROUTES: PoolRoute[] = ['kernels', 'mask'];
const N = 5;

interface Case {
  spec: ModelSpec;
  data: Dataset;
  theta: Float64Array; // float32-exact
  v: Float64Array;
  w: Float64Array; // an output-space vector, [N, outputs]
}

function makeCase(spec: ModelSpec, ties: boolean): Case {
  const net = new Network(spec);
  const data = syntheticData(N, spec.inputShape, net.outputSize, 11);
  const theta = Float64Array.from(initParams(net.layout, 3));
  for (let i = 0; i < theta.length; i++) theta[i] += Math.fround(0.05 * Math.sin(i)); // non-zero biases
  if (ties) tieParams(spec, data, theta);
  return {
    spec,
    data,
    theta: Float64Array.from(Float32Array.from(theta)),
    v: randomVec(net.numParams, 5),
    w: randomVec(N * net.outputSize, 6),
  };
}

/** Non-positive inputs and negative first biases (relu zeros), a zero first filter in the 1x1 conv. */
function tieParams(spec: ModelSpec, data: Dataset, theta: Float64Array): void {
  for (let i = 0; i < data.x.length; i++) data.x[i] = -Math.abs(data.x[i]);
  const blocks = layoutOf(spec).params;
  const bias0 = blocks[1];
  for (let j = 0; j < bias0.size; j++) theta[bias0.offset + j] = -0.3;
  const k2 = blocks[2]; // [1, 1, cin, 2]
  const cout = k2.shape[3];
  for (let j = 0; j < k2.size; j += cout) theta[k2.offset + j] = 0;
}

const cases: [string, ModelSpec, boolean][] = [
  ...Object.entries(MODELS).map(([name, spec]): [string, ModelSpec, boolean] => [
    name,
    spec,
    false,
  ]),
  ['ties: relu zeros and a constant channel into max pooling', TIES_MODEL, true],
];

for (const backend of BACKENDS) {
  for (const [name, spec, ties] of cases) {
    for (const loss of LOSSES) {
      test.serial(
        `linearized Gv = float64 JᵀBJv and = double VJP: ${name}, ${loss}, ${backend}`,
        async (t) => {
          const c = makeCase(spec, ties);
          await onBackend(t, backend, () => {
            const lin = evaluatorGv(c, loss, 'linearized');
            const dbl = evaluatorGv(c, loss, 'double-vjp');
            const e = relErr(lin, dbl);
            t.true(e <= 1e-5, `vs double VJP: relative error ${e}`);
            // at tied windows max pooling is not differentiable: the float64 central differences
            // average the one-sided slopes, whereas both tfjs routes take the argmax's
            if (!ties) {
              const want = gaussNewton64(spec, loss, c.theta, sampleRows(c.data), c.v);
              const e64 = relErr(lin, want);
              t.true(e64 <= 1e-4, `vs float64: relative error ${e64}`);
            }
            t.true(dot(c.v, lin) >= 0, 'vᵀGv ≥ 0');
          });
        },
      );
    }

    for (const route of ROUTES) {
      test.serial(
        `linearization: J v = seed-VJP of its Jᵀ, adjoint identity, Gv: ${name}, pooling by ${route}, ${backend}`,
        async (t) => {
          const c = makeCase(spec, ties);
          await onBackend(t, backend, () => {
            const net = new Network(spec);
            const params = net.unflatten(c.theta);
            const x = tf.tensor(c.data.x, [N, ...spec.inputShape]);
            const vt = net.unflatten(c.v);
            const wt = tf.tensor2d(Float32Array.from(c.w), [N, net.outputSize]);
            const lin = new Linearization(net, params, x, route);
            t.is(lin.poolRoute, route);
            const jv = lin.jvp(vt);
            // J v as the VJP, with respect to the seed u, of u ↦ ⟨Jᵀu, v⟩ (Jᵀ = this linearization's sweep)
            const ref = tf.tidy(() =>
              tf.grad(
                (u: tf.Tensor) =>
                  tf.addN(
                    lin.vjp(u as tf.Tensor2D).map((g, k) => tf.sum(tf.mul(g, vt[k]))),
                  ) as tf.Scalar,
              )(tf.zerosLike(jv)),
            );
            const jvA = jv.dataSync(),
              refA = ref.dataSync();
            const e = relErr(jvA, refA);
            t.true(e <= 1e-5, `J v vs seed VJP: relative error ${e}`);
            const jtw = lin.vjp(wt);
            const jtwFlat = tf.tidy(() => tf.concat(jtw.map((g) => tf.reshape(g, [-1]))));
            const jtwA = Float64Array.from(jtwFlat.dataSync());
            const lhs = dot(jvA, c.w),
              rhs = dot(c.v, jtwA);
            t.true(
              Math.abs(lhs - rhs) <=
                1e-5 * Math.max(Math.abs(lhs), Math.sqrt(dot(jvA, jvA) * dot(c.w, c.w))),
              `⟨Jv, w⟩ = ${lhs}, ⟨v, Jᵀw⟩ = ${rhs}`,
            );
            // the full product over all N rows against the double-VJP evaluator (mean over N)
            for (const loss of LOSSES) {
              const state = curvatureState(loss, lin.z);
              const gv = lin.gaussNewton(vt, loss, state);
              const flat = tf.tidy(() => tf.concat(gv.map((g) => tf.reshape(g, [-1]))));
              const got = Float64Array.from(flat.dataSync(), (a) => a / N);
              tf.dispose([flat, ...gv, ...(state ? [state] : [])]);
              const single = ((): Float64Array => {
                const ev = new ChunkEvaluator(net, loss, 'double-vjp');
                ev.setParams(c.theta);
                ev.prepareGaussNewton([c.data]);
                const [p] = ev.gaussNewton([0], c.v);
                ev.dispose();
                return Float64Array.from(p, (a) => a / N);
              })();
              const eg = relErr(got, single);
              t.true(eg <= 1e-5, `${loss}: Gv vs double VJP: relative error ${eg}`);
            }
            lin.dispose();
            lin.dispose(); // twice is harmless
            t.throws(() => lin.jvp(vt), { message: /after dispose/ });
            tf.dispose([jv, ref, ...jtw, jtwFlat, ...params, x, ...vt, wt]);
          });
        },
      );
    }
  }
}

for (const backend of BACKENDS) {
  test.serial(
    `the pooling mask marks the argmax of MaxPoolGrad, ties included: ${backend}`,
    async (t) => {
      await onBackend(t, backend, () => {
        const rng = new Rng(9);
        for (const shape of [
          [3, 6, 6, 2],
          [2, 7, 5, 3],
          [1, 3, 3, 1],
        ] as [number, number, number, number][]) {
          // values in {-1, 0, 1}: most windows tie, some entirely
          const size = shape.reduce((a, b) => a * b, 1);
          const x = tf.tensor(
            Float32Array.from({ length: size }, () => rng.int(3) - 1),
            shape,
          ) as tf.Tensor4D;
          const mask = poolArgmaxMask(x);
          const want = tf.tidy(() => {
            const y = tf.maxPool(x, 2, 2, 'valid');
            return tf
              .engine()
              .runKernel(
                'MaxPoolGrad',
                { dy: tf.onesLike(y), input: x, output: y },
                { filterSize: 2, strides: 2, pad: 'valid' },
              ) as tf.Tensor;
          });
          t.deepEqual(mask.shape, x.shape);
          t.deepEqual(Array.from(mask.dataSync()), Array.from(want.dataSync()), `shape [${shape}]`);
          tf.dispose([x, mask, want]);
        }
      });
    },
  );
}

test.serial('a linearization keeps working after the caller frees θ and the inputs', async (t) => {
  await onBackend(t, 'cpu', () => {
    const spec = MODELS['cnn same+valid, odd pool, sigmoid'];
    const c = makeCase(spec, false);
    const net = new Network(spec);
    const params = net.unflatten(c.theta);
    const x = tf.tensor(c.data.x, [N, ...spec.inputShape]);
    const vt = net.unflatten(c.v);
    const lin = new Linearization(net, params, x);
    const a = lin.jvp(vt);
    tf.dispose([...params, x]);
    const b = lin.jvp(vt);
    t.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
    lin.dispose();
    tf.dispose([a, b, ...vt]);
  });
});

test.serial('ChunkEvaluator rejects an unknown Gv method', async (t) => {
  await onBackend(t, 'cpu', () => {
    const spec = MODELS['mlp relu/tanh'];
    const net = new Network(spec);
    t.throws(() => new ChunkEvaluator(net, 'ce', 'forward' as GvMethod), {
      message: /unknown Gv method/,
    });
  });
});

for (const backend of BACKENDS) {
  for (const loss of LOSSES) {
    test.serial(
      `an MLP's loss and gradient by the backward sweep equal tfjs autodiff's, no tensor leaked: ${loss}, ${backend}`,
      async (t) => {
        await initBackend(backend);
        const spec = MODELS['mlp relu/tanh'];
        const c = makeCase(spec, false);
        const net = new Network(spec);
        const before = tf.memory().numTensors;
        const ev = new ChunkEvaluator(net, loss);
        ev.setParams(c.theta);
        const got = ev.lossAndGradient(c.data);
        const want = tf.tidy(() => {
          const params = net.unflatten(c.theta);
          const x = tf.tensor(c.data.x, [N, ...spec.inputShape]);
          const y = tf
            .oneHot(tf.tensor1d(c.data.labels, 'int32'), net.outputSize)
            .toFloat() as tf.Tensor2D;
          const { loss: l, grads } = lossAndGradient(net, params, x, y, loss);
          return [l, ...grads];
        });
        const wantGrad = Float32Array.from(want.slice(1).flatMap((g) => [...g.dataSync()]));
        const wantLoss = want[0].dataSync()[0];
        tf.dispose(want);
        t.true(
          Math.abs(got.loss - wantLoss) <= 1e-6 * Math.max(1, Math.abs(wantLoss)),
          `loss ${got.loss} vs ${wantLoss}`,
        );
        t.true(
          relErr(got.grad, wantGrad) <= 1e-5,
          `gradient relative error ${relErr(got.grad, wantGrad)}`,
        );
        ev.dispose();
        t.is(tf.memory().numTensors, before, 'tensors leaked');
      },
    );
  }
}
