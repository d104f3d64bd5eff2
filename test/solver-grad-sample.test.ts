/**
 * `gradSample: 'norm-test'` (src/solver/remedies/grad-sample.ts): the engine's f and f+∇f
 * passes over a sample X equal the same passes over the data set made of X's rows (bit for
 * bit, in-process and on 1 and 2 pool workers, no tensor left), the solver's f, ∇f and
 * line search run on X with S its first |S| indices (against a dense float64 reference),
 * the norm test grows |X| as specified (against the per-sample variance computed
 * directly), the trajectory is bitwise the same in-process, on 2 pool workers and over
 * NATS, a resume through a checkpoint continues bit for bit, and 'full' draws nothing and
 * reports no sample.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { initBackend } from '../src/backend/select.ts';
import { LEGACY_METHOD_IDENTITY, loadCheckpoint, saveCheckpoint } from '../src/checkpoint.ts';
import { takeRows } from '../src/data/dataset.ts';
import { PassEngine } from '../src/engine/engine.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { Rng } from '../src/rng.ts';
import {
  methodIdentity,
  NewtonCG,
  resolveNewtonOptions,
  type IterationReport,
  type NewtonSettings,
} from '../src/solver/newton.ts';
import type {
  GaussNewtonProblem,
  LossAndGradient,
  LossAndGradientOptions,
  LossOptions,
} from '../src/solver/problem.ts';
import {
  firstSampleSize,
  nextSampleSize,
  sampleVariance,
} from '../src/solver/remedies/grad-sample.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { train } from '../src/run/train.ts';
import { NatsTransport } from '../src/transport/nats/coordinator.ts';
import { PoolProblem } from '../src/transport/threads.ts';
import {
  natsTestRule,
  startNatsServer,
  killNatsWorkers,
  startNatsWorker,
  type NatsWorkerProcess,
} from './helpers/nats-server.ts';
import { syntheticData } from './helpers/synthetic.ts';

// ---------------------------------------------------------------- the engine over a sample

const data = syntheticData(300, [6, 6, 1], 4, 21);
const net = new Network(presetModel('mlp:16', [6, 6, 1], 4));
const theta0 = Float64Array.from(initParams(net.layout, 2));
const BSIZE = 37;

test.serial(
  'f and f+∇f over a sample X are the passes over the data set of X’s rows, bit for bit, in-process and on 1, 2 workers; no tensor left',
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const x = new Rng(3).sample(data.n, 150); // 5 chunks of X, in the order drawn
    const s = x.subarray(0, 60);
    const ref = new LocalProblem(net, takeRows(data, x), 'ce', BSIZE);
    const want = await ref.lossAndGradient(theta0, { gradSquares: true });
    const wantLoss = await ref.loss(theta0);
    const v = Float64Array.from({ length: net.numParams }, (_, i) => Math.cos(i));
    const wantGv = await (
      await ref.gaussNewton(
        theta0,
        Int32Array.from({ length: 60 }, (_, i) => i),
      )
    ).apply(v);
    const wantAll = await ref.lossAndGradient(theta0);
    await ref.close();
    t.is(want.gradChunks, 5);
    const local = new LocalProblem(net, data, 'ce', BSIZE);
    const full = await local.lossAndGradient(theta0);
    const check = async (p: GaussNewtonProblem, what: string) => {
      const r = await p.lossAndGradient(theta0, { gradSquares: true, subset: x });
      t.is(r.loss, want.loss, what);
      t.deepEqual([...r.grad], [...want.grad], what);
      t.deepEqual([...r.gradSquares!], [...want.gradSquares!], what);
      t.is(r.gradChunks, 5, what);
      t.is(await p.loss(theta0, { subset: x }), wantLoss, what);
      // S, X's prefix, is X's published version (a new θ and S would do too)
      t.deepEqual([...(await (await p.gaussNewton(theta0, s)).apply(v))], [...wantGv], what);
      const plain = await p.lossAndGradient(theta0, { subset: x });
      t.deepEqual([...plain.grad], [...wantAll.grad], `${what}: without gradSquares`);
      // without a subset: every sample, as before
      const all = await p.lossAndGradient(theta0);
      t.is(all.loss, full.loss, what);
      t.deepEqual([...all.grad], [...full.grad], what);
    };
    await check(local, 'in-process');
    await local.close();
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
    for (const workers of [1, 2]) {
      const pool = new PoolProblem(net, data, 'ce', { workers, bsize: BSIZE, backend: 'wasm' });
      try {
        await check(pool, `${workers} workers`);
      } finally {
        await pool.close();
      }
    }
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
  },
);

// ---------------------------------------------------------------- a dense reference

/**
 * Binary logistic regression in float64 loops (as test/helpers/logistic.ts) that takes a
 * sample: the engine's definitions (chunks of bsize indices of X, gradSquares over |X|),
 * and a record of every pass the solver asked for.
 */
