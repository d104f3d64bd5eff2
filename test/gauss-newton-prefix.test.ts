/**
 * The f+∇f pass over a gradient sample X keeps the linearization of the chunks it shares
 * with the Gv pass over S = X's first |S| indices (`gaussNewtonPrefix`), so that an
 * iteration runs their forward pass once. Checked: the same bits as without the hint
 * (f, ∇f, Gv; in-process, on 2 pool threads, with reduction groups; the solver's whole
 * trajectory), that the shared chunks are not prepared again and the others are, that a
 * shared f+∇f chunk goes to the worker of its Gv chunk, no tensor left, and the hint's
 * errors.
 */
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { ChunkEvaluator } from '../src/autodiff/evaluator.ts';
import { initBackend } from '../src/backend/select.ts';
import type { PassEngine, TaskSpan } from '../src/engine/engine.ts';
import { sharedChunks } from '../src/engine/plan.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { Rng } from '../src/rng.ts';
import { NewtonCG, type NewtonSettings } from '../src/solver/newton.ts';
import type {
  GaussNewtonProblem,
  LossAndGradientOptions,
  LossOptions,
} from '../src/solver/problem.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { MessageError } from '../src/transport/nats/frames.ts';
import { checkToWorker } from '../src/transport/nats/protocol.ts';
import { PoolProblem } from '../src/transport/threads.ts';
import { syntheticData } from './helpers/synthetic.ts';

test.before(async () => {
  await initBackend('cpu');
});

// X: 300 of 450 samples in chunks of 64 (4 full, one of 44); S: its first 150, in chunks
// 64, 64 and 22, of which the first 2 are X's chunks too
const data = syntheticData(450, [12], 4, 31);
const bsize = 64;
const net = new Network(presetModel('mlp:16', data.inputShape, data.numClasses));
const theta = Float64Array.from(initParams(net.layout, 5));
const X = new Rng(3).sample(data.n, 300);
const S = X.subarray(0, 150);
const v1 = Float64Array.from({ length: net.numParams }, (_, i) => Math.sin(0.3 * i));
const v2 = Float64Array.from({ length: net.numParams }, (_, i) => Math.cos(0.9 * i));

/** Counts the Gv chunks an evaluator prepares by itself (in this thread). */
function countPrepared(): { count: () => number; restore: () => void } {
  const proto = ChunkEvaluator.prototype;
  const original = proto.prepareGaussNewtonChunk;
  let n = 0;
  proto.prepareGaussNewtonChunk = function (this: ChunkEvaluator, ...args) {
    n++;
    return original.apply(this, args);
  };
  return { count: () => n, restore: () => (proto.prepareGaussNewtonChunk = original) };
}

/** An iteration's passes: f+∇f over X (with or without the hint), then two Gv products over S. */
async function iteration(engine: PassEngine, hint: boolean) {
  const fg = await engine.lossAndGradient(theta, {
    subset: X,
    ...(hint && { gaussNewtonPrefix: S.length }),
  });
  const G = await engine.gaussNewton(theta, S);
  const gv1 = [...(await G.apply(v1))];
  const gv2 = [...(await G.apply(v2))];
  return { loss: fg.loss, grad: [...fg.grad], gv1, gv2 };
}

test('sharedChunks: the full chunks of the prefix, all of them when it is the whole subset', (t) => {
  t.is(sharedChunks(300, 150, 64), 2);
  t.is(sharedChunks(300, 128, 64), 2);
  t.is(sharedChunks(300, 63, 64), 0);
  t.is(sharedChunks(300, 300, 64), 5, 'the last, short chunk too');
  t.is(sharedChunks(64, 64, 64), 1);
});

test.serial(
  'in-process: the same bits as without the hint, and only the chunk S does not share is prepared',
  async (t) => {
    const tensors = tf.memory().numTensors;
    const spy = countPrepared();
    try {
      const plain = new LocalProblem(net, data, 'ce', bsize);
      const want = await iteration(plain, false);
      await plain.close();
      t.is(spy.count(), 3, 'without the hint the Gv pass prepares its 3 chunks');

      const hinted = new LocalProblem(net, data, 'ce', bsize);
      const got = await iteration(hinted, true);
      t.is(spy.count() - 3, 1, 'with it only chunk 2 (22 samples, not one of X’s chunks)');
      t.deepEqual(got, want);
      // a later f+∇f pass without the hint, at a new θ: nothing kept is used
      const moved = theta.map((x, i) => x + 1e-3 * v1[i]);
      await hinted.lossAndGradient(moved, { subset: X });
      await hinted.gaussNewton(moved, S).then((G) => G.apply(v1));
      t.is(spy.count() - 4, 3);
      await hinted.close();
    } finally {
      spy.restore();
    }
    t.is(tf.memory().numTensors, tensors, 'no tensor leaked');
  },
);

test.serial(
  'double-vjp Gv: nothing is kept (its chunks hold inputs, not linearizations), the same bits',
  async (t) => {
    const spy = countPrepared();
    try {
      const plain = new LocalProblem(net, data, 'ce', bsize, {}, 'double-vjp');
      const want = await iteration(plain, false);
      await plain.close();
      const hinted = new LocalProblem(net, data, 'ce', bsize, {}, 'double-vjp');
      const got = await iteration(hinted, true);
      await hinted.close();
      t.is(spy.count(), 6);
      t.deepEqual(got, want);
    } finally {
      spy.restore();
    }
  },
);

