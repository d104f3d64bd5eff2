/**
 * The NATS transport, worker side: a long-lived process (`tfjs-newton worker --nats URL`)
 * that serves the chunks of any run whose coordinator sets it up. For each run it gets the
 * data sets by content digest from the object store (or takes a local copy whose digest
 * matches), and computes on its own pool of threads (the threads transport, one backend
 * per thread). It moves state, tasks and results between NATS and that pool, nothing more.
 *
 * It says hello every second (that is how coordinators find it and know it lives), rejects
 * malformed, oversized or out-of-version messages with a logged reason and goes on, and
 * drops a run when its coordinator ends it or is no longer there.
 */
import { hostname } from 'node:os';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { datasetDigest, type Dataset } from '../../data/dataset.js';
import { isSticky } from '../../engine/placement.js';
import type { Task } from '../../engine/task.js';
import { Network } from '../../model/network.js';
import { ThreadTransport } from '../threads.js';
import { connectNats, redact, type NatsOptions } from './connect.js';
import { getDataset } from './datastore.js';
import {
  bodyF32,
  bodyI32,
  decodeFrame,
  encodeFrame,
  f32Body,
  maxBodyPart,
  MessageError,
  Reassembler,
  splitBody,
} from './frames.js';
import {
  checkToWorker,
  HEARTBEAT_MS,
  newId,
  scalarToJson,
  stateNeeds,
  SUBJECTS,
  type Setup,
  type StateName,
  type StatePart,
  type TaskMessage,
  type ToCoordinator,
} from './protocol.js';

export interface WorkerOptions extends NatsOptions {
  /** compute threads (default 1) */
  threads?: number;
  /** data sets held locally: used instead of a download when their digest is the one a run names */
  localData?: Dataset[];
  /** where the local data came from (for messages) */
  localDataSource?: string;
  /** where log lines go (default: stderr) */
  log?: (line: string) => void;
}

interface RunState {
  rid: string;
  setup: Setup;
  transport: Promise<ThreadTransport>;
  parts: Reassembler;
  lastHeard: number;
  /** local result slots in use (the pool writes results there until they are sent) */
  slotsBusy: boolean[];
  /** the state versions received whole (a task waits until it has its versions) */
  has: Record<StateName, number>;
  /** the run's state subject, subscribed once the run is set up */
  stateSub: Subscription | null;
  waiting: TaskMessage[];
  closed: boolean;
}

/** A coordinator silent this long is asked whether it is still there. */
const COORDINATOR_QUIET_MS = 10_000;