function denseLogistic(l: number, dim: number, bsize: number) {
  const rng = new Rng(17);
  const X = Array.from({ length: l }, () => Float64Array.from({ length: dim }, () => rng.normal()));
  const w = Float64Array.from({ length: dim }, () => rng.normal());
  const y = X.map((xi) => (xi.reduce((s, a, j) => s + a * w[j], 0) + rng.normal() > 0 ? 1 : -1));
  const margin = (th: Float64Array, i: number) => y[i] * X[i].reduce((s, a, j) => s + a * th[j], 0);
  /** ξᵢ and ∇ξᵢ */
  const sampleLoss = (th: Float64Array, i: number) => {
    const m = margin(th, i);
    const sig = 1 / (1 + Math.exp(m));
    return { loss: Math.log1p(Math.exp(-m)), grad: X[i].map((a) => -y[i] * a * sig) };
  };
  const all = Int32Array.from({ length: l }, (_, i) => i);
  const calls = {
    grad: [] as (Int32Array | undefined)[],
    loss: [] as (Int32Array | undefined)[],
    gv: [] as Int32Array[],
  };
  const problem: GaussNewtonProblem = {
    dim,
    numSamples: l,
    async lossAndGradient(th: Float64Array, o?: LossAndGradientOptions): Promise<LossAndGradient> {
      calls.grad.push(o?.subset?.slice());
      const idx = o?.subset ?? all;
      let loss = 0;
      const grad = new Float64Array(dim);
      const squares = new Float64Array(dim);
      let chunks = 0;
      for (let c = 0; c < idx.length; c += bsize, chunks++) {
        const g = new Float64Array(dim);
        for (const i of idx.subarray(c, c + bsize)) {
          const r = sampleLoss(th, i);
          loss += r.loss;
          for (let j = 0; j < dim; j++) g[j] += r.grad[j];
        }
        for (let j = 0; j < dim; j++) {
          grad[j] += g[j];
          squares[j] += g[j] * g[j];
        }
      }
      const n = idx.length;
      const mean = { loss: loss / n, grad: grad.map((a) => a / n) };
      return o?.gradSquares
        ? { ...mean, gradSquares: squares.map((a) => a / n), gradChunks: chunks }
        : mean;
    },
    async loss(th: Float64Array, o?: LossOptions) {
      calls.loss.push(o?.subset?.slice());
      const idx = o?.subset ?? all;
      let loss = 0;
      for (const i of idx) loss += sampleLoss(th, i).loss;
      return loss / idx.length;
    },
    async gaussNewton(th: Float64Array, subset: Int32Array) {
      calls.gv.push(subset.slice());
      return {
        apply: async (v: Float64Array) => {
          const out = new Float64Array(dim);
          for (const i of subset) {
            const p = 1 / (1 + Math.exp(-margin(th, i)));
            const xv = X[i].reduce((s, a, j) => s + a * v[j], 0) * p * (1 - p);
            for (let j = 0; j < dim; j++) out[j] += (X[i][j] * xv) / subset.length;
          }
          return out;
        },
        release: async () => {},
      };
    },
  };
  return { problem, calls, sampleLoss };
}

const close = (a: number, b: number, rel = 1e-12) =>
  Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