test.serial(
  '2 pool threads, chunk by chunk and in groups of 2: the in-process bits, and a shared f+∇f chunk is computed where its Gv chunk is',
  async (t) => {
    for (const chunksPerResult of [1, 2]) {
      const local = new LocalProblem(net, data, 'ce', bsize, {}, 'linearized', chunksPerResult);
      const want = await iteration(local, false);
      await local.close();
      const pool = new PoolProblem(net, data, 'ce', {
        workers: 2,
        bsize,
        backend: 'cpu',
        chunksPerResult,
      });
      const spans: TaskSpan[] = [];
      pool.onTask = (s) => spans.push(s);
      try {
        const got = await iteration(pool, true);
        t.deepEqual(got, want, `groups of ${chunksPerResult}`);
        const where = (kind: string, chunk: number) =>
          spans.filter((s) => s.kind === kind && s.chunk === chunk).map((s) => s.worker);
        const gvWorkers = new Set(spans.filter((s) => s.kind === 'Gv').map((s) => s.worker));
        t.is(gvWorkers.size, 2, 'the Gv tasks are spread');
        // the tasks holding shared chunks: chunks 0 and 1 (one group of 2)
        for (const chunk of chunksPerResult === 1 ? [0, 1] : [0]) {
          const [gradWorker] = where('f+grad', chunk);
          t.true(
            where('Gv', chunk).every((w) => w === gradWorker),
            `groups of ${chunksPerResult}, chunk ${chunk}`,
          );
        }
      } finally {
        await pool.close();
      }
    }
  },
);

/** A problem that hands the solver's passes to `inner`, recording the hints and optionally dropping them. */
function relay(inner: GaussNewtonProblem, drop: boolean) {
  const hints: (number | undefined)[] = [];
  const problem: GaussNewtonProblem = {
    dim: inner.dim,
    numSamples: inner.numSamples,
    lossAndGradient(th: Float64Array, o?: LossAndGradientOptions) {
      hints.push(o?.gaussNewtonPrefix);
      const { gaussNewtonPrefix: _, ...rest } = o ?? {};
      return inner.lossAndGradient(th, drop ? rest : o);
    },
    loss: (th: Float64Array, o?: LossOptions) => inner.loss(th, o),
    gaussNewton: (th, subset) => inner.gaussNewton(th, subset),
  };
  return { problem, hints };
}

test.serial(
  'the solver with norm-test: hints |S| before each f+∇f pass over X, and the trajectory is the one without the hint',
  async (t) => {
    const options: NewtonSettings = {
      gnSize: 150,
      C: 1,
      seed: 2,
      gradSample: 'norm-test',
      gradSample0: 300,
    };
    const run = async (drop: boolean, extra: Partial<NewtonSettings> = {}) => {
      const inner = new LocalProblem(net, data, 'ce', bsize);
      const { problem, hints } = relay(inner, drop);
      const s = new NewtonCG(problem, theta, { ...options, ...extra });
      const reports = [];
      for (let i = 0; i < 4; i++) {
        const { iterSeconds: _, ...r } = await s.step();
        reports.push(r);
      }
      await inner.close();
      return { reports, theta: [...s.params], hints };
    };
    const hinted = await run(false);
    const plain = await run(true);
    t.deepEqual(hinted.reports, plain.reports);
    t.deepEqual(hinted.theta, plain.theta);
    t.deepEqual(
      hinted.hints,
      hinted.reports.map((r) => (r.gradSampleSize! < data.n ? r.gnSize : undefined)),
      'the hint is the |S| the iteration then uses, when f+∇f runs over a sample',
    );
    t.true(hinted.hints.filter((h) => h !== undefined).length >= 2, `${hinted.hints}`);
    // |S| grown from the gradient is not known before the pass: no hint
    const grown = await run(false, { gnGrowth: 'gradient' });
    t.true(grown.hints.every((h) => h === undefined));
  },
);

test.serial('a bad hint is refused in the option’s own words', async (t) => {
  const engine = new LocalProblem(net, data, 'ce', bsize);
  try {
    await t.throwsAsync(engine.lossAndGradient(theta, { gaussNewtonPrefix: 10 }), {
      instanceOf: RangeError,
      message: 'gaussNewtonPrefix is a prefix of a subset: give the subset too',
    });
    for (const m of [0, 301, 2.5])
      await t.throwsAsync(engine.lossAndGradient(theta, { subset: X, gaussNewtonPrefix: m }), {
        instanceOf: RangeError,
        message: `gaussNewtonPrefix must be an integer in 1..300 (the subset), got ${m}`,
      });
  } finally {
    await engine.close();
  }
});

test('a NATS worker checks a task’s gaussNewtonPrefix', (t) => {
  const task = (extra: Record<string, unknown>) => ({
    type: 'task',
    rid: 'r1',
    id: 1,
    task: { chunk: 0, thetaVersion: 1, slot: 0, attempt: 0, ...extra },
  });
  const sample = { subsetVersion: 1, subsetLength: 300 };
  t.notThrows(() => checkToWorker(task({ kind: 'f+grad', ...sample, gaussNewtonPrefix: 150 })));
  for (const bad of [
    { kind: 'f+grad', ...sample, gaussNewtonPrefix: 301 },
    { kind: 'f+grad', ...sample, gaussNewtonPrefix: 0 },
    { kind: 'f+grad', gaussNewtonPrefix: 150 },
    { kind: 'f', ...sample, gaussNewtonPrefix: 150 },
  ])
    t.throws(() => checkToWorker(task(bad)), {
      instanceOf: MessageError,
      message: /task\.gaussNewtonPrefix/,
    });
});
