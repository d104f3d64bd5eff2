/**
 * The Gauss-Newton product by double VJP against an explicit float64 reference:
 * J by central differences of an independent float64 forward pass, B in closed form.
 * Tolerance: relative error ≤ 1e-4 (float32 arithmetic in tfjs). No tensor is left behind.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/select.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { LOSSES } from '../src/model/losses/index.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { MODELS } from './helpers/models.ts';
import { forward64, gaussNewton64, jacobian64, loss64, relErr } from './helpers/net64.ts';
import { COMPUTE_BACKENDS } from './helpers/native.ts';
import { randomVec, sampleRows, syntheticData } from './helpers/synthetic.ts';

const N = 5;
for (const backend of ['cpu', ...COMPUTE_BACKENDS] as const) {
  for (const [name, spec] of Object.entries(MODELS)) {
    for (const loss of LOSSES) {
      test.serial(`Gv = JᵀBJv: ${name}, ${loss}, ${backend}`, async (t) => {
        await initBackend(backend);
        const before = tf.memory().numTensors;
        const net = new Network(spec);
        const data = syntheticData(N, spec.inputShape, net.outputSize, 11);
        const theta = Float64Array.from(initParams(net.layout, 3));
        for (let i = 0; i < theta.length; i++) theta[i] += Math.fround(0.05 * Math.sin(i)); // non-zero biases
        const th32 = Float64Array.from(Float32Array.from(theta));
        const v = randomVec(net.numParams, 5);
        const problem = new LocalProblem(net, data, loss, 2); // chunks of 2: reduction over 3 chunks
        const all = Int32Array.from({ length: N }, (_, i) => i);
        const G = await problem.gaussNewton(th32, all);
        const got = await G.apply(v);
        await G.release();
        const want = gaussNewton64(spec, loss, th32, sampleRows(data), v);
        const err = relErr(got, want);
        t.true(err <= 1e-4, `relative error ${err}`);
        // vᵀGv ≥ 0 (G is positive semi-definite) for several random v
        for (let s = 0; s < 3; s++) {
          const w = randomVec(net.numParams, 100 + s);
          const G2 = await problem.gaussNewton(th32, all);
          const Gw = await G2.apply(w);
          await G2.release();
          t.true(w.reduce((a, wi, i) => a + wi * Gw[i], 0) >= 0);
        }
        await problem.close();
        t.is(tf.memory().numTensors, before, 'tensors leaked');
      });

      test.serial(
        `loss and gradient against float64 finite differences: ${name}, ${loss}, ${backend}`,
        async (t) => {
          await initBackend(backend);
          const before = tf.memory().numTensors;
          const net = new Network(spec);
          const data = syntheticData(N, spec.inputShape, net.outputSize, 12);
          const theta = Float64Array.from(initParams(net.layout, 4));
          const rows = sampleRows(data);
          const problem = new LocalProblem(net, data, loss, 3);
          const { loss: f, grad } = await problem.lossAndGradient(theta);
          const f64 = (th: Float64Array) =>
            rows.reduce((s, x, i) => s + loss64(loss, forward64(spec, th, x), data.labels[i]), 0) /
            N;
          t.true(
            Math.abs(f - f64(theta)) <= 1e-5 * Math.max(1, Math.abs(f64(theta))),
            `loss ${f} vs ${f64(theta)}`,
          );
          t.true(Math.abs((await problem.loss(theta)) - f) <= 1e-6 * Math.max(1, Math.abs(f)));
          // gradient by the chain rule through the FD Jacobian: (1/n) Σ Jᵢᵀ ∂ξ/∂z
          const want = new Float64Array(theta.length);
          rows.forEach((x, i) => {
            const z = forward64(spec, theta, x);
            const J = jacobian64(spec, theta, x);
            const dz = Array.from(z, (_, o) => {
              const e = Float64Array.from(z);
              e[o] += 1e-6;
              const lp = loss64(loss, e, data.labels[i]);
              e[o] -= 2e-6;
              return (lp - loss64(loss, e, data.labels[i])) / 2e-6;
            });
            for (let o = 0; o < z.length; o++)
              for (let p = 0; p < theta.length; p++) want[p] += (J[o][p] * dz[o]) / N;
          });
          const err = relErr(grad, want);
          t.true(err <= 1e-4, `gradient relative error ${err}`);
          await problem.close();
          t.is(tf.memory().numTensors, before, 'tensors leaked');
        },
      );
    }
  }
}