test('the solver takes f, ∇f and the line search over X, S its first |S| indices; f is the direct mean over X', async (t) => {
  const l = 400;
  const { problem, calls, sampleLoss } = denseLogistic(l, 6, 7);
  const C = 1;
  const s = new NewtonCG(problem, new Float64Array(6), {
    gnSize: 30,
    C,
    gradSample: 'norm-test',
    gradSample0: 50,
    gradSampleTheta: 0.2,
  });
  let theta = s.params;
  const sizes: number[] = [];
  let next = 50;
  for (let k = 0; k < 8; k++) {
    const nGrad = calls.grad.length;
    const nLoss = calls.loss.length;
    const r = await s.step();
    const x = calls.grad[nGrad];
    sizes.push(x?.length ?? l);
    t.is(r.gradSampleSize, x?.length ?? l);
    t.is(x?.length ?? l, next, 'the size the norm test chose');
    for (const lx of calls.loss.slice(nLoss)) t.deepEqual(lx, x, 'line search on X');
    if (!x) {
      // |X| = l: the full-gradient iteration, S drawn as without the option
      t.is(calls.gv[k].length, 30);
      continue;
    }
    t.is(new Set(x).size, x.length, 'distinct');
    t.deepEqual([...calls.gv[k]], [...x.subarray(0, Math.min(30, x.length))], 'S = X[0..|S|)');
    t.is(r.gnSize, calls.gv[k].length);
    // f at θ_k: ‖θ‖²/(2Cl) + (1/|X|) Σ_{i∈X} ξᵢ
    let sum = 0;
    for (const i of x) sum += sampleLoss(theta, i).loss;
    const want = theta.reduce((a, b) => a + b * b, 0) / (2 * C * l) + sum / x.length;
    t.true(close(r.fPrev, want), `${r.fPrev} vs ${want}`);
    // the next |X|: the norm test on this pass
    const data = await problem.lossAndGradient(theta, { gradSquares: true, subset: x });
    next = nextSampleSize(data, x.length, r.gradNorm, 0.2, l);
    theta = s.params;
  }
  t.is(sizes[0], 50);
  t.true(
    sizes.some((n) => n > 50),
    `|X| grew: ${sizes}`,
  );
  for (let k = 1; k < sizes.length; k++) t.true(sizes[k] >= sizes[k - 1]);
  t.is(s.state.gradSampleSize, next);
});

test('the norm test: the variance from chunk gradients, |X| kept, grown to the size that passes, capped at l, doubled with one chunk', (t) => {
  // one sample a chunk: the estimate is the per-sample unbiased variance, computed directly
  const rng = new Rng(9);
  const n = 40;
  const dim = 5;
  const g = Array.from({ length: n }, () =>
    Float64Array.from({ length: dim }, () => 1 + rng.normal()),
  );
  const mean = Float64Array.from({ length: dim }, (_, j) => g.reduce((a, r) => a + r[j], 0) / n);
  const squares = Float64Array.from(
    { length: dim },
    (_, j) => g.reduce((a, r) => a + r[j] * r[j], 0) / n,
  );
  let direct = 0;
  for (let j = 0; j < dim; j++)
    direct += g.reduce((a, r) => a + (r[j] - mean[j]) ** 2, 0) / (n - 1);
  const data: LossAndGradient = { loss: 0, grad: mean, gradSquares: squares, gradChunks: n };
  const v = sampleVariance(data, n);
  t.true(close(v, direct, 1e-9), `${v} vs ${direct}`);
  const gn2 = mean.reduce((a, b) => a + b * b, 0);
  const theta = 0.5;
  const gradNorm = Math.sqrt(gn2);
  // passes: ‖Var‖₁/n ≤ θ²‖g‖²
  t.true(v / n <= theta * theta * gn2);
  t.is(nextSampleSize(data, n, gradNorm, theta, 1000), n);
  // fails with a smaller gradient: grows to ⌈‖Var‖₁/(θ²‖g‖²)⌉
  const small = gradNorm / 10;
  const want = Math.ceil(v / (theta * theta * small * small));
  t.true(want > n);
  t.is(nextSampleSize(data, n, small, theta, 100000), want);
  t.is(nextSampleSize(data, n, small, theta, 300), 300, 'at most l');
  t.is(nextSampleSize(data, n, 0, theta, 300), 300, '∇f = 0: l');
  t.is(
    nextSampleSize({ ...data, gradChunks: 1 }, n, gradNorm, theta, 70),
    70,
    'one chunk: 2n, ≤ l',
  );
  t.is(nextSampleSize({ ...data, gradChunks: 1 }, n, gradNorm, theta, 1000), 80);
  t.throws(() => nextSampleSize({ loss: 0, grad: mean }, n, gradNorm, theta, 1000), {
    message: /needs the problem's gradSquares and gradChunks/,
  });
  // |X₀|
  t.is(firstSampleSize(0.2, 10, 1000), 200);
  t.is(firstSampleSize(0.2, 300, 1000), 300, 'at least |S|');
  t.is(firstSampleSize(450, 10, 1000), 450);
  t.is(firstSampleSize(5000, 10, 1000), 1000);
});

