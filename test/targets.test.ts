/**
 * Real-valued targets (Dataset.targets): the loss and its gradient against a float64
 * reference (mse and bce, every backend and test model; relative error ≤ 1e-4 for the
 * gradient, 1e-5 for the loss), a chunk of listed rows carries its rows' targets, the
 * Newton trajectory is bitwise the same in-process, on 2 pool workers and over NATS (the
 * targets travel through shared memory and the object store), `--targets inputs` makes an
 * autoencoder set, ce is refused with targets, and the Adam baseline trains on them. No
 * tensor is left behind.
 */
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { initBackend } from '../src/backend/select.ts';
import { batchTargets, chunkSamples, takeRows, type Dataset } from '../src/data/dataset.ts';
import { loadData } from '../src/data/load.ts';
import { PassEngine } from '../src/engine/engine.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { Rng } from '../src/rng.ts';
import { trainFirstOrder } from '../src/run/baseline.ts';
import { train } from '../src/run/train.ts';
import { NewtonCG, type NewtonSettings } from '../src/solver/newton.ts';
import type { GaussNewtonProblem } from '../src/solver/problem.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { NatsTransport } from '../src/transport/nats/coordinator.ts';
import { getDataset, putDataset } from '../src/transport/nats/datastore.ts';
import { PoolProblem } from '../src/transport/threads.ts';
import { MODELS } from './helpers/models.ts';
import {
  natsTestRule,
  startNatsServer,
  killNatsWorkers,
  startNatsWorker,
  type NatsWorkerProcess,
} from './helpers/nats-server.ts';
import { COMPUTE_BACKENDS } from './helpers/native.ts';
import { forward64, jacobian64, loss64, relErr } from './helpers/net64.ts';
import { sampleRows, syntheticData } from './helpers/synthetic.ts';
import { connect } from '@nats-io/transport-node';

/** `d` with float32-exact targets in [0, 1] (bce's range, fine for mse), labels all 0. */
function withTargets(d: Dataset, seed: number): Dataset {
  const rng = new Rng(seed);
  const targets = Float32Array.from({ length: d.n * d.numClasses }, () => rng.uniform());
  return { ...d, labels: new Int32Array(d.n), targets };
}

const N = 5;
for (const backend of ['cpu', ...COMPUTE_BACKENDS] as const)
  for (const [name, spec] of Object.entries(MODELS))
    for (const loss of ['mse', 'bce'] as const)
      test.serial(
        `targets: loss and gradient against float64 finite differences: ${name}, ${loss}, ${backend}`,
        async (t) => {
          await initBackend(backend);
          const before = tf.memory().numTensors;
          const net = new Network(spec);
          const data = withTargets(syntheticData(N, spec.inputShape, net.outputSize, 12), 3);
          const k = net.outputSize;
          const y = (i: number) => data.targets!.subarray(i * k, (i + 1) * k);
          const theta = Float64Array.from(initParams(net.layout, 4));
          const rows = sampleRows(data);
          const problem = new LocalProblem(net, data, loss, 3);
          const { loss: f, grad } = await problem.lossAndGradient(theta);
          const f64 =
            rows.reduce((s, x, i) => s + loss64(loss, forward64(spec, theta, x), y(i)), 0) / N;
          t.true(Math.abs(f - f64) <= 1e-5 * Math.max(1, Math.abs(f64)), `loss ${f} vs ${f64}`);
          t.true(Math.abs((await problem.loss(theta)) - f) <= 1e-6 * Math.max(1, Math.abs(f)));
          // (1/n) Σ Jᵢᵀ ∂ξ/∂z, ∂ξ/∂z by central differences of the float64 loss
          const want = new Float64Array(theta.length);
          rows.forEach((x, i) => {
            const z = forward64(spec, theta, x);
            const J = jacobian64(spec, theta, x);
            for (let o = 0; o < k; o++) {
              const e = Float64Array.from(z);
              e[o] += 1e-6;
              const lp = loss64(loss, e, y(i));
              e[o] -= 2e-6;
              const dz = (lp - loss64(loss, e, y(i))) / 2e-6;
              for (let p = 0; p < theta.length; p++) want[p] += (J[o][p] * dz) / N;
            }
          });
          const err = relErr(grad, want);
          t.true(err <= 1e-4, `gradient relative error ${err}`);
          await problem.close();
          t.is(tf.memory().numTensors, before, 'tensors leaked');
        },
      );

