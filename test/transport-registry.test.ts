/**
 * Transports by name (src/transport/registry.ts): an unknown name is a UsageError listing
 * the registered ones; a name cannot be registered twice; a transport defined here, in
 * the test alone (in-process with a delay per chunk), registered with registerTransport
 * and opened through openProblem, gives f, ∇f, Gv and accuracy bit for bit as the
 * in-process transport does, and leaves no tensor behind; the threads transport opened by
 * name takes its fault plan under the FAULTS symbol.
 */
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { initBackend } from '../src/backend/select.ts';
import type { PassEngine } from '../src/engine/engine.ts';
import type { Transport } from '../src/engine/transport.ts';
import { UsageError } from '../src/errors.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { FAULTS } from '../src/transport/faults.ts';
import {
  openProblem,
  openTransport,
  registerTransport,
  transportNames,
  transportUnit,
  type TransportSetup,
} from '../src/transport/registry.ts';
import { randomVec, syntheticData } from './helpers/synthetic.ts';

const data = syntheticData(300, [6, 6, 1], 4, 21);
const testSet = syntheticData(101, [6, 6, 1], 4, 31);
const net = new Network(presetModel('mlp:16', [6, 6, 1], 4));
const theta0 = Float64Array.from(initParams(net.layout, 2));
const theta1 = Float64Array.from(theta0, (x, i) => x + 0.3 * Math.sin(i));
const S = Int32Array.from({ length: 60 }, (_, i) => i * 5); // 2 Gv chunks
const setup: TransportSetup = {
  net,
  data,
  loss: 'ce',
  bsize: 37, // 9 data chunks, 3 accuracy chunks
  backend: 'wasm',
  gv: 'linearized',
  evalSets: { test: testSet },
};

/** The toy transport: the in-process one, each chunk `ms` later. */
function delayed(inner: Transport, ms: number, runs: { n: number }): Transport {
  return {
    get workers() {
      return inner.workers;
    },
    get capacity() {
      return inner.capacity;
    },
    publishTheta: (version, theta) => inner.publishTheta(version, theta),
    publishEvalTheta: (version, theta) => inner.publishEvalTheta(version, theta),
    publishSubset: (version, subset) => inner.publishSubset(version, subset),
    publishV: (version, v) => inner.publishV(version, v),
    async run(task, options) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      runs.n++;
      return inner.run(task, options);
    },
    stop: () => inner.stop(),
    close: () => inner.close(),
  };
}

/** Every pass of the engine, twice at different θ or v: the values, as plain arrays. */
async function passes(p: PassEngine) {
  const { loss, grad } = await p.lossAndGradient(theta0);
  const G = await p.gaussNewton(theta0, S);
  const gv = [[...(await G.apply(randomVec(net.numParams, 9)))]];
  gv.push([...(await G.apply(randomVec(net.numParams, 10)))]);
  await G.release();
  return {
    loss,
    grad: [...grad],
    f1: await p.loss(theta1),
    gv,
    accuracy: [await p.accuracy(theta0, 'test'), await p.accuracy(theta1, 'test')],
  };
}

test.serial('an unknown transport name is a UsageError listing the registered ones', async (t) => {
  t.deepEqual(transportNames(), ['in-process', 'threads', 'nats']);
  const message =
    "unknown transport 'carrier-pigeon': use in-process, threads or nats (or register one with registerTransport)";
  t.throws(() => transportUnit('carrier-pigeon'), { instanceOf: UsageError, message });
  await t.throwsAsync(() => openTransport('carrier-pigeon', setup, { workers: 0 }), {
    instanceOf: UsageError,
    message,
  });
  await t.throwsAsync(() => openProblem('carrier-pigeon', setup, { workers: 0 }), {
    instanceOf: UsageError,
    message,
  });
  // nats without its options says so before connecting anywhere
  await t.throwsAsync(() => openProblem('nats', setup, { workers: 0 }), {
    instanceOf: UsageError,
    message: /the nats transport needs options\.nats/,
  });
});

test.serial('a name cannot be registered twice', (t) => {
  const threads = transportUnit('threads');
  t.throws(() => registerTransport({ ...threads, description: 'another pool' }), {
    message: "registerTransport: a transport named 'threads' is already registered",
  });
  t.is(transportUnit('threads'), threads);
  t.deepEqual(transportNames(), ['in-process', 'threads', 'nats']);
});

test.serial(
  'a transport registered by a test runs every pass bit for bit as in-process, leaking no tensor',
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const runs = { n: 0 };
    registerTransport({
      name: 'delayed',
      description: 'in-process, 3 ms later per chunk (a test)',
      open: async (s, o) => delayed(await openTransport('in-process', s, o), 3, runs),
    });
    t.deepEqual(transportNames(), ['in-process', 'threads', 'nats', 'delayed']);
    t.throws(() => transportUnit('nowhere'), {
      message:
        "unknown transport 'nowhere': use in-process, threads, nats or delayed (or register one with registerTransport)",
    });
    const local = await openProblem('in-process', setup, { workers: 0 });
    const want = await passes(local);
    await local.close();
    const toy = await openProblem('delayed', setup, { workers: 0 });
    try {
      t.is(toy.workers, 0);
      t.deepEqual(await passes(toy), want);
      t.is(runs.n, 9 + 2 * 2 + 9 + 2 * 3, 'every chunk went through the toy transport');
      t.is(toy.stats.tasks, runs.n);
    } finally {
      await toy.close();
    }
    t.true(want.accuracy.every((a) => a > 0 && a < 1));
    t.is(tf.memory().numTensors, before, 'tensors leaked');
  },
);

test.serial(
  'threads by name: the same values as in-process, and the fault plan under FAULTS is applied',
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const local = await openProblem('in-process', setup, { workers: 0 });
    const want = await local.lossAndGradient(theta0);
    await local.close();
    const pool = await openProblem('threads', setup, {
      workers: 2,
      [FAULTS]: { kind: 'f+grad', chunk: 1, attempts: 1, mode: 'throw' },
    });
    try {
      t.is(pool.workers, 2);
      const got = await pool.lossAndGradient(theta0);
      t.is(got.loss, want.loss);
      t.deepEqual([...got.grad], [...want.grad]);
      t.is(pool.stats.retries, 1, 'chunk 1 failed once and ran again');
    } finally {
      await pool.close();
    }
    t.is(tf.memory().numTensors, before, 'tensors leaked');
  },
);