test("options: 'full' by default, parameters in the identity only with 'norm-test', ranges checked", (t) => {
  const o = resolveNewtonOptions({ gnSize: 10 });
  t.is(o.gradSample, 'full');
  t.is(o.gradSample0, 0.2);
  t.is(o.gradSampleTheta, 0.7);
  t.is(methodIdentity(o).gradSample, 'full');
  t.is(methodIdentity(o).gradSampleTheta, undefined);
  const on = resolveNewtonOptions({ gnSize: 10, gradSample: 'norm-test', gradSampleTheta: 0.5 });
  t.is(methodIdentity(on).gradSampleTheta, 0.5);
  t.is(methodIdentity(on).gradSample0, 0.2);
  t.is(LEGACY_METHOD_IDENTITY.gradSample, 'full');
  const { problem } = denseLogistic(50, 3, 7);
  t.throws(() => new NewtonCG(problem, new Float64Array(3), { gnSize: 10, gradSampleTheta: 0 }), {
    message: /gradSampleTheta must be in \(0, 1\]/,
  });
  t.throws(() => new NewtonCG(problem, new Float64Array(3), { gnSize: 10, gradSample0: -1 }), {
    message: /gradSample0 must be a positive number/,
  });
});

test("'full' draws nothing: the same subsets and trajectory as without the option, no gradSampleSize", async (t) => {
  const run = async (extra: Partial<NewtonSettings>) => {
    const { problem, calls } = denseLogistic(200, 5, 16);
    const s = new NewtonCG(problem, new Float64Array(5), { gnSize: 40, C: 1, ...extra });
    const reports: IterationReport[] = [];
    for (let i = 0; i < 3; i++) {
      const { iterSeconds: _s, ...r } = await s.step();
      reports.push(r as IterationReport);
    }
    return { reports, calls, state: s.state };
  };
  const a = await run({});
  const b = await run({ gradSample: 'full' });
  t.deepEqual(b.reports, a.reports);
  t.deepEqual(b.calls, a.calls);
  t.true(a.calls.grad.every((x) => x === undefined));
  t.false('gradSampleSize' in a.reports[0]);
  t.is(b.state.gradSampleSize, undefined);
});

// ---------------------------------------------------------------- trajectories

const OPTIONS: NewtonSettings = {
  gnSize: 40,
  C: 1,
  seed: 5,
  gradSample: 'norm-test',
  gradSample0: 80,
  gradSampleTheta: 0.3,
};

async function trajectory(problem: GaussNewtonProblem, iters = 4, from?: NewtonCG) {
  const s = from ?? new NewtonCG(problem, theta0, OPTIONS);
  const out = [];
  for (let i = 0; i < iters; i++) {
    const { iterSeconds: _s, ...r } = await s.step();
    out.push(r);
  }
  return { reports: out, theta: [...s.params], state: s.state };
}

