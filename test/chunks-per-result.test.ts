/**
 * Reduction groups (chunksPerResult): a task sums a fixed group of consecutive chunks in
 * chunk order (float64, rounded once to float32) and the engine sums the groups in order.
 * Checked against the chunks computed one by one with the evaluator and summed by hand, on
 * every transport and worker count.
 */
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { ChunkEvaluator } from '../src/autodiff/evaluator.ts';
import { initBackend } from '../src/backend/select.ts';
import { chunkSamples, type TrainTest } from '../src/data/dataset.ts';
import { PassEngine } from '../src/engine/engine.ts';
import { taskPosition } from '../src/engine/placement.ts';
import { chunkCount, rangeChunk, subsetChunk } from '../src/engine/plan.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { Rng } from '../src/rng.ts';
import { train, type TrainIteration } from '../src/run/train.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { MessageError } from '../src/transport/nats/frames.ts';
import { checkToWorker } from '../src/transport/nats/protocol.ts';
import { PoolProblem } from '../src/transport/threads.ts';
import { syntheticData } from './helpers/synthetic.ts';

test.before(async () => {
  await initBackend('cpu');
});

// 450 samples in chunks of 64: 8 chunks (the last of 2), so groups of 3 are 3, 3 and 2
const data = syntheticData(450, [12], 4, 21);
const bsize = 64;
const net = new Network(presetModel('mlp:16', data.inputShape, data.numClasses));
const theta = Float64Array.from(initParams(net.layout, 3));
const subset = new Rng(9).subset(data.n, 300); // 5 Gv chunks: groups of 3 and 2
const v = Float64Array.from({ length: net.numParams }, (_, i) => Math.cos(0.7 * i));

/** Σ over groups (in order, float64) of fl32(Σ over the group's chunks in order, float64). */
function groupedSum(vectors: Float32Array[], group: number): Float64Array {
  const total = new Float64Array(net.numParams);
  for (let g = 0; g < vectors.length; g += group) {
    const s = new Float64Array(net.numParams);
    for (const x of vectors.slice(g, g + group)) for (let i = 0; i < s.length; i++) s[i] += x[i];
    const rounded = Float32Array.from(s);
    for (let i = 0; i < total.length; i++) total[i] += rounded[i];
  }
  return total;
}

/** The chunks one by one with the evaluator: losses and gradients of the f+∇f pass, Gv of S. */
function byHand() {
  const ev = new ChunkEvaluator(net, 'ce');
  ev.setParams(new Float32Array(theta));
  const K = chunkCount(data.n, bsize);
  const f = Array.from({ length: K }, (_, k) =>
    ev.lossAndGradient(chunkSamples(data, rangeChunk(k, data.n, bsize))),
  );
  const gvChunks = chunkCount(subset.length, bsize);
  for (let k = 0; k < gvChunks; k++)
    ev.prepareGaussNewtonChunk(k, chunkSamples(data, subsetChunk(k, subset, bsize)));
  const gv = ev.gaussNewton(
    Array.from({ length: gvChunks }, (_, k) => k),
    new Float32Array(v),
  );
  ev.dispose();
  return { losses: f.map((r) => r.loss), grads: f.map((r) => r.grad), gv };
}

async function passes(engine: PassEngine) {
  const fg = await engine.lossAndGradient(theta, { gradSquares: true });
  const loss = await engine.loss(theta);
  const G = await engine.gaussNewton(theta, subset);
  const gv = await G.apply(v, new Float64Array(net.numParams));
  return { fg, loss, gv: [...gv] };
}

