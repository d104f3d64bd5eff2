/**
 * The NATS transport, coordinator side: the pass engine's chunks go to worker processes
 * (`tfjs-newton worker --nats URL`) anywhere the server reaches. It moves state, tasks and
 * results, nothing else (protocol.ts says what travels where):
 *
 * - Workers announce themselves every second; one not heard from for 4 s is gone, and its
 *   chunks in flight fail (the engine sends them again, elsewhere). A worker that appears
 *   is set up at once (model, loss, data by content digest from the object store) and
 *   takes work from the next pass, so a pass's sticky chunks keep their worker.
 * - State is published when a task needs a version its worker does not have: θ once per
 *   iteration, S once per CG solve, v once per CG step, each in parts of at most the
 *   server's max payload, once on the run's state subject for all its workers (the server
 *   fans it out), not once per worker.
 * - Sticky chunks (Gv chunk k) go to worker k mod workers, in the order of their ids; the
 *   others to the least busy worker. A worker holds up to 2 tasks per thread.
 * - No worker at all: says so once (onStatus), and fails the pass after
 *   `waitForWorkersMs`. The server gone for good: every pass fails, naming it.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { GvMethod } from '../../autodiff/evaluator.js';
import type { BackendName } from '../../backend/select.js';
import { datasetDigest, type Dataset } from '../../data/dataset.js';
import type { EvalSetName, EvalSets } from '../../engine/evaluation.js';
import type { ChunkResult, Task } from '../../engine/task.js';
import { stickyWorker } from '../../engine/placement.js';
import type { RunOptions, Transport } from '../../engine/transport.js';
import type { LossKind } from '../../model/loss.js';
import type { Network } from '../../model/network.js';
import { UsageError } from '../../errors.js';
import type { TransportUnit } from '../unit.js';
import { connectNats, redact, type NatsOptions } from './connect.js';
import { putDataset } from './datastore.js';
import {
  bodyF32,
  decodeFrame,
  encodeFrame,
  f32Body,
  i32Body,
  maxBodyPart,
  MessageError,
  Reassembler,
  splitBody,
} from './frames.js';
import {
  checkHello,
  checkToCoordinator,
  newId,
  scalarOf,
  SUBJECTS,
  WORKER_TIMEOUT_MS,
  type Setup,
  stateNeeds,
  type StateName,
  type ToWorker,
} from './protocol.js';

export interface NatsRunOptions extends NatsOptions {
  /** how long a pass waits while no worker is there before it fails (default 60 000 ms) */
  waitForWorkersMs?: number;
  /**
   * false: the data sets are not uploaded (data that may not leave its machines); every
   * worker must then hold them locally (`tfjs-newton worker --data ...`), checked by digest
   */
  upload?: boolean;
  /** where the transport's few status lines go (default: stderr) */
  onStatus?: (line: string) => void;
}

/** A failure no retry can mend: no worker, or no server. The engine does not retry it. */
export class NatsRunError extends Error {
  override name = 'NatsRunError';
  readonly fatal = true;
}

/** Bytes a worker was sent and sent back, for the scaling study. */
export interface WorkerTraffic {
  worker: string;
  threads: number;
  sent: number;
  received: number;
  tasks: number;
}

interface Pending {
  id: number;
  task: Task;
  options: RunOptions;
  resolve(r: ChunkResult): void;
  reject(e: unknown): void;
  worker?: RemoteWorker;
}

interface RemoteWorker {
  wid: string;
  threads: number;
  lastSeen: number;
  /** set up for this run (resolves), or failed to */
  ready: boolean;
  failed: boolean;
  /** the state versions it holds */
  has: Record<StateName, number>;
  inFlight: Map<number, Pending>;
  traffic: WorkerTraffic;
}

const TASKS_PER_THREAD = 2;

