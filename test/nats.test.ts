/**
 * Training over NATS against a real nats-server and real worker processes
 * (`tfjs-newton worker --nats URL`, from dist/): the trajectory is bit for bit the
 * in-process one; a worker killed with SIGKILL during a Gv pass or during f+∇f changes
 * nothing; a worker joining mid-run takes work; no worker at all, bad credentials, a server
 * that is down, and a server that goes away mid-run end with one-line errors (the last
 * case with the last good state written); a worker rejects malformed messages and goes
 * on serving. No process is left at the end.
 * Left out where nats-server is not installed, unless TFJS_NEWTON_REQUIRE_NATS=1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { initBackend } from '../src/backend/select.ts';
import { loadCheckpoint } from '../src/checkpoint.ts';
import { RunError } from '../src/errors.ts';
import { connectNats, NatsConnectError } from '../src/transport/nats/connect.ts';
import { decodeFrame, encodeFrame, PROTOCOL_VERSION } from '../src/transport/nats/frames.ts';
import { SUBJECTS } from '../src/transport/nats/protocol.ts';
import { PassEngine } from '../src/engine/engine.ts';
import { startTraining } from '../src/host/start.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { Rng } from '../src/rng.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { NatsTransport } from '../src/transport/nats/coordinator.ts';
import { train, type TrainOptions } from '../src/run/train.ts';
import {
  natsTestRule,
  startNatsServer,
  type NatsServerHandle,
  killNatsWorkers,
  startNatsWorker,
  type NatsWorkerProcess,
} from './helpers/nats-server.ts';
import { NATS_RUN, NATS_SETS, trajectory } from './helpers/nats-run.ts';

const rule = natsTestRule();
const natsTest = rule.available ? test.serial : test.serial.skip;

const CLI = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');

const sets = NATS_SETS;
const common = NATS_RUN;

type WorkerProcess = NatsWorkerProcess;

const workers: WorkerProcess[] = [];
let server: NatsServerHandle | null = null;
const extraServers: NatsServerHandle[] = [];

/** Starts a worker (startNatsWorker) and keeps it for the final kill. */
async function startWorker(url: string, extra: string[] = []): Promise<WorkerProcess> {
  const w = await startNatsWorker(url, extra);
  workers.push(w);
  return w;
}

const killAll = killNatsWorkers;

test.before(async () => {
  if (!rule.available) return;
  await initBackend('wasm');
  server = await startNatsServer();
});

test.after.always(async () => {
  await killAll(workers);
  await server?.stop();
  await Promise.all(extraServers.map((s) => s.stop()));
  t_noProcessLeft();
});

/** Every worker process started here has exited. */
function t_noProcessLeft(): void {
  const alive = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null);
  if (alive.length > 0) throw new Error(`${alive.length} worker processes left running`);
}

let reference: Awaited<ReturnType<typeof train>> | null = null;
async function inProcess() {
  reference ??= await train({ ...common, workers: 0 });
  return reference;
}

const nats = (extra: Partial<NonNullable<TrainOptions['nats']>> = {}) => ({
  url: server!.url,
  onStatus: () => {},
  ...extra,
});

natsTest('2 worker processes over NATS give the in-process trajectory bit for bit', async (t) => {
  const ws = [await startWorker(server!.url), await startWorker(server!.url)];
  try {
    const want = await inProcess();
    const r = await train({ ...common, nats: nats() });
    t.deepEqual(trajectory(r.history), trajectory(want.history));
    t.is(r.testAcc, want.testAcc);
    t.deepEqual([...r.params], [...want.params]);
    t.is(r.workers, 2);
    // both took part
    for (const w of ws) t.regex(w.output(), /set up for run/);
  } finally {
    await killAll(ws);
  }
});

/**
 * A pass engine over NATS (mlp:32 on the synthetic set, chunks of 128) with its Gauss-Newton
 * operator at a fixed θ and S of 512 (4 chunks), applied until both workers of the run take
 * part; `chunksPerResult` as the engine's option.
 */