test('targets: listed rows and ranges carry their rows’ targets', (t) => {
  const d = withTargets(syntheticData(7, [3], 2, 1), 2);
  const rows = Int32Array.of(5, 0, 3);
  const taken = takeRows(d, rows);
  t.deepEqual(
    [...taken.targets!],
    [5, 0, 3].flatMap((r) => [d.targets![2 * r], d.targets![2 * r + 1]]),
  );
  t.deepEqual([...(batchTargets(d, rows) as Float32Array)], [...taken.targets!]);
  t.deepEqual([...chunkSamples(d, rows).targets!], [...taken.targets!]);
  const range = chunkSamples(d, { start: 2, end: 4 });
  t.deepEqual([...range.targets!], [...d.targets!.subarray(4, 8)]);
  // class data: labels, no targets
  const c = syntheticData(7, [3], 2, 1);
  t.is(takeRows(c, rows).targets, undefined);
  t.deepEqual([...batchTargets(c, rows)], [c.labels[5], c.labels[0], c.labels[3]]);
});

// ---------------------------------------------------------------- trajectories

const data = withTargets(syntheticData(120, [4, 4, 1], 16, 21), 8);
const net = new Network(presetModel('mlp:8@sigmoid', [4, 4, 1], 16));
const theta0 = Float64Array.from(initParams(net.layout, 2));
const BSIZE = 23;
const OPTIONS: NewtonSettings = { gnSize: 40, C: 1, seed: 5 };

async function trajectory(problem: GaussNewtonProblem, iters = 4) {
  const s = new NewtonCG(problem, theta0, OPTIONS);
  const out = [];
  for (let i = 0; i < iters; i++) {
    const { iterSeconds: _s, ...r } = await s.step();
    out.push(r);
  }
  return { reports: out, theta: [...s.params] };
}

test.serial(
  'targets: the bce trajectory is bitwise the same in-process and on 2 pool workers; f falls',
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const local = new LocalProblem(net, data, 'bce', BSIZE);
    const want = await trajectory(local);
    await local.close();
    t.true(want.reports.at(-1)!.f < want.reports[0].f, 'f fell');
    const pool = new PoolProblem(net, data, 'bce', { workers: 2, bsize: BSIZE, backend: 'wasm' });
    try {
      const got = await trajectory(pool);
      t.deepEqual(got.reports, want.reports);
      t.deepEqual(got.theta, want.theta);
    } finally {
      await pool.close();
    }
    // class labels in place of the targets: another trajectory (the targets were used)
    const labels = new LocalProblem(net, { ...data, targets: undefined }, 'bce', BSIZE);
    const other = await trajectory(labels, 1);
    await labels.close();
    t.notDeepEqual(other.reports[0].f, want.reports[0].f);
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
  },
);

const rule = natsTestRule();
const natsTest = rule.available ? test.serial : test.serial.skip;