test.serial(
  "'norm-test': the trajectory is bitwise the same in-process and on 2 pool workers; a checkpointed resume continues bit for bit",
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const local = new LocalProblem(net, data, 'ce', BSIZE);
    const want = await trajectory(local);
    const sizes = want.reports.map((r) => r.gradSampleSize!);
    t.is(sizes[0], 80);
    t.true(
      sizes.some((n) => n > 80),
      `|X| grew: ${sizes}`,
    );

    // resume: 2 steps, a checkpoint written and read back, 2 more
    const first = await trajectory(local, 2);
    const dir = mkdtempSync(join(tmpdir(), 'grad-sample-'));
    saveCheckpoint(dir, { spec: net.spec, loss: 'ce', state: first.state });
    const saved = loadCheckpoint(dir).state;
    t.is(saved.gradSampleSize, first.state.gradSampleSize);
    const resumed = new NewtonCG(local, theta0, OPTIONS);
    resumed.restore(saved);
    const rest = await trajectory(local, 2, resumed);
    t.deepEqual([...first.reports, ...rest.reports], want.reports);
    t.deepEqual(rest.theta, want.theta);
    await local.close();
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');

    const pool = new PoolProblem(net, data, 'ce', { workers: 2, bsize: BSIZE, backend: 'wasm' });
    try {
      const got = await trajectory(pool);
      t.deepEqual(got.reports, want.reports, '2 workers');
      t.deepEqual(got.theta, want.theta);
    } finally {
      await pool.close();
    }
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
  },
);

// ---------------------------------------------------------------- over NATS

const rule = natsTestRule();
const natsTest = rule.available ? test.serial : test.serial.skip;

natsTest(
  "'norm-test' over NATS (2 worker processes) is the in-process trajectory, bit for bit",
  async (t) => {
    await initBackend('wasm');
    const server = await startNatsServer();
    const procs: NatsWorkerProcess[] = [];
    try {
      for (let i = 0; i < 2; i++) procs.push(await startNatsWorker(server.url));
      const local = new LocalProblem(net, data, 'ce', BSIZE);
      const want = await trajectory(local);
      await local.close();
      const transport = await NatsTransport.open(net, data, 'ce', {
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

// ---------------------------------------------------------------- the full objective, measured

test.serial(
  "fullObjective: with f on a sample, fullF is the objective on all l samples at the iteration's θ (an f pass as a measurement)",
  async (t) => {
    await initBackend('wasm');
    const sets = { name: 'synthetic', train: data, test: syntheticData(60, [6, 6, 1], 4, 22) };
    const common = {
      data: sets,
      model: 'mlp:16',
      C: 1,
      iters: 3,
      bsize: BSIZE,
      gnSize: 40,
      seed: 5,
      workers: 0,
      backend: 'wasm' as const,
      gradSample: 'norm-test' as const,
      gradSample0: 80,
    };
    const thetas: Float64Array[] = [];
    const r = await train({
      ...common,
      fullObjective: true,
      onBoundary: (b) => {
        if (b.iter > 0) thetas.push(Float64Array.from(b.params));
      },
    });
    t.is(thetas.length, 3);
    const local = new LocalProblem(net, data, 'ce', BSIZE);
    for (const [k, it] of r.history.entries()) {
      t.true(it.gradSampleSize! < data.n, `|X| ${it.gradSampleSize}`);
      const theta = thetas[k];
      const want = dot(theta, theta) / (2 * 1 * data.n) + (await local.loss(theta));
      // the loss is computed at float32 θ either way; the regulariser here from the float32
      // copy onBoundary gives, the solver's from its float64 θ
      t.true(Math.abs(it.fullF! - want) <= 1e-8 * Math.abs(want), `${it.fullF} vs ${want}`);
      t.not(it.fullF, it.f, "f is X's");
    }
    await local.close();
    // the same run without it: the same trajectory (a measurement changes nothing), no fullF
    const plain = await train(common);
    const strip = (h: typeof r.history) =>
      h.map(({ iterSeconds: _s, elapsedSeconds: _e, fullF: _f, ...x }) => x);
    t.deepEqual(strip(plain.history), strip(r.history));
    t.false(plain.history.some((it) => 'fullF' in it));
    // and all samples at every iteration: f is the full objective already
    const full = await train({ ...common, gradSample: 'full', fullObjective: true });
    t.false(full.history.some((it) => 'fullF' in it));
  },
);

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
