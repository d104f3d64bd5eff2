/**
 * startTraining: a training in its own thread, driven from a host that stays responsive.
 *
 * - the host's event loop (an HTTP server on loopback, asked by a client in another
 *   process) stays free while a Fashion-MNIST-shaped MLP trains; with train() on the main
 *   thread the same measurement shows the stall;
 * - abort (during a Gv pass), pause/resume at an iteration boundary and snapshots, with a
 *   checkpoint that resumes on the uninterrupted trajectory bit for bit;
 * - errors arrive as the classes and messages train() throws;
 * - the host-wide compute budget;
 * - after every training, nothing is left: the thread exited by itself (code 0), the
 *   process has the threads and ports it had before, and a host process exits by itself.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { MessageChannel } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import test, { type ExecutionContext } from 'ava';
import { nativeUnavailable } from '../src/backend/select.ts';
import { loadCheckpoint } from '../src/checkpoint.ts';
import { DataError } from '../src/data/errors.ts';
import { AbortError, RunError, UsageError } from '../src/errors.ts';
import { computeWorkerUsage, setComputeWorkerCap } from '../src/host/budget.ts';
import { startTraining, type StartOptions, type TrainingHandle } from '../src/host/start.ts';
import { Comlink, errorFromWire, errorToWire } from '../src/host/wire.ts';
import { loadModel } from '../src/model/keras.ts';
import { train, type TrainIteration, type TrainResult } from '../src/run/train.ts';
import { WITH_NATIVE } from './helpers/native.ts';
import { syntheticData } from './helpers/synthetic.ts';
import { SMALL_DIGITS_RUN } from './helpers/runs.ts';

const ITERS = 5;
const small: StartOptions = { ...SMALL_DIGITS_RUN, iters: ITERS, workers: 2 };

/** The history without its times, as a checkpoint holds it (NaN → null). */
const timeless = (h: TrainIteration[]) =>
  JSON.parse(JSON.stringify(h.map(({ iterSeconds: _s, elapsedSeconds: _e, ...r }) => r))) as Record<
    string,
    unknown
  >[];

let reference: Promise<TrainResult> | undefined;
/** The uninterrupted run of `small`, itself started with startTraining. */
const uninterrupted = () => (reference ??= startTraining(small).result);

function sameAsUninterrupted(
  t: ExecutionContext,
  got: TrainResult,
  want: TrainResult,
  what: string,
) {
  t.deepEqual(timeless(got.history), timeless(want.history), `${what}: history`);
  t.deepEqual([...got.params], [...want.params], `${what}: params`);
}

/** This process's threads (Linux), or null where /proc is not there. */
const threads = () =>
  existsSync('/proc/self/task') ? readdirSync('/proc/self/task').length : null;
/** Open message ports (a training's thread and its event channel show up as these). */
const ports = () =>
  process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;

interface Baseline {
  threads: number | null;
  ports: number;
}

const baseline = (): Baseline => ({ threads: threads(), ports: ports() });

/** Every thread exited by itself; the process is back to its threads and ports; no compute slot held. */
async function nothingLeft(t: ExecutionContext, handles: TrainingHandle[], before: Baseline) {
  for (const h of handles) t.is(await h.exited, 0, `thread ${h.threadId} exited by itself`);
  // a thread is listed in /proc until it is joined, a closed port until its close is processed: give them a moment
  for (let i = 0; i < 40 && (threads() !== before.threads || ports() !== before.ports); i++)
    await delay(50);
  t.is(threads(), before.threads, 'threads');
  t.is(ports(), before.ports, 'message ports');
  t.is(computeWorkerUsage().inUse, 0, 'compute slots');
  t.is(computeWorkerUsage().waiting, 0, 'trainings waiting');
}

test.before(async () => {
  // the host's own lazily started threads (libuv's pool, the tfjs backend) before any baseline
  await readFile(new URL(import.meta.url));
  await tf.ready();
});