async function twoWorkerGv(chunksPerResult?: number) {
  const data = sets.train;
  const net = new Network(presetModel('mlp:32', data.inputShape, data.numClasses));
  const transport = await NatsTransport.open(net, data, 'ce', {
    url: server!.url,
    onStatus: () => {},
    bsize: 128,
    backend: 'wasm',
    gv: 'linearized',
  });
  const engine = new PassEngine(transport, {
    dim: net.numParams,
    numSamples: data.n,
    bsize: 128,
    chunksPerResult,
  });
  const theta = Float64Array.from(initParams(net.layout, 1));
  const G = await engine.gaussNewton(theta, new Rng(2).subset(data.n, 512));
  const v = Float64Array.from({ length: net.numParams }, (_, i) => Math.sin(i));
  const apply = (scale: number) =>
    G.apply(
      v.map((x) => scale * x),
      new Float64Array(net.numParams),
    );
  // until both workers take part
  for (let i = 0; i < 50 && transport.workers < 2; i++) await apply(1);
  return { data, net, transport, engine, theta, apply };
}

natsTest('v goes out once per CG step for all workers: the server fans it out', async (t) => {
  const ws = [await startWorker(server!.url), await startWorker(server!.url)];
  const { data, net, transport, engine, theta, apply } = await twoWorkerGv();
  try {
    t.is(transport.workers, 2);
    await apply(3); // once more: a later one catches up on θ and S
    const sentBefore = transport.traffic().reduce((a, w) => a + w.sent, 0);
    const publishedBefore = transport.bytesPublished;
    const first = await apply(2);
    const vBytes = 4 * net.numParams;
    const published = transport.bytesPublished - publishedBefore;
    const sent = transport.traffic().reduce((a, w) => a + w.sent, 0) - sentBefore;
    t.true(published >= vBytes && published < 1.2 * vBytes, `published ${published}`);
    t.true(sent >= 2 * vBytes, `delivered ${sent}`);
    // and the product is the in-process one
    const local = new LocalProblem(net, data, 'ce', 128);
    const v2 = Float64Array.from({ length: net.numParams }, (_, i) => 2 * Math.sin(i));
    const want = await (
      await local.gaussNewton(theta, new Rng(2).subset(data.n, 512))
    ).apply(v2, new Float64Array(net.numParams));
    t.deepEqual([...first], [...want]);
    await local.close();
  } finally {
    await engine.close();
    await killAll(ws);
  }
});

natsTest(
  'reduction groups over NATS (--chunks-per-result 2): the in-process trajectory with the same groups, one result per group',
  async (t) => {
    const ws = [await startWorker(server!.url), await startWorker(server!.url)];
    try {
      // 4 Gv chunks and 5 f+∇f chunks: groups of 2 are 2 and 3 tasks
      const grouped = { ...common, bsize: 128, chunksPerResult: 2 };
      const want = await train({ ...grouped, workers: 0 });
      const r = await train({ ...grouped, nats: nats() });
      t.deepEqual(trajectory(r.history), trajectory(want.history));
      t.deepEqual([...r.params], [...want.params]);

      // the bytes of a CG step: a result per group (2), not per chunk (4)
      const { net, transport, engine, apply } = await twoWorkerGv(2);
      try {
        const received = () => transport.traffic().reduce((a, w) => a + w.received, 0);
        const before = received();
        await apply(2);
        const bytes = received() - before;
        const result = 4 * net.numParams;
        t.true(
          bytes >= 2 * result && bytes < 2.2 * result,
          `received ${bytes}, a result ${result}`,
        );
      } finally {
        await engine.close();
      }
    } finally {
      await killAll(ws);
    }
  },
);

for (const pass of ['Gv', 'f+grad'] as const) {
  natsTest(
    `a worker process killed (SIGKILL) during a ${pass} pass: its chunks run elsewhere, the trajectory is unchanged`,
    async (t) => {
      const ws = [await startWorker(server!.url), await startWorker(server!.url)];
      try {
        let killed = false;
        let iterations = 0;
        const r = await train({
          ...common,
          nats: nats(),
          onIteration: () => iterations++,
          onProgress: (p, done) => {
            // in the second iteration, after the pass's first chunk is in
            if (!killed && iterations === 1 && p === pass && done >= 1) {
              killed = true;
              ws[0].proc.kill('SIGKILL');
            }
          },
        });
        t.true(killed);
        t.deepEqual(trajectory(r.history), trajectory((await inProcess()).history));
      } finally {
        await killAll(ws);
      }
    },
  );
}