natsTest(
  'targets over NATS: the object store round-trips them; 2 worker processes give the in-process trajectory, bit for bit',
  async (t) => {
    await initBackend('wasm');
    const server = await startNatsServer();
    const procs: NatsWorkerProcess[] = [];
    try {
      const nc = await connect({ servers: server.url });
      try {
        const digest = await putDataset(nc, data);
        const back = await getDataset(nc, digest);
        t.deepEqual([...back.targets!], [...data.targets!]);
        t.is(back.numClasses, 16);
        // a class set stays one without targets
        const classes = syntheticData(10, [3], 2, 4);
        t.is((await getDataset(nc, await putDataset(nc, classes))).targets, undefined);
      } finally {
        await nc.close();
      }
      for (let i = 0; i < 2; i++) procs.push(await startNatsWorker(server.url));
      const local = new LocalProblem(net, data, 'bce', BSIZE);
      const want = await trajectory(local);
      await local.close();
      const transport = await NatsTransport.open(net, data, 'bce', {
        url: server.url,
        onStatus: () => {},
        bsize: BSIZE,
        backend: 'wasm',
        gv: 'linearized',
      });
      const engine = new PassEngine(transport, {
        dim: net.numParams,
        numSamples: data.n,
        bsize: BSIZE,
      });
      try {
        const got = await trajectory(engine);
        t.deepEqual(got.reports, want.reports);
        t.deepEqual(got.theta, want.theta);
      } finally {
        await engine.close();
      }
    } finally {
      await killNatsWorkers(procs);
      await server.stop();
    }
  },
);

// ---------------------------------------------------------------- data and runs

test('--targets inputs: the samples scaled but not centred are the targets; --train-samples keeps the first N', (t) => {
  const plain = loadData({ data: 'digits' });
  const ae = loadData({ data: 'digits', targets: 'inputs', trainSamples: 100 });
  t.is(ae.train.n, 100);
  t.is(ae.train.numClasses, 64);
  t.is(ae.test.numClasses, 64);
  // raw / 16 = centred + mean, for the whole set and for its first 100 (centred by their own mean)
  const mean = plain.preprocessing!.mean;
  const aeMean = ae.preprocessing!.mean;
  for (const i of [0, 17, 1000, 99 * 64 + 63]) {
    const want = plain.train.x[i] + mean[i % 64];
    t.true(Math.abs(ae.train.targets![i] - want) <= 1e-6, `target ${i}`);
    t.true(Math.abs(ae.train.x[i] + aeMean[i % 64] - want) <= 1e-6, `input ${i}`);
    t.true(ae.train.targets![i] >= 0 && ae.train.targets![i] <= 1);
  }
  t.is(ae.test.targets!.length, ae.test.n * 64);
  t.throws(() => loadData({ data: 'digits', targets: 'pixels' }), {
    message: "unknown targets 'pixels': use labels or inputs",
  });
  t.throws(() => loadData({ data: 'digits', trainSamples: 0 }), {
    message: '--train-samples must be a positive integer, got 0',
  });
});

test.serial(
  'train on an autoencoder set: bitwise the same on 0 and 2 workers, f falls, test accuracy n/a; ce refused',
  async (t) => {
    const common = {
      data: 'digits',
      targets: 'inputs',
      trainSamples: 300,
      loss: 'bce' as const,
      model: 'mlp:16,4,16@sigmoid',
      iters: 3,
      C: 1e12,
      backend: 'wasm' as const,
    };
    const a = await train({ ...common, workers: 0 });
    const b = await train({ ...common, workers: 2 });
    const strip = (r: typeof a) => r.history.map(({ iterSeconds, elapsedSeconds, ...x }) => x);
    t.deepEqual(strip(b), strip(a));
    t.true(a.history.at(-1)!.f < a.history[0].f);
    t.true(Number.isNaN(a.history[0].testAcc));
    await t.throwsAsync(train({ ...common, loss: 'ce' }), {
      message: /loss ce is for class labels; for real-valued targets use --loss mse/,
    });
  },
);

test.serial('the Adam baseline trains on targets: f falls', async (t) => {
  const r = await trainFirstOrder({
    optim: 'adam',
    data: 'digits',
    targets: 'inputs',
    trainSamples: 200,
    loss: 'mse',
    model: 'mlp:8',
    C: 1e12,
    epochs: 3,
    lr: 1e-2,
    backend: 'wasm',
  });
  t.true(r.history.at(-1)!.f < r.history[0].f, `${r.history.map((h) => h.f)}`);
});
