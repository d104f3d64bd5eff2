/**
 * Test and validation accuracy as passes of the compute engine: the pool's, the
 * in-process one and the old main-thread `accuracy()` agree bit for bit; an accuracy pass
 * in the middle of a CG solve leaves its Gv products (and the workers' prepared chunks)
 * alone; train() with a pool reports the accuracies of an in-process run.
 */
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { ChunkEvaluator } from '../src/autodiff/evaluator.ts';
import { initBackend } from '../src/backend/select.ts';
import { ChunkCompute, type StateSource } from '../src/engine/compute.ts';
import type { Evaluation } from '../src/engine/evaluation.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { withFaults } from '../src/transport/faults.ts';
import { PoolProblem, type PoolOptions } from '../src/transport/threads.ts';
import type { Task } from '../src/engine/task.ts';
import { chunkSamples, type Dataset } from '../src/data/dataset.ts';
import { loadData } from '../src/data/load.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import type { GaussNewtonProblem } from '../src/solver/problem.ts';
import { accuracy } from '../src/run/evaluate.ts';
import { train } from '../src/run/train.ts';
import { randomVec, syntheticData } from './helpers/synthetic.ts';

const data = syntheticData(300, [6, 6, 1], 4, 21);
const testSet = syntheticData(101, [6, 6, 1], 4, 31);
const valSet = syntheticData(77, [6, 6, 1], 4, 41);
const net = new Network(presetModel('mlp:16', [6, 6, 1], 4));
const theta0 = Float64Array.from(initParams(net.layout, 2));
const theta1 = Float64Array.from(theta0, (x, i) => x + 0.3 * Math.sin(i)); // another θ, not float32-exact
const BSIZE = 37; // divides none of 300, 101, 77
const S = Int32Array.from({ length: 60 }, (_, i) => i * 5); // 2 Gv chunks

function pool(workers: number, extra: Partial<PoolOptions> = {}) {
  return new PoolProblem(net, data, 'ce', {
    workers,
    bsize: BSIZE,
    backend: 'wasm',
    evalSets: { test: testSet, val: valSet },
    ...extra,
  });
}

/** The main-thread accuracy train() used to compute: a ChunkEvaluator at float32 θ, `accuracy()` by chunks. */
function oldAccuracy(theta: Float64Array, set: Dataset): number {
  const ev = new ChunkEvaluator(net, 'ce');
  try {
    ev.setParams(Float32Array.from(theta));
    return accuracy(ev, set, BSIZE);
  } finally {
    ev.dispose();
  }
}

async function accuracies(p: Evaluation) {
  const out: number[] = [];
  for (const theta of [theta0, theta1])
    for (const set of ['test', 'val'] as const) out.push(await p.accuracy(theta, set));
  return out;
}

test.serial(
  'pool accuracy equals in-process accuracy and the old main-thread accuracy(), for 1 and 2 workers',
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const want = [theta0, theta1].flatMap((th) => [
      oldAccuracy(th, testSet),
      oldAccuracy(th, valSet),
    ]);
    t.true(
      want.every((a) => a > 0 && a < 1),
      `${want}`,
    );
    t.not(want[0], want[2], 'the two θ classify differently');
    const local = new LocalProblem(net, data, 'ce', BSIZE, { test: testSet, val: valSet });
    const progress: string[] = [];
    local.onProgress = (pass, done, total) => progress.push(`${pass} ${done}/${total}`);
    t.deepEqual(await accuracies(local), want);
    t.deepEqual(progress.slice(0, 3), ['accuracy 1/3', 'accuracy 2/3', 'accuracy 3/3']);
    await local.close();
    t.is(tf.memory().numTensors, before, 'no leaked tensors in-process');
    for (const w of [1, 2]) {
      const p = pool(w);
      try {
        const seen: string[] = [];
        p.onProgress = (pass, done, total) => seen.push(`${pass} ${done}/${total}`);
        t.deepEqual(await accuracies(p), want, `${w} workers`);
        // one report per chunk as it arrives (chunks done in order so far), the pass's last at 3/3
        t.is(seen.length, 12, `${w} workers`);
        t.true(
          seen.every((s) => /^accuracy [0-3]\/3$/.test(s)),
          `${w} workers: ${seen}`,
        );
        t.deepEqual(
          [seen[2], seen[5], seen[8], seen[11]],
          Array(4).fill('accuracy 3/3'),
          `${w} workers`,
        );
        t.is(
          p.stats.tasks,
          2 * (3 + 3),
          `${w} workers: chunks of 37 of 101 and of 77 samples, at two θ`,
        );
      } finally {
        await p.close();
      }
    }
    t.is(tf.memory().numTensors, before);
  },
);