test.serial(
  "the host's event loop stays free while a Fashion-MNIST-shaped MLP trains; train() on the main thread stalls it",
  async (t) => {
    const data = {
      name: 'fashion-shaped',
      train: syntheticData(4000, [28, 28, 1], 10, 11),
      test: syntheticData(1000, [28, 28, 1], 10, 12),
    };
    const options = { data, model: 'mlp:256,256', C: 1, backend: 'wasm', iters: 200 } as const;
    const server = createServer((_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const REQUESTS = 25;
    const GAP_MS = 60;

    /** Trains with `start` until a client in another process has sent its requests, measuring the loop's delay meanwhile. */
    async function measure(start: (o: StartOptions) => Promise<TrainResult>) {
      const h = monitorEventLoopDelay({ resolution: 1 });
      const controller = new AbortController();
      let client:
        Promise<{ status?: number; body?: string; error?: string; ms: number }[]> | undefined;
      h.enable();
      const result = start({
        ...options,
        signal: controller.signal,
        // the requests start once training computes, and training stops once they are answered
        onProgress: () => {
          if (client) return;
          const child = spawn(
            process.execPath,
            [
              join(import.meta.dirname, 'helpers', 'http-client.mjs'),
              url,
              String(REQUESTS),
              String(GAP_MS),
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          child.stdout.on('data', (b: Buffer) => (out += b.toString()));
          client = once(child, 'close').then(() => {
            controller.abort();
            return JSON.parse(out);
          });
        },
      });
      const r = await result;
      h.disable();
      const answers = await client!;
      return { r, answers, p99: h.percentile(99) / 1e6, max: h.max / 1e6, samples: h.count };
    }

    try {
      const before = baseline();
      let handle: TrainingHandle | undefined;
      const off = await measure((o) => (handle = startTraining(o)).result);
      const fmt = (m: typeof off) =>
        `p99 ${m.p99.toFixed(1)} ms, max ${m.max.toFixed(1)} ms over ${m.samples} samples; ${m.answers.filter((a) => a.body === 'ok').length}/${REQUESTS} requests answered, slowest ${Math.max(...m.answers.map((a) => a.ms)).toFixed(0)} ms; ${m.r.history.length} iterations on ${m.r.workers} compute workers`;
      t.log(`startTraining: ${fmt(off)}`);
      t.true(off.r.interrupted, 'training was still running when the requests were done');
      t.deepEqual(
        off.answers.map((a) => a.body),
        Array(REQUESTS).fill('ok'),
        'every request answered',
      );
      t.true(off.p99 < 20, `event-loop delay p99 ${off.p99} ms`);
      await nothingLeft(t, [handle!], before);

      const on = await measure((o) => train({ ...o, workers: 0 }));
      t.log(`train() on the main thread (workers: 0): ${fmt(on)}`);
      t.true(on.r.interrupted);
      t.true(on.max > 50, `the main-thread training stalls the loop: max ${on.max} ms`);
      t.true(on.p99 > off.p99, 'and its p99 is worse');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  },
);

test.serial(
  'abort during a Gv pass: interrupted after the last iteration, nothing left running, the checkpoint resumes exactly',
  async (t) => {
    const want = await uninterrupted();
    const before = baseline();
    const out = mkdtempSync(join(tmpdir(), 'start-'));
    const h = startTraining({ ...small, out });
    let completed = 0;
    let iterationEvents = 0;
    const afterAbort: string[] = [];
    let aborted = false;
    h.on('iteration', (it) => {
      completed = it.iter;
      iterationEvents++;
      if (aborted) afterAbort.push(`iteration ${it.iter}`);
    });
    h.on('progress', (pass) => {
      if (aborted) afterAbort.push(pass);
      else if (completed === 2 && pass === 'Gv') {
        aborted = true;
        h.abort();
      }
    });
    const r = await h.result;
    t.true(aborted);
    t.true(r.interrupted);
    // The abort is asked for at iteration 3's first Gv chunk and reaches the training thread
    // a message later: in CG, or (on a loaded machine) in the line search or the accuracy
    // pass after it, when iteration 3 may even have ended. Wherever it lands, the run stops
    // there: only the rest of iteration 3's passes (Gv, then f, then accuracy, in that
    // order) can be reported after it, never a pass of iteration 4 ('f+grad' starts one).
    t.regex(afterAbort.join(' '), /^(Gv ?)*(f ?)*(accuracy ?)*(iteration 3)?$/);
    const k = afterAbort.includes('iteration 3') ? 3 : 2;
    t.log(`the abort reached the thread in ${afterAbort.at(-1) ?? 'Gv'}`);
    t.is(r.stopped, `interrupted after iteration ${k}`);
    t.is(r.history.length, k);
    t.is(iterationEvents, k, 'every iteration event arrived before the result');
    const c = loadCheckpoint(out);
    t.is(c.state.iter, k);
    t.deepEqual(
      timeless(c.history as unknown as TrainIteration[]),
      timeless(want.history.slice(0, k)),
    );
    t.deepEqual([...Float32Array.from(c.state.theta)], [...r.params]);
    await nothingLeft(t, [h], before);

    const resumed = startTraining({ ...small, resume: out });
    const rr = await resumed.result;
    t.falsy(rr.interrupted);
    sameAsUninterrupted(t, rr, want, 'resumed');
    await nothingLeft(t, [resumed], before);
  },
);

test.serial(
  'pause waits at an iteration boundary with nothing computing; snapshots there; resume continues on the same trajectory',
  async (t) => {
    const want = await uninterrupted();
    const before = baseline();
    const out = mkdtempSync(join(tmpdir(), 'start-'));
    const h = startTraining({ ...small, out });
    const seen: { iter: number; at: number }[] = [];
    h.on('iteration', (it) => seen.push({ iter: it.iter, at: performance.now() }));
    await once(h, 'iteration');
    const k = (await h.pause())!;
    t.true(k === 1 || k === 2, `paused after iteration ${k}`);
    t.is(seen.length, k, 'the iteration events up to the boundary arrived before pause() resolved');
    t.is(await h.pause(), k, 'pausing again: the same boundary');
    let events = 0;
    h.on('progress', () => events++);
    h.on('iteration', (it) => (events += it.iter > k ? 1 : 0));
    const PAUSE_MS = 1500;
    await delay(PAUSE_MS);
    t.is(events, 0, 'nothing computed while paused');
    const theta = Float32Array.from(loadCheckpoint(out).state.theta);
    t.is(loadCheckpoint(out).state.iter, k);

    const tensors = tf.memory().numTensors;
    const snap = await h.snapshot();
    t.is(snap.iter, k);
    t.deepEqual([...snap.params], [...theta], 'the snapshot is the checkpointed θ');
    // the model's weights (after its input preprocessing layers) are θ, block by block
    const weights = snap.model.layers
      .filter((l) => !l.name.startsWith('tfjs_newton_preprocess'))
      .flatMap((l) => l.getWeights());
    t.deepEqual([...new Float32Array(weights.flatMap((w) => [...w.dataSync()]))], [...theta]);
    const x = tf.zeros([3, 8, 8, 1]);
    const y = snap.model.predict(x) as tf.Tensor;
    t.deepEqual(y.shape, [3, 10]);
    tf.dispose([x, y]);
    snap.model.dispose();
    t.is(tf.memory().numTensors, tensors, 'no tensor left on the host');

    const dir = mkdtempSync(join(tmpdir(), 'start-snap-'));
    const saved = await h.snapshot(dir);
    t.is(saved.iter, k);
    t.is(saved.dir, dir);
    t.deepEqual([...loadModel(dir).theta], [...theta], 'the folder holds the same θ');

    await h.resume();
    const r = await h.result;
    sameAsUninterrupted(t, r, want, 'paused and resumed');
    // the pause is not training time
    const wall = (seen[k].at - seen[k - 1].at) / 1000;
    const elapsed = r.history[k].elapsedSeconds - r.history[k - 1].elapsedSeconds;
    t.true(wall > PAUSE_MS / 1000, `${wall} s between the iterations around the pause`);
    t.true(
      elapsed < wall - (0.8 * PAUSE_MS) / 1000,
      `elapsedSeconds grew by ${elapsed} s over a pause of ${PAUSE_MS} ms`,
    );

    // after the run: pause has nothing to wait for; a snapshot is the final θ
    t.is(await h.pause(), null);
    await h.resume();
    const last = await h.snapshot();
    t.is(last.iter, ITERS);
    t.deepEqual([...last.params], [...r.params]);
    last.model.dispose();
    t.is(tf.memory().numTensors, tensors);
    await nothingLeft(t, [h], before);
  },
);

test.serial('a pause or a pending pause is left by abort', async (t) => {
  const before = baseline();
  const h = startTraining({ ...small, iters: 50 });
  const paused = h.pause(); // asked before the first boundary: the run waits there, at iteration 0
  t.is(await paused, 0);
  h.abort();
  const r = await h.result;
  t.true(r.interrupted);
  t.is(r.stopped, 'interrupted after iteration 0');
  t.is(r.history.length, 0);
  t.is(await h.pause(), null);
  await nothingLeft(t, [h], before);
});

test.serial(
  "errors arrive as train()'s classes and messages; a bad option throws before any thread starts",
  async (t) => {
    const before = baseline();
    const e = t.throws(() => startTraining({ itres: 3 } as StartOptions), {
      instanceOf: TypeError,
      message: "unknown option 'itres' (did you mean 'iters'?)",
    });
    t.is((e as TypeError & { code: string }).code, 'ERR_INVALID_ARG_VALUE');
    t.throws(() => startTraining({ gnRatio: -1 }), {
      instanceOf: RangeError,
      message: "option 'gnRatio' must be in (0, 1], got -1",
    });
    t.throws(() => startTraining({ onBoundary: () => {} } as StartOptions), {
      instanceOf: TypeError,
      message: /onBoundary/,
    });
    t.is(threads(), before.threads);
    t.is(ports(), before.ports);

    const badCsv = join(mkdtempSync(join(tmpdir(), 'start-')), 'bad.csv');
    writeFileSync(badCsv, '1,2,0\n3,x,1\n');
    const cases: [string, StartOptions, new (...a: never[]) => Error][] = [
      [
        'a folder that holds no checkpoint',
        { ...small, resume: mkdtempSync(join(tmpdir(), 'start-empty-')) },
        UsageError,
      ],
      ['a bad data file', { ...small, data: badCsv }, DataError],
      ['a Gauss-Newton subset larger than the data', { ...small, gnSize: 100_000 }, UsageError],
    ];
    for (const [what, options, Cls] of cases) {
      const want = await t.throwsAsync(
        () => train({ ...options, workers: 0 }),
        { instanceOf: Cls },
        `train: ${what}`,
      );
      const h = startTraining(options);
      const got = await t.throwsAsync(() => h.result, { instanceOf: Cls }, what);
      t.is(got!.constructor, want!.constructor, what);
      t.is(got!.name, want!.name);
      t.is(got!.message, want!.message);
      if (want instanceof DataError)
        t.like(got, { file: want.file, where: want.where, problem: want.problem });
      // a snapshot of a run that failed before its first iteration: the run's error
      await t.throwsAsync(() => h.snapshot(), { instanceOf: Cls, message: want!.message });
      await nothingLeft(t, [h], before);
    }
  },
);

test.serial('errors through comlink keep their class, properties and cause', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const nodeEndpoint = (await import('comlink/dist/esm/node-adapter.mjs')).default;
  const inner = new Error('Gv chunk 1 failed 3 times');
  inner.name = 'PoolError';
  const thrown: Error[] = [
    new RunError('the last good parameters are in /x', { cause: inner }),
    new AbortError('why'),
    Object.assign(new RangeError("option 'gnRatio' must be in (0, 1], got -1"), {
      code: 'ERR_OUT_OF_RANGE',
      option: 'gnRatio',
    }),
    new DataError('a.csv', 'line 2', 'not a number'),
  ];
  Comlink.expose(
    { fail: (i: number) => Promise.reject(thrown[i] ?? 'not an error') },
    nodeEndpoint(port1),
  );
  const remote = Comlink.wrap<{ fail(i: number): Promise<void> }>(nodeEndpoint(port2));
  try {
    for (const want of thrown) {
      const got = await t.throwsAsync(() => remote.fail(thrown.indexOf(want)));
      t.is(got!.constructor, want.constructor);
      t.is(got!.message, want.message);
      t.is(got!.name, want.name);
      t.is(got!.stack, want.stack);
      t.deepEqual({ ...got }, { ...want });
    }
    const run = (await t.throwsAsync(() => remote.fail(0)))!;
    t.true(run.cause instanceof Error);
    t.is((run.cause as Error).name, 'PoolError');
    t.is((run.cause as Error).message, inner.message);
    const abort = (await t.throwsAsync(() => remote.fail(1)))!;
    t.true(abort instanceof AbortError);
    t.is(abort.cause, 'why');
    // a thrown value that is not an Error crosses as comlink sends it
    const plain = await remote.fail(99).then(
      () => null,
      (e: unknown) => e,
    );
    t.is(plain, 'not an error');
    // an error class this side does not know arrives as an Error with its name
    class Odd extends Error {
      override name = 'Odd';
    }
    const odd = errorFromWire(errorToWire(new Odd('odd')));
    t.is(odd.constructor, Error);
    t.is(odd.name, 'Odd');
  } finally {
    remote[Comlink.releaseProxy]();
    const closed = Promise.all([once(port1, 'close'), once(port2, 'close')]);
    port1.close();
    await closed;
  }
});

test.serial(
  'the host-wide compute budget: trainings take the free compute workers, wait when there are none, and give them back',
  async (t) => {
    const before = baseline();
    const cap = computeWorkerUsage().cap;
    setComputeWorkerCap(2);
    try {
      t.throws(() => setComputeWorkerCap(0), { instanceOf: RangeError });
      const quick = { ...small, iters: 2 };
      const ended: Record<string, number> = {};
      const started: Record<string, number> = {};
      const run = (name: string, o: StartOptions) => {
        const h = startTraining(o);
        h.once('progress', () => (started[name] ??= performance.now()));
        void h.result.then(
          () => (ended[name] = performance.now()),
          () => {},
        );
        return h;
      };
      const a = run('a', { ...quick, workers: 1 });
      const b = run('b', { ...quick }); // asks for the whole cap: gets the 1 left
      const c = run('c', { ...quick, workers: 0 }); // computes in its own thread: one slot, none free
      const d = run('d', { ...quick, workers: 1 });
      await delay(0);
      t.deepEqual(computeWorkerUsage(), { cap: 2, inUse: 2, waiting: 2 });
      d.abort(); // while it waits: it never takes a compute worker
      const [ra, rb, rc, rd] = await Promise.all([a.result, b.result, c.result, d.result]);
      t.deepEqual([ra.workers, rb.workers, rc.workers, rd.workers], [1, 1, 0, 0]);
      t.deepEqual(
        [ra.history.length, rb.history.length, rc.history.length, rd.history.length],
        [2, 2, 2, 0],
      );
      t.true(rd.interrupted);
      t.true(started.c > Math.min(ended.a, ended.b), 'c started once a compute worker was free');
      t.deepEqual(
        timeless(ra.history),
        timeless(rc.history),
        'the same trajectory on any number of workers',
      );
      await nothingLeft(t, [a, b, c, d], before);
    } finally {
      setComputeWorkerCap(cap);
    }
  },
);

test.serial(
  'a signal aborts like abort(); a listener that throws ends the run with its error',
  async (t) => {
    const before = baseline();
    const controller = new AbortController();
    const h = startTraining({
      ...small,
      iters: 50,
      signal: controller.signal,
      onIteration: () => controller.abort(),
    });
    const r = await h.result;
    t.true(r.interrupted);
    t.is(r.stopped, 'interrupted after iteration 1');
    const boom = new Error('listener failed');
    const g = startTraining({ ...small, iters: 50 });
    g.on('iteration', () => {
      throw boom;
    });
    t.is(await t.throwsAsync(() => g.result), boom);
    await nothingLeft(t, [h, g], before);
  },
);

test('a host process exits by itself once its trainings have ended or been aborted', async (t) => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'start-host.ts')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  t.is(signal, null, `the process did not exit by itself: ${stderr}`);
  t.is(code, 0, stderr);
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
  t.like(report, { interrupted: true, iters: 2, codes: [0, 0], snapshot: { iter: 2, same: true } });
  t.regex(report.stopped, /^interrupted after iteration [12]$/);
});

if (WITH_NATIVE) {
  test.serial('native: a training thread on the tensorflow backend', async (t) => {
    // tfjs-node's own process-wide threads start when it loads: startTraining loads it on
    // this thread first (see src/host/start.ts), the baseline is taken after that
    await nativeUnavailable();
    const before = baseline();
    const h = startTraining({ ...small, backend: 'tensorflow', iters: 2 });
    const r = await h.result;
    t.is(r.backend, 'tensorflow');
    t.is(r.history.length, 2);
    await nothingLeft(t, [h], before);
  });
}