export class NatsTransport implements Transport {
  readonly rid = newId('run');
  /** workers taking tasks now (ids in order); joiners wait for the next pass */
  private active: RemoteWorker[] = [];
  private readonly known = new Map<string, RemoteWorker>();
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private stopped = false;
  private closing = false;
  private fatal: NatsRunError | null = null;
  private readonly state: Record<StateName, { version: number; body: Uint8Array }> = {
    theta: { version: 0, body: new Uint8Array(0) },
    evalTheta: { version: 0, body: new Uint8Array(0) },
    subset: { version: 0, body: new Uint8Array(0) },
    v: { version: 0, body: new Uint8Array(0) },
  };
  private readonly results = new Reassembler({ maxBytes: 0, maxPending: 1 });
  private readonly subs: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private waitingSince: number | null = null;
  /** bytes this coordinator published to workers (state once for all, tasks, setups) */
  private published = 0;
  private readonly maxPart: number;
  private readonly url: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly setup: Setup,
    private readonly opts: NatsRunOptions,
  ) {
    this.url = redact(opts.url);
    this.maxPart = maxBodyPart(nc.info?.max_payload ?? 1024 * 1024);
    this.results = new Reassembler({ maxBytes: setup.dim * 4, maxPending: 4096 });
  }

  /**
   * Connects, uploads the data sets (once per content), and starts listening for workers.
   * The first pass waits for them.
   */
  static async open(
    net: Network,
    data: Dataset,
    loss: LossKind,
    opts: NatsRunOptions & {
      bsize: number;
      backend: BackendName;
      gv: GvMethod;
      evalSets?: EvalSets;
    },
  ): Promise<NatsTransport> {
    const nc = await connectNats({
      ...opts,
      clientOptions: { maxReconnectAttempts: 5, reconnectTimeWait: 1000, ...opts.clientOptions },
    });
    const share = (d: Dataset) =>
      opts.upload === false ? Promise.resolve(datasetDigest(d)) : putDataset(nc, d);
    try {
      const evalSets: Partial<Record<EvalSetName, string>> = {};
      for (const name of ['test', 'val'] as const) {
        const set = opts.evalSets?.[name];
        if (set && set.n > 0) evalSets[name] = await share(set);
      }
      const setup: Omit<Setup, 'rid'> = {
        type: 'setup',
        spec: net.spec,
        loss,
        backend: opts.backend,
        gv: opts.gv,
        bsize: opts.bsize,
        dim: net.numParams,
        data: await share(data),
        evalSets,
      };
      const t = new NatsTransport(nc, { ...setup, rid: '' } as Setup, opts);
      t.setup.rid = t.rid;
      t.listen();
      return t;
    } catch (e) {
      await nc.close().catch(() => {});
      throw e;
    }
  }

  private status(line: string): void {
    (this.opts.onStatus ?? ((l: string) => process.stderr.write(l + '\n')))(line);
  }

  private listen(): void {
    const nc = this.nc;
    this.subs.push(
      nc.subscribe(SUBJECTS.presence, {
        callback: (err, msg) => {
          if (!err) this.onHello(msg);
        },
      }),
    );
    this.subs.push(
      nc.subscribe(SUBJECTS.results(this.rid), {
        callback: (err, msg) => {
          if (!err) this.onResult(msg);
        },
      }),
    );
    // workers ask whether this run is still there
    this.subs.push(
      nc.subscribe(SUBJECTS.coordinator(this.rid), {
        callback: (err, msg) => {
          if (!err) msg.respond(new Uint8Array([1]));
        },
      }),
    );
    nc.publish(SUBJECTS.discover, new Uint8Array(0));
    this.timers.push(setInterval(() => this.checkWorkers(), 500));
    nc.closed().then((err) => {
      if (!this.closing)
        this.die(`lost the NATS server at ${this.url}${err ? ` (${err.message})` : ''}`);
    });
  }

  get workers(): number {
    return this.active.length;
  }

  get capacity(): number {
    return Math.max(
      2,
      this.active.reduce((a, w) => a + TASKS_PER_THREAD * w.threads, 0),
    );
  }

  /** Per worker ever set up: bytes sent to it and received from it, tasks done. */
  traffic(): WorkerTraffic[] {
    return [...this.known.values()].map((w) => ({ ...w.traffic }));
  }

  /** Bytes this coordinator published to its workers (state goes out once for all of them). */
  get bytesPublished(): number {
    return this.published;
  }

  private onHello(msg: Msg): void {
    let hello;
    try {
      hello = checkHello(decodeFrame(msg.data).meta);
    } catch (e) {
      return this.status(`ignored a malformed hello: ${(e as Error).message}`);
    }
    const w = this.known.get(hello.wid);
    if (w) {
      w.lastSeen = Date.now();
      return;
    }
    const worker: RemoteWorker = {
      wid: hello.wid,
      threads: hello.threads,
      lastSeen: Date.now(),
      ready: false,
      failed: false,
      has: { theta: 0, evalTheta: 0, subset: 0, v: 0 },
      inFlight: new Map(),
      traffic: { worker: hello.wid, threads: hello.threads, sent: 0, received: 0, tasks: 0 },
    };
    this.known.set(hello.wid, worker);
    this.send(worker, this.setup);
  }

  private send(w: RemoteWorker, meta: ToWorker, body?: Uint8Array): void {
    const bytes = encodeFrame(meta as unknown as Record<string, unknown>, body);
    w.traffic.sent += bytes.length;
    this.published += bytes.length;
    this.nc.publish(SUBJECTS.worker(w.wid), bytes);
  }

  /** Workers become active between passes (or at once when there is none). */
  private admit(): void {
    const busy = this.active.some((w) => w.inFlight.size > 0);
    if (busy && this.active.length > 0) return;
    const ready = [...this.known.values()].filter(
      (w) => w.ready && !w.failed && !this.active.includes(w),
    );
    if (ready.length === 0) return;
    this.active = [...this.active, ...ready].sort((a, b) => (a.wid < b.wid ? -1 : 1));
    if (this.waitingSince !== null)
      this.status(
        `${this.active.length} worker${this.active.length > 1 ? 's' : ''} on ${this.url}: going on`,
      );
    this.waitingSince = null;
  }

  private checkWorkers(): void {
    const now = Date.now();
    for (const w of [...this.known.values()]) {
      if (now - w.lastSeen > WORKER_TIMEOUT_MS)
        this.drop(
          w,
          `worker ${w.wid} went away (not heard from for ${Math.round((now - w.lastSeen) / 1000)} s)`,
        );
    }
    this.admit();
    this.dispatch();
    if (this.queue.length > 0 && this.active.length === 0 && !this.stopped) {
      if (this.waitingSince === null) {
        this.waitingSince = now;
        this.status(
          `waiting for workers on ${this.url} (start one with: tfjs-newton worker --nats ${this.url})`,
        );
      } else if (now - this.waitingSince > (this.opts.waitForWorkersMs ?? 60_000)) {
        const e = new NatsRunError(
          `no tfjs-newton worker on ${this.url} for ${Math.round((now - this.waitingSince) / 1000)} s: start one with tfjs-newton worker --nats ${this.url}`,
        );
        for (const p of this.queue.splice(0)) p.reject(e);
        this.waitingSince = null;
      }
    }
  }

  private drop(w: RemoteWorker, why: string): void {
    this.known.delete(w.wid);
    this.active = this.active.filter((x) => x !== w);
    for (const p of w.inFlight.values()) {
      this.results.drop(`${w.wid}/${p.id}`);
      p.reject(new Error(why));
    }
    w.inFlight.clear();
  }

  private die(message: string): void {
    this.fatal ??= new NatsRunError(message);
    for (const p of this.queue.splice(0)) p.reject(this.fatal);
    for (const w of this.known.values()) {
      for (const p of w.inFlight.values()) p.reject(this.fatal);
      w.inFlight.clear();
    }
  }

  private onResult(msg: Msg): void {
    let m, body;
    try {
      const f = decodeFrame(msg.data, { maxBodyBytes: this.setup.dim * 4 });
      m = checkToCoordinator(f.meta);
      body = f.body;
      if (m.rid !== this.rid)
        throw new MessageError(`a message of run ${m.rid} on run ${this.rid}'s subject`);
    } catch (e) {
      return this.status(`ignored a malformed message from a worker: ${(e as Error).message}`);
    }
    const w = this.known.get(m.wid);
    if (!w) return; // a worker already given up on
    w.lastSeen = Date.now();
    w.traffic.received += msg.data.length;
    switch (m.type) {
      case 'ready':
        w.ready = true;
        this.admit();
        this.dispatch();
        return;
      case 'setupFailed':
        w.failed = true;
        this.status(`worker ${w.wid} cannot take this run: ${m.message}`);
        this.drop(w, `worker ${w.wid} cannot take this run: ${m.message}`);
        return;
      case 'failed': {
        const p = w.inFlight.get(m.id);
        if (!p) return;
        w.inFlight.delete(m.id);
        p.reject(new Error(m.message));
        this.afterSettle();
        return;
      }
      case 'result': {
        const p = w.inFlight.get(m.id);
        if (!p) return;
        let whole: Uint8Array | null = new Uint8Array(0);
        if (m.parts > 0) {
          try {
            whole = this.results.add(`${w.wid}/${m.id}`, m.part, m.parts, m.total, body);
          } catch (e) {
            w.inFlight.delete(m.id);
            p.reject(e);
            this.afterSettle();
            return;
          }
        }
        if (whole === null) return;
        w.inFlight.delete(m.id);
        w.traffic.tasks++;
        let vector: Float32Array | undefined;
        try {
          // one part comes back as a view of the message, whose buffer the client reuses
          vector =
            m.parts > 0
              ? bodyF32(m.parts === 1 ? new Uint8Array(whole) : whole, this.setup.dim)
              : undefined;
        } catch (e) {
          p.reject(e);
          this.afterSettle();
          return;
        }
        p.resolve({
          scalar: scalarOf(m.scalar),
          vector,
          start: m.start,
          end: m.end,
          worker: w.wid,
        });
        this.afterSettle();
        return;
      }
    }
  }

  private afterSettle(): void {
    this.admit();
    this.dispatch();
  }

  private publishState(what: StateName, version: number, body: Uint8Array): void {
    // a copy: the caller's array may change before a worker needs this version
    this.state[what] = { version, body: new Uint8Array(body) };
  }
  publishTheta(version: number, theta: Float32Array): void {
    this.publishState('theta', version, f32Body(theta));
  }
  publishEvalTheta(version: number, theta: Float32Array): void {
    this.publishState('evalTheta', version, f32Body(theta));
  }
  publishSubset(version: number, subset: Int32Array): void {
    this.publishState('subset', version, i32Body(subset));
  }
  publishV(version: number, v: Float32Array): void {
    this.publishState('v', version, f32Body(v));
  }

  /**
   * Publishes the state a task needs that its worker does not hold yet, once, on the run's
   * state subject: every worker set up for the run gets it (they all need each version of
   * θ, and of S and v when they hold Gv chunks), and is counted as holding it. When the
   * task's worker is the only one lacking it (it joined later), on its own subject.
   */
  private sendState(w: RemoteWorker, task: Task): void {
    for (const [what, want] of stateNeeds(task)) {
      const s = this.state[what];
      if (s.version !== want)
        throw new Error(
          `${what} version ${want} was never published (the engine publishes before it sends tasks)`,
        );
      if (w.has[what] === want) continue;
      // the ready ones listen on the state subject (a worker subscribes before it says ready)
      const ready = [...this.known.values()].filter((x) => x.ready && !x.failed);
      const lacking = ready.filter((x) => x.has[what] !== want);
      // one worker catching up (it joined later) gets it on its own subject
      const to = lacking.length > 1 ? ready : [w];
      const parts = splitBody(s.body, this.maxPart);
      parts.forEach((body, part) => {
        const meta = {
          type: 'state' as const,
          rid: this.rid,
          what,
          version: want,
          part,
          parts: parts.length,
          total: s.body.length,
        };
        if (to.length === 1) return this.send(w, meta, body);
        const bytes = encodeFrame(meta, body);
        this.nc.publish(SUBJECTS.state(this.rid), bytes);
        this.published += bytes.length;
        for (const x of to) x.traffic.sent += bytes.length;
      });
      for (const x of to) x.has[what] = want;
    }
  }

  run(task: Task, options: RunOptions): Promise<ChunkResult> {
    if (this.fatal) return Promise.reject(this.fatal);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, options, resolve, reject });
      this.admit();
      this.dispatch();
    });
  }

  private pick(p: Pending): RemoteWorker | null {
    if (this.active.length === 0) return null;
    const free = (w: RemoteWorker) => w.inFlight.size < TASKS_PER_THREAD * w.threads;
    if (p.options.sticky) {
      const w = stickyWorker(p.task.chunk, this.active, (x) => x.wid)!;
      return free(w) ? w : null;
    }
    const candidates = this.active.filter(free);
    if (candidates.length === 0) return null;
    return candidates.reduce((a, b) =>
      b.inFlight.size / b.threads < a.inFlight.size / a.threads ? b : a,
    );
  }

  private dispatch(): void {
    if (this.stopped || this.fatal) return;
    for (let i = 0; i < this.queue.length;) {
      const p = this.queue[i];
      const w = this.pick(p);
      if (!w) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      try {
        this.sendState(w, p.task);
      } catch (e) {
        p.reject(e);
        continue;
      }
      p.worker = w;
      w.inFlight.set(p.id, p);
      this.send(w, { type: 'task', rid: this.rid, id: p.id, task: p.task });
      p.options.onDispatched();
    }
  }

  stop(): void {
    this.stopped = true;
  }

  /** Tells the workers the run is over and closes the connection. */
  async close(): Promise<void> {
    this.stopped = true;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    for (const p of this.queue.splice(0)) p.reject(new NatsRunError('the run was closed'));
    try {
      for (const w of this.known.values()) this.send(w, { type: 'end', rid: this.rid });
      await this.nc.flush();
    } catch {
      // the server is gone: nothing to tell anyone
    }
    await this.nc.close().catch(() => {});
  }
}

/** The NATS transport as a unit of the registry (registry.ts): it needs `options.nats`. */
export const nats: TransportUnit = {
  name: 'nats',
  description: 'worker processes anywhere a NATS server reaches (tfjs-newton worker --nats URL)',
  async open(s, o) {
    if (!o.nats)
      throw new UsageError("the nats transport needs options.nats (the server's url at least)");
    return NatsTransport.open(s.net, s.data, s.loss, {
      ...o.nats,
      bsize: s.bsize,
      backend: s.backend,
      gv: s.gv,
      evalSets: s.evalSets,
    });
  },
};