export class NatsWorker {
  readonly wid: string;
  private readonly runs = new Map<string, RunState>();
  private readonly data = new Map<string, Promise<Dataset>>();
  private readonly threads: number;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly maxPart: number;
  private stopping = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly opts: WorkerOptions,
  ) {
    this.threads = opts.threads ?? 1;
    this.wid = newId(`${hostname()}-${process.pid}`);
    this.maxPart = maxBodyPart(nc.info?.max_payload ?? 1024 * 1024);
    for (const d of opts.localData ?? []) this.data.set(datasetDigest(d), Promise.resolve(d));
  }

  /** Connects and starts serving; resolves once the worker listens. */
  static async start(opts: WorkerOptions): Promise<NatsWorker> {
    if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1))
      throw new RangeError(`threads must be a positive integer, got ${opts.threads}`);
    const nc = await connectNats(opts);
    const w = new NatsWorker(nc, opts);
    w.listen();
    return w;
  }

  private log(line: string): void {
    (this.opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(
      `worker ${this.wid}: ${line}`,
    );
  }

  private listen(): void {
    this.nc.subscribe(SUBJECTS.worker(this.wid), {
      callback: (err, msg) => {
        if (!err) this.onMessage(msg);
      },
    });
    this.nc.subscribe(SUBJECTS.discover, {
      callback: (err) => {
        if (!err) this.hello();
      },
    });
    this.hello();
    this.timers.push(setInterval(() => this.hello(), HEARTBEAT_MS));
    this.timers.push(setInterval(() => void this.checkCoordinators(), COORDINATOR_QUIET_MS / 2));
    this.log(
      `serving runs on ${redact(this.opts.url)} with ${this.threads} thread${this.threads > 1 ? 's' : ''}`,
    );
  }

  /** Resolves when the connection closes (the server went away for good, or `close()`). */
  async closed(): Promise<void> {
    await this.nc.closed();
  }

  private hello(): void {
    if (this.stopping || this.nc.isClosed()) return;
    this.nc.publish(
      SUBJECTS.presence,
      encodeFrame({ type: 'hello', wid: this.wid, threads: this.threads }),
    );
  }

  private reply(rid: string, m: ToCoordinator, body?: Uint8Array): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(
      SUBJECTS.results(rid),
      encodeFrame(m as unknown as Record<string, unknown>, body),
    );
  }

  /** A message on this worker's subject, or (`stateOf`) on that run's state subject. */
  private onMessage(msg: Msg, stateOf?: string): void {
    let m, body;
    try {
      // no body a run sends is larger than its own θ; before setup, none above 64 MiB
      const f = decodeFrame(msg.data, { maxBodyBytes: 64 * 1024 * 1024 });
      m = checkToWorker(f.meta);
      body = f.body;
      if (stateOf !== undefined && (m.type !== 'state' || m.rid !== stateOf))
        throw new MessageError(
          `a ${m.type} message of run ${m.rid} on run ${stateOf}'s state subject`,
        );
    } catch (e) {
      return this.log(`rejected a message: ${(e as Error).message}`);
    }
    const run = this.runs.get(m.rid);
    if (run) run.lastHeard = Date.now();
    try {
      switch (m.type) {
        case 'setup':
          if (!run) this.setUp(m);
          return;
        case 'end':
          if (run) void this.endRun(run, 'ended by its coordinator');
          return;
        case 'state':
          if (!run) throw new MessageError(`state for run ${m.rid}, which was not set up here`);
          return this.onState(run, m, body);
        case 'task':
          if (!run) throw new MessageError(`a task of run ${m.rid}, which was not set up here`);
          run.waiting.push(m);
          return this.startTasks(run);
      }
    } catch (e) {
      this.log(`rejected a ${m.type} message of run ${m.rid}: ${(e as Error).message}`);
    }
  }

  private dataset(digest: string): Promise<Dataset> {
    let d = this.data.get(digest);
    if (!d) {
      const local = this.opts.localData ?? [];
      d = getDataset(this.nc, digest).catch((e: unknown) => {
        if (local.length === 0) throw e;
        // the usual reason: local data prepared with other options than the coordinator's
        const have = local.map((x) => datasetDigest(x)).join(', ');
        throw new Error(
          `no data set ${digest} here: the local data (${this.opts.localDataSource ?? 'given'}) has ${have}, and the server has none (${(e as Error).message.split(':')[0]}); load it with the coordinator's data options`,
        );
      });
      d.catch(() => this.data.delete(digest));
      this.data.set(digest, d);
    }
    return d;
  }

  private setUp(setup: Setup): void {
    const transport = (async () => {
      const net = new Network(setup.spec); // throws on a malformed spec
      if (net.numParams !== setup.dim)
        throw new MessageError(
          `the model has ${net.numParams} parameters, the run says ${setup.dim}`,
        );
      const data = await this.dataset(setup.data);
      const evalSets: Partial<Record<'test' | 'val', Dataset>> = {};
      for (const [name, digest] of Object.entries(setup.evalSets))
        evalSets[name as 'test' | 'val'] = await this.dataset(digest);
      return new ThreadTransport(net, data, setup.loss, {
        workers: this.threads,
        bsize: setup.bsize,
        backend: setup.backend,
        gv: setup.gv,
        evalSets,
        slots: 2 * this.threads,
      });
    })();
    const run: RunState = {
      rid: setup.rid,
      setup,
      transport,
      parts: new Reassembler({
        maxBytes: Math.max(setup.dim * 4, 64 * 1024 * 1024),
        maxPending: 8,
      }),
      lastHeard: Date.now(),
      slotsBusy: new Array(2 * this.threads).fill(false),
      has: { theta: 0, evalTheta: 0, subset: 0, v: 0 },
      stateSub: null,
      waiting: [],
      closed: false,
    };
    this.runs.set(setup.rid, run);
    transport.then(
      async () => {
        // state comes once for all the run's workers: listening (at the server) before ready
        run.stateSub = this.nc.subscribe(SUBJECTS.state(setup.rid), {
          callback: (err, msg) => {
            if (!err) this.onMessage(msg, setup.rid);
          },
        });
        await this.nc.flush().catch(() => {});
        this.log(`set up for run ${setup.rid}`);
        this.reply(setup.rid, { type: 'ready', rid: setup.rid, wid: this.wid });
      },
      (e: unknown) => {
        const message = e instanceof Error ? e.message : String(e);
        this.log(`cannot take run ${setup.rid}: ${message}`);
        this.runs.delete(setup.rid);
        this.reply(setup.rid, { type: 'setupFailed', rid: setup.rid, wid: this.wid, message });
      },
    );
  }

  private onState(run: RunState, m: StatePart, body: Uint8Array): void {
    if (run.has[m.what] >= m.version) return; // held already (it goes to every worker of the run)
    const got = run.parts.add(`${m.what}/${m.version}`, m.part, m.parts, m.total, body);
    if (!got) return;
    // one part comes back as a view of the message, whose buffer the client reuses
    const whole = m.parts === 1 ? new Uint8Array(got) : got;
    const dim = run.setup.dim;
    // decoded now, so a malformed body is rejected here and not at the task
    const apply =
      m.what === 'subset'
        ? (
            (a) => (t: ThreadTransport) =>
              t.publishSubset(m.version, a)
          )(bodyI32(whole))
        : ((a) => (t: ThreadTransport) =>
            m.what === 'theta'
              ? t.publishTheta(m.version, a)
              : m.what === 'evalTheta'
                ? t.publishEvalTheta(m.version, a)
                : t.publishV(m.version, a))(bodyF32(whole, dim));
    // in order with the tasks: a task after this state waits for the same promise chain
    run.transport = run.transport.then((t) => (apply(t), t));
    run.has[m.what] = m.version;
    this.startTasks(run);
  }

  /** Whether the worker holds the state versions the task names; throws if one has gone by. */
  private holdsStateOf(run: RunState, m: TaskMessage): boolean {
    let holds = true;
    for (const [what, version] of stateNeeds(m.task)) {
      if (run.has[what] > version)
        throw new MessageError(
          `task ${m.id} names ${what} version ${version}, this worker holds ${run.has[what]}`,
        );
      if (run.has[what] < version) holds = false;
    }
    return holds;
  }

  /** Hands waiting tasks to the pool while it has free result slots. */
  private startTasks(run: RunState): void {
    while (run.waiting.length > 0 && !run.closed) {
      const slot = run.slotsBusy.indexOf(false);
      if (slot < 0) return;
      const head = run.waiting[0];
      try {
        if (!this.holdsStateOf(run, head)) return; // its state is still on the way
      } catch (e) {
        run.waiting.shift();
        this.reply(run.rid, {
          type: 'failed',
          rid: run.rid,
          wid: this.wid,
          id: head.id,
          message: (e as Error).message,
        });
        continue;
      }
      const m = run.waiting.shift()!;
      run.slotsBusy[slot] = true;
      const task: Task = { ...m.task, slot };
      run.transport
        .then((t) => t.run(task, { sticky: isSticky(task), onDispatched: () => {} }))
        .then(
          (r) => {
            const vector = r.vector ? f32Body(r.vector) : null;
            const meta = {
              type: 'result' as const,
              rid: run.rid,
              wid: this.wid,
              id: m.id,
              scalar: scalarToJson(r.scalar),
              start: r.start,
              end: r.end,
            };
            if (!vector) this.reply(run.rid, { ...meta, part: 0, parts: 0, total: 0 });
            else {
              // sent (copied into the messages) before the slot is handed out again
              const parts = splitBody(vector, this.maxPart);
              parts.forEach((b, part) =>
                this.reply(
                  run.rid,
                  { ...meta, part, parts: parts.length, total: vector.length },
                  b,
                ),
              );
            }
          },
          (e: unknown) =>
            this.reply(run.rid, {
              type: 'failed',
              rid: run.rid,
              wid: this.wid,
              id: m.id,
              message: e instanceof Error ? e.message : String(e),
            }),
        )
        .finally(() => {
          run.slotsBusy[slot] = false;
          this.startTasks(run);
        });
    }
  }

  private async endRun(run: RunState, why: string): Promise<void> {
    if (run.closed) return;
    run.closed = true;
    this.runs.delete(run.rid);
    run.stateSub?.unsubscribe();
    this.log(`run ${run.rid} ${why}`);
    try {
      await (await run.transport).close();
    } catch {
      // a run that never got set up has nothing to close
    }
  }

  private async checkCoordinators(): Promise<void> {
    for (const run of [...this.runs.values()]) {
      if (Date.now() - run.lastHeard < COORDINATOR_QUIET_MS) continue;
      try {
        await this.nc.request(SUBJECTS.coordinator(run.rid), new Uint8Array(0), { timeout: 3000 });
        run.lastHeard = Date.now();
      } catch {
        await this.endRun(run, 'dropped: its coordinator is gone');
      }
    }
  }

  /** Ends every run, stops the threads, closes the connection. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.all(
      [...this.runs.values()].map((r) => this.endRun(r, 'ended: the worker stops')),
    );
    await this.nc.drain().catch(() => {});
  }
}