natsTest(
  'a worker joining mid-run takes work from a later pass; the trajectory is unchanged',
  async (t) => {
    const first = await startWorker(server!.url);
    let late: WorkerProcess | null = null;
    let starting: Promise<WorkerProcess> | null = null;
    try {
      const r = await train({
        ...common,
        iters: 6,
        nats: nats(),
        // after iteration 1, the run waits until the new worker is set up for it
        onBoundary: async (b) => {
          if (b.iter !== 1) return;
          starting = startWorker(server!.url);
          const w = await starting;
          while (!w.output().includes('set up for run'))
            await new Promise((r) => setTimeout(r, 50));
        },
      });
      late = await starting!;
      const want = await train({ ...common, iters: 6, workers: 0 });
      t.deepEqual(trajectory(r.history), trajectory(want.history));
      t.regex(late.output(), /set up for run/);
      t.is(r.workers, 2, 'the late worker was taking tasks at the end');
    } finally {
      await killAll([first, ...(late ? [late] : [])]);
    }
  },
);

natsTest(
  'no worker at all: the run says it waits, then fails naming the server, with the last good state written',
  async (t) => {
    const lines: string[] = [];
    const out = mkdtempSync(join(tmpdir(), 'nats-run-'));
    const e = await t.throwsAsync(
      train({
        ...common,
        out,
        nats: nats({ waitForWorkersMs: 1500, onStatus: (l) => lines.push(l) }),
      }),
      { instanceOf: RunError },
    );
    t.regex(
      e!.message,
      new RegExp(
        `^no tfjs-newton worker on ${server!.url} for \\d+ s: start one with tfjs-newton worker --nats ${server!.url}`,
      ),
    );
    t.false(e!.message.includes('\n'));
    t.true(
      lines.some((l) => l.startsWith(`waiting for workers on ${server!.url}`)),
      lines.join('\n'),
    );
    t.is(loadCheckpoint(out).state.iter, 0);
  },
);

natsTest(
  'startTraining with nats: the status lines reach onStatus on the host, and the run fails naming the server',
  async (t) => {
    const lines: string[] = [];
    const h = startTraining({
      ...common,
      nats: nats({ waitForWorkersMs: 1500, onStatus: (l) => lines.push(l) }),
    });
    const e = await t.throwsAsync(h.result, { instanceOf: RunError });
    t.regex(e!.message, new RegExp(`^no tfjs-newton worker on ${server!.url} for \\d+ s`));
    t.true(
      lines.some((l) => l.startsWith(`waiting for workers on ${server!.url}`)),
      lines.join('\n'),
    );
  },
);

natsTest(
  'bad credentials and a server that is down: one-line errors naming the server',
  async (t) => {
    const guarded = await startNatsServer({ token: 's3cret' });
    extraServers.push(guarded);
    const bad = await t.throwsAsync(
      train({ ...common, nats: { url: guarded.url, token: 'wrong' } }),
      { instanceOf: NatsConnectError },
    );
    t.regex(bad!.message, /refused the credentials/);
    t.true(bad!.message.includes(guarded.url));
    t.false(bad!.message.includes('\n'));
    const port = guarded.port;
    await guarded.stop();
    const down = await t.throwsAsync(
      train({ ...common, nats: { url: `nats://127.0.0.1:${port}`, connectTimeoutMs: 2000 } }),
      { instanceOf: NatsConnectError },
    );
    t.regex(
      down!.message,
      new RegExp(`^cannot reach the NATS server at nats://127\\.0\\.0\\.1:${port}`),
    );
    t.false(down!.message.includes('\n'));
  },
);

natsTest(
  'a worker rejects malformed, oversized and out-of-version messages with a reason, and goes on serving',
  async (t) => {
    const w = await startWorker(server!.url);
    const nc = await connectNats({ url: server!.url });
    try {
      // the worker's id, from its hello
      const wid = await new Promise<string>((resolve) => {
        const sub = nc.subscribe(SUBJECTS.presence, {
          callback: (err, msg) => {
            if (err) return;
            const id = decodeFrame(msg.data).meta.wid as string;
            if (w.output().includes(id)) {
              sub.unsubscribe();
              resolve(id);
            }
          },
        });
      });
      const subject = SUBJECTS.worker(wid);
      nc.publish(subject, new TextEncoder().encode('hello there'));
      const v2 = encodeFrame({ type: 'end', rid: 'x' });
      v2[4] = PROTOCOL_VERSION + 1;
      nc.publish(subject, v2);
      nc.publish(
        subject,
        encodeFrame({ type: 'task', rid: 'run-1', id: 1, task: { kind: 'explode' } }),
      );
      nc.publish(
        subject,
        encodeFrame(
          { type: 'state', rid: 'run-1', what: 'theta', version: 1, part: 0, parts: 1, total: 8 },
          new Uint8Array(8),
        ),
      );
      nc.publish(subject, encodeFrame({ type: 'end', rid: '../../etc' }));
      await nc.flush();
      await new Promise((r) => setTimeout(r, 300));
      const log = w.output();
      t.regex(log, /rejected a message: not a tfjs-newton message/);
      t.regex(
        log,
        new RegExp(
          `rejected a message: version mismatch: the message speaks tfjs-newton protocol ${PROTOCOL_VERSION + 1}, this build ${PROTOCOL_VERSION}`,
        ),
      );
      t.regex(log, /rejected a message: bad task message: task\.kind is "explode"/);
      t.regex(
        log,
        /rejected a state message of run run-1: state for run run-1, which was not set up here/,
      );
      t.regex(log, /rejected a message: bad end message: rid is/);
      t.is(w.proc.exitCode, null, 'still running');
      // and it still serves a run
      const r = await train({ ...common, iters: 2, nats: nats() });
      t.deepEqual(trajectory(r.history), trajectory((await inProcess()).history.slice(0, 2)));
    } finally {
      await nc.close();
      await killAll([w]);
    }
  },
);

