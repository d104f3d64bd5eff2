/**
 * The worker pool: bitwise the same trajectory for any number of workers (and as
 * in-process), chunks of a dying worker re-run with the same result, repeated failure
 * named, and nothing left running after close(); no main-thread tensor left behind by
 * in-process or pooled passes.
 */
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { initBackend } from '../src/backend/select.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { withFaults } from '../src/transport/faults.ts';
import { PoolError, PoolProblem, type PoolOptions } from '../src/transport/threads.ts';
import type { GaussNewtonProblem } from '../src/solver/problem.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { NewtonCG } from '../src/solver/newton.ts';
import { randomVec, syntheticData } from './helpers/synthetic.ts';

const data = syntheticData(300, [6, 6, 1], 4, 21);
const net = new Network(presetModel('mlp:16', [6, 6, 1], 4));
const theta0 = Float64Array.from(initParams(net.layout, 2));
const BSIZE = 37; // 9 data chunks, 2 Gv chunks of |S| = 60

async function trajectory(problem: GaussNewtonProblem) {
  const s = new NewtonCG(problem, theta0, { gnSize: 60, C: 1, seed: 5 });
  const out = [];
  for (let i = 0; i < 3; i++) {
    const { iterSeconds: _s, ...r } = await s.step();
    out.push(r);
  }
  return { reports: out, theta: [...s.params] };
}

function pool(workers: number, extra: Partial<PoolOptions> = {}) {
  return new PoolProblem(net, data, 'ce', { workers, bsize: BSIZE, backend: 'wasm', ...extra });
}

test.serial(
  'trajectories are bitwise identical for 1, 2, 3 and 8 workers and in-process',
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const local = new LocalProblem(net, data, 'ce', BSIZE);
    const want = await trajectory(local);
    await local.close();
    // slots 1: one chunk at a time; default 4 per worker: fewer slots than the 9 data chunks for 1 and 2 workers
    for (const [w, slots] of [
      [1, undefined],
      [2, undefined],
      [3, undefined],
      [8, undefined],
      [2, 1],
    ] as const) {
      const p = pool(w, { slots });
      try {
        t.deepEqual(await trajectory(p), want, `${w} workers, ${slots ?? 'default'} slots`);
      } finally {
        await p.close();
      }
    }
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
  },
);

test.serial(
  'a worker that dies in the middle of a Gv pass: its chunk runs again, the result is unchanged',
  async (t) => {
    const before = tf.memory().numTensors;
    const all = Int32Array.from({ length: 60 }, (_, i) => i * 5);
    const v = randomVec(net.numParams, 9);
    const clean = pool(2);
    const G = await clean.gaussNewton(theta0, all);
    const want = await G.apply(v);
    await clean.close();
    for (const mode of ['exit', 'throw'] as const) {
      const faulty = pool(2, withFaults({}, { kind: 'Gv', chunk: 1, attempts: 1, mode }));
      try {
        const G2 = await faulty.gaussNewton(theta0, all);
        const got = await G2.apply(v);
        t.deepEqual([...got], [...want], mode);
        t.is(faulty.stats.retries, 1, mode);
      } finally {
        await faulty.close();
      }
    }
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
  },
);

test.serial(
  'a worker killed from outside during a pass does not change the gradient',
  async (t) => {
    const before = tf.memory().numTensors;
    const ref = pool(2);
    const want = await ref.lossAndGradient(theta0);
    await ref.close();
    const p = pool(2);
    try {
      await p.loss(theta0); // workers up and initialised
      const pending = p.lossAndGradient(theta0);
      await p.threads[0].terminate();
      const got = await pending;
      t.is(got.loss, want.loss);
      t.deepEqual([...got.grad], [...want.grad]);
      t.true(p.stats.retries >= 1, 'the killed worker had a chunk in flight');
    } finally {
      await p.close();
    }
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
  },
);

test.serial('a chunk that keeps failing ends the pass with its name and cause', async (t) => {
  const before = tf.memory().numTensors;
  const p = pool(
    2,
    withFaults({ maxAttempts: 3 }, { kind: 'f+grad', chunk: 4, attempts: 99, mode: 'throw' }),
  );
  try {
    await t.throwsAsync(() => p.lossAndGradient(theta0), {
      instanceOf: PoolError,
      message: /f\+grad chunk 4 failed 3 times; last cause: injected fault on f\+grad chunk 4/,
    });
  } finally {
    await p.close();
  }
  t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
});

test.serial('close() stops every worker thread', async (t) => {
  const before = tf.memory().numTensors;
  const p = pool(3);
  await p.loss(theta0);
  const threads = [...p.threads];
  t.is(threads.length, 3);
  const exited = threads.map((w) => new Promise<void>((res) => w.once('exit', () => res())));
  await p.close();
  await Promise.all(exited);
  t.is(p.threads.length, 0);
  t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
});

test.serial(
  'Gv written into a given buffer equals Gv in a new one, for the pool and in-process',
  async (t) => {
    const before = tf.memory().numTensors;
    const S = Int32Array.from({ length: 60 }, (_, i) => i * 5);
    const v = randomVec(net.numParams, 10);
    const local = new LocalProblem(net, data, 'ce', BSIZE);
    const p = pool(2);
    try {
      for (const problem of [local, p]) {
        const G = await problem.gaussNewton(theta0, S);
        const fresh = await G.apply(v);
        const out = new Float64Array(net.numParams).fill(NaN);
        const got = await G.apply(v, out);
        t.is(got, out);
        t.deepEqual([...out], [...fresh]);
        await G.release();
      }
    } finally {
      await local.close();
      await p.close();
    }
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
  },
);

test.serial(
  'Gv chunk k is computed by worker k mod workers at every CG step (each keeps only its own linearizations)',
  async (t) => {
    const before = tf.memory().numTensors;
    const S = Int32Array.from({ length: 5 * BSIZE }, (_, i) => i); // 5 chunks
    const p = pool(2, { slots: 1 }); // one chunk at a time: the least busy worker would always be the same one
    try {
      const G = await p.gaussNewton(theta0, S);
      const seen = new Map<number, Set<string>>();
      p.onTask = (s) => {
        if (s.kind === 'Gv') seen.set(s.chunk, (seen.get(s.chunk) ?? new Set()).add(s.worker));
      };
      for (let i = 0; i < 4; i++) await G.apply(randomVec(net.numParams, 20 + i));
      t.is(seen.size, 5);
      const threadOf = [...Array(5).keys()].map((c) => [...seen.get(c)!]);
      t.true(
        threadOf.every((th) => th.length === 1),
        `a chunk went to several threads: ${JSON.stringify(threadOf)}`,
      );
      const [even, odd] = [threadOf[0][0], threadOf[1][0]];
      t.not(even, odd);
      t.deepEqual(
        threadOf.map((th) => th[0]),
        [even, odd, even, odd, even],
      );
    } finally {
      await p.close();
    }
    t.is(tf.memory().numTensors, before, 'main-thread tensors leaked');
  },
);