test.serial('accuracy is NaN for an absent or empty set, in-process and on the pool', async (t) => {
  await initBackend('wasm');
  const before = tf.memory().numTensors;
  const empty = { ...testSet, x: new Float32Array(0), labels: new Int32Array(0), n: 0 };
  const local = new LocalProblem(net, data, 'ce', BSIZE, { test: empty });
  const p = new PoolProblem(net, data, 'ce', {
    workers: 1,
    bsize: BSIZE,
    backend: 'wasm',
    evalSets: { test: empty },
  });
  try {
    for (const problem of [local, p]) {
      t.true(Number.isNaN(await problem.accuracy(theta0, 'test')));
      t.true(Number.isNaN(await problem.accuracy(theta0, 'val')));
    }
    t.is(p.stats.tasks, 0);
  } finally {
    await local.close();
    await p.close();
  }
  t.is(tf.memory().numTensors, before);
});

test.serial('an accuracy chunk whose worker dies runs again with the same count', async (t) => {
  const before = tf.memory().numTensors;
  const want = [oldAccuracy(theta1, testSet), oldAccuracy(theta1, valSet)];
  for (const mode of ['exit', 'throw'] as const) {
    const p = pool(2, withFaults({}, { kind: 'accuracy', chunk: 1, attempts: 1, mode }));
    try {
      t.deepEqual([await p.accuracy(theta1, 'test'), await p.accuracy(theta1, 'val')], want, mode);
      t.is(p.stats.retries, 2, `${mode}: chunk 1 of each set once`);
    } finally {
      await p.close();
    }
  }
  t.is(tf.memory().numTensors, before);
});

/** Gv of v1, v2, v1 in one CG solve at θ0, with `between` run after the first. */
async function gvRun(problem: GaussNewtonProblem, between: () => Promise<unknown>) {
  const v1 = randomVec(net.numParams, 9);
  const v2 = randomVec(net.numParams, 10);
  const G = await problem.gaussNewton(theta0, S);
  const out = [[...(await G.apply(v1))]];
  await between();
  out.push([...(await G.apply(v2))], [...(await G.apply(v1))]);
  await G.release();
  const { loss, grad } = await problem.lossAndGradient(theta0);
  return { gv: out, loss, grad: [...grad] };
}

test.serial(
  'an accuracy pass between the Gv products of a CG solve leaves them bitwise unchanged',
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const wantAcc = [oldAccuracy(theta1, testSet), oldAccuracy(theta0, valSet)];
    const make = [
      () => new LocalProblem(net, data, 'ce', BSIZE, { test: testSet, val: valSet }),
      () => pool(1),
      () => pool(2),
    ];
    let reference: Awaited<ReturnType<typeof gvRun>> | null = null;
    for (const mk of make) {
      const plain = mk();
      const mixed = mk();
      try {
        const want = await gvRun(plain, async () => {});
        reference ??= want;
        t.deepEqual(want, reference, 'pool and in-process agree');
        // at another θ (test) and at the solve's θ (val)
        let acc: number[] = [];
        const got = await gvRun(mixed, async () => {
          acc = [await mixed.accuracy(theta1, 'test'), await mixed.accuracy(theta0, 'val')];
        });
        t.deepEqual(got, want);
        t.deepEqual(acc, wantAcc);
      } finally {
        await plain.close();
        await mixed.close();
      }
    }
    t.is(tf.memory().numTensors, before);
  },
);