natsTest(
  'the server going away mid-run ends the run with a one-line error and the last good state written',
  async (t) => {
    const own = await startNatsServer();
    extraServers.push(own);
    const ws = [await startWorker(own.url)];
    const out = mkdtempSync(join(tmpdir(), 'nats-run-'));
    try {
      const e = await t.throwsAsync(
        train({
          ...common,
          iters: 10,
          out,
          nats: { url: own.url, onStatus: () => {} },
          onIteration: (it) => {
            if (it.iter === 2) own.kill();
          },
        }),
        { instanceOf: RunError },
      );
      t.regex(e!.message, new RegExp(`lost the NATS server at ${own.url}`));
      t.regex(e!.message, /the last good parameters \(after iteration 2\) are in /);
      t.is(loadCheckpoint(out).state.iter, 2);
    } finally {
      await killAll(ws);
    }
  },
);

natsTest(
  'bench scaling --nats times worker processes against threads, with bytes per worker and the cost model',
  async (t) => {
    const r = spawn(
      process.execPath,
      [
        CLI,
        'bench',
        'scaling',
        '--nats',
        server!.url,
        '--processes',
        '1,2',
        '--models',
        'mlp:16',
        '--samples',
        '512',
        '--gn-size',
        '256',
        '--bsize',
        '128',
        '--reps',
        '1',
        '--backend',
        'wasm',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    r.stdout!.on('data', (d) => (out += d));
    r.stderr!.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => r.once('exit', (c) => resolve(c)));
    t.is(code, 0, err);
    const report = JSON.parse(out);
    t.is(report.rows.length, 4);
    const dim = report.dim['mlp:16'];
    for (const row of report.rows) {
      t.true(row.ms > 0 && row.threadsMs > 0 && row.vsThreads > 0);
      // each chunk's result comes back whole: at least 4·dim bytes per chunk, split over the workers
      t.true(
        row.bytesReceivedPerWorker * row.processes >= row.chunks * 4 * dim,
        JSON.stringify(row),
      );
      if (row.pass === 'Gv') t.true(row.bytesSentPerWorker >= 4 * dim, 'v went to every worker');
    }
    t.is(report.costModel.fits.length, 2);
    t.is(report.costModel.fits[0].atLink.length, 64);
  },
);

natsTest(
  'data that stays on its machines: no upload, workers load it locally and are checked by digest',
  async (t) => {
    const own = await startNatsServer();
    extraServers.push(own);
    const good = await startWorker(own.url, ['--data', 'digits']);
    const other = await startWorker(own.url, ['--data', 'digits', '--scale', '8']);
    try {
      const opts: TrainOptions = {
        data: 'digits',
        model: 'mlp:16',
        C: 1,
        iters: 3,
        bsize: 512,
        seed: 2,
        backend: 'wasm',
      };
      const want = await train({ ...opts, workers: 0 });
      const lines: string[] = [];
      const r = await train({
        ...opts,
        nats: { url: own.url, upload: false, onStatus: (l) => lines.push(l) },
      });
      t.deepEqual(trajectory(r.history), trajectory(want.history));
      t.is(r.workers, 1, 'only the worker with the same data took part');
      t.regex(
        other.output(),
        /cannot take run .*: no data set sha256:\w+ here: the local data \(digits\) has sha256:/,
      );
      t.true(
        lines.some((l) => /cannot take this run: no data set/.test(l)),
        lines.join('\n'),
      );
    } finally {
      await killAll([good, other]);
    }
  },
);