test.serial(
  'groups of 3 chunks: the sums of fl32(group sums), losses and the norm test’s K per group',
  async (t) => {
    const want = byHand();
    const tensors = tf.memory().numTensors;
    const engine = new LocalProblem(net, data, 'ce', bsize, {}, 'linearized', 3);
    const got = await passes(engine);
    await engine.close();
    t.is(tf.memory().numTensors, tensors, 'no tensor leaked');

    const grad = [...groupedSum(want.grads, 3)].map((x) => x / data.n);
    t.deepEqual([...got.fg.grad], grad);
    let loss = 0;
    for (let g = 0; g < 8; g += 3) loss += want.losses.slice(g, g + 3).reduce((a, b) => a + b);
    t.is(got.fg.loss, loss / data.n);
    t.is(got.loss, got.fg.loss, 'the f pass is grouped like the f+∇f pass');
    t.is(got.fg.gradChunks, 3);
    t.deepEqual(
      got.gv,
      [...groupedSum(want.gv, 3)].map((x) => x / subset.length),
    );

    // and groups of one are the chunk-by-chunk reduction; the grouping changes the last bits only
    const one = new LocalProblem(net, data, 'ce', bsize, {}, 'linearized');
    const ungrouped = await passes(one);
    await one.close();
    t.deepEqual(
      [...ungrouped.fg.grad],
      [...groupedSum(want.grads, 1)].map((x) => x / data.n),
    );
    t.notDeepEqual(ungrouped.gv, got.gv, 'the data is sensitive to the grouping');
    const scale = Math.max(...got.gv.map(Math.abs));
    t.true(got.gv.every((x, i) => Math.abs(x - ungrouped.gv[i]) <= 1e-6 * scale));
  },
);

test.serial('groups of 3 on 1 and 2 pool threads: the in-process sums bit for bit', async (t) => {
  const local = new LocalProblem(net, data, 'ce', bsize, {}, 'linearized', 3);
  const want = await passes(local);
  await local.close();
  for (const workers of [1, 2]) {
    const pool = new PoolProblem(net, data, 'ce', {
      workers,
      bsize,
      backend: 'cpu',
      chunksPerResult: 3,
    });
    try {
      const got = await passes(pool);
      t.deepEqual([...got.fg.grad], [...want.fg.grad], `${workers} threads`);
      t.is(got.fg.loss, want.fg.loss);
      t.deepEqual(got.gv, want.gv, `${workers} threads`);
    } finally {
      await pool.close();
    }
  }
});

const sets: TrainTest = {
  name: 'synthetic',
  train: data,
  test: syntheticData(100, [12], 4, 22),
};
const trajectory = (h: TrainIteration[]) =>
  h.map(({ iterSeconds: _s, elapsedSeconds: _e, ...r }) => r);

test.serial(
  'train with --chunks-per-result 2: the same trajectory in-process and on 2 threads',
  async (t) => {
    const common = {
      data: sets,
      model: 'mlp:16',
      C: 1,
      iters: 3,
      bsize,
      gnSize: 256,
      seed: 4,
      backend: 'cpu' as const,
      chunksPerResult: 2,
    };
    const inProcess = await train({ ...common, workers: 0 });
    const threads = await train({ ...common, workers: 2 });
    t.deepEqual(trajectory(threads.history), trajectory(inProcess.history));
    t.deepEqual([...threads.params], [...inProcess.params]);
    t.true(inProcess.history.at(-1)!.f < inProcess.history[0].f);
  },
);

test.serial('a bad chunksPerResult is refused in the option’s own words', async (t) => {
  await t.throwsAsync(train({ data: sets, model: 'mlp:8', iters: 1, chunksPerResult: 0 }), {
    message: /chunksPerResult/,
  });
  t.throws(() => new PassEngine({} as never, { dim: 1, numSamples: 1, chunksPerResult: 1.5 }), {
    message: 'chunksPerResult must be a positive integer, got 1.5',
  });
});

test.serial('placement goes by group; a worker checks a task’s group', (t) => {
  t.is(taskPosition({ chunk: 6 }), 6);
  t.is(taskPosition({ chunk: 6, group: 3 }), 2);
  t.is(taskPosition({ chunk: 6, group: 4 }), 1); // never sent: chunks start groups
  const task = (extra: Record<string, unknown>) => ({
    type: 'task',
    rid: 'r1',
    id: 1,
    task: { kind: 'f', chunk: 6, thetaVersion: 1, slot: 0, attempt: 0, ...extra },
  });
  t.notThrows(() => checkToWorker(task({ group: 3 })));
  t.throws(() => checkToWorker(task({ group: 0 })), { instanceOf: MessageError });
  t.throws(() => checkToWorker(task({ group: 4 })), {
    instanceOf: MessageError,
    message: /task\.chunk/,
  });
});