/** The state a worker reads (θ at version 1, the eval θ at version 1, S, v), for a ChunkCompute in this thread. */
function stateSource(v: Float32Array): StateSource {
  return {
    theta: () => Float32Array.from(theta0),
    evalTheta: () => Float32Array.from(theta1),
    subset: (_version, length) => S.subarray(0, length),
    v: () => v,
  };
}

test.serial('a worker keeps its prepared Gv chunks and θ through an accuracy task', async (t) => {
  await initBackend('wasm');
  const before = tf.memory().numTensors;
  const compute = new ChunkCompute({
    spec: net.spec,
    loss: 'ce',
    gv: 'linearized',
    bsize: BSIZE,
    data,
    evalSets: { test: testSet },
  });
  const state = stateSource(Float32Array.from(randomVec(net.numParams, 9)));
  const prepare = ChunkEvaluator.prototype.prepareGaussNewtonChunk;
  let prepared = 0;
  ChunkEvaluator.prototype.prepareGaussNewtonChunk = function (this: ChunkEvaluator, ...args) {
    prepared++;
    return prepare.apply(this, args);
  };
  const gvTask = (chunk: number): Task => ({
    kind: 'Gv',
    chunk,
    thetaVersion: 1,
    subsetVersion: 1,
    subsetLength: S.length,
    vVersion: 1,
    slot: chunk,
    attempt: 0,
  });
  try {
    const want = [
      (await compute.run(gvTask(0), state)).vector,
      (await compute.run(gvTask(1), state)).vector,
    ];
    t.is(prepared, 2);
    const r = await compute.run(
      { kind: 'accuracy', set: 'test', chunk: 2, thetaVersion: 1, slot: 0, attempt: 0 },
      state,
    );
    // the chunk's count at θ1 (the eval θ), samples 74..100
    const ev = new ChunkEvaluator(net, 'ce');
    ev.setParams(Float32Array.from(theta1));
    t.is(r.scalar, ev.correctCount(chunkSamples(testSet, { start: 74, end: 101 })));
    ev.dispose();
    const again = [
      (await compute.run(gvTask(0), state)).vector,
      (await compute.run(gvTask(1), state)).vector,
    ];
    t.deepEqual(again, want);
    t.is(prepared, 2, 'no Gv chunk prepared again');
  } finally {
    ChunkEvaluator.prototype.prepareGaussNewtonChunk = prepare;
    await compute.dispose();
  }
  t.is(tf.memory().numTensors, before);
});

test.serial(
  'train() with a pool reports the test and validation accuracies of an in-process run',
  async (t) => {
    await initBackend('wasm');
    const sets = loadData({ data: 'digits', valSplit: 0.2, seed: 3 });
    const opts = {
      data: sets,
      model: 'mlp:24',
      C: 1,
      iters: 4,
      seed: 3,
      bsize: 100,
      backend: 'wasm' as const,
    };
    const before = tf.memory().numTensors;
    const local = await train({ ...opts, workers: 0 });
    t.is(tf.memory().numTensors, before, 'no leaked tensors in-process');
    const pooled = await train({ ...opts, workers: 2 });
    const strip = (h: typeof local.history) =>
      h.map(({ iterSeconds: _s, elapsedSeconds: _e, ...r }) => r);
    t.deepEqual(strip(pooled.history), strip(local.history));
    t.is(pooled.testAcc, local.testAcc);
    t.is(local.history.length, 4);
    t.true(
      local.history.every((h) => h.testAcc > 0.2 && h.valAcc > 0.2),
      JSON.stringify(strip(local.history)),
    );
    // the same values as the old main-thread accuracy at the final θ
    const ev = new ChunkEvaluator(local.network, 'ce');
    ev.setParams(local.params);
    t.is(local.testAcc, accuracy(ev, sets.test, 100));
    ev.dispose();
    const vev = new ChunkEvaluator(local.network, 'ce');
    vev.setParams(local.params);
    t.is(local.history.at(-1)!.valAcc, accuracy(vev, sets.val!, 100));
    vev.dispose();
    t.is(tf.memory().numTensors, before);
  },
);
