/**
 * The NATS transport, coordinator side: the pass engine's chunks go to worker processes
 * (`tfjs-newton worker --nats URL`) anywhere the server reaches. It moves state, tasks and
 * results, nothing else (protocol.ts says what travels where):
 *
 * - Which workers take chunks is membership.ts's: workers announce themselves every second;
 *   one not heard from for 4 s is gone, and its chunks in flight fail (the engine sends
 *   them again, elsewhere). A worker that appears is set up at once (model, loss, data by
 *   content digest from the object store) and takes work from the next pass, so a pass's
 *   sticky chunks keep their worker.
 * - State is published when a task needs a version its worker does not have: θ once per
 *   iteration, S once per CG solve, v once per CG step, each in parts of at most the
 *   server's max payload, once on the run's state subject for all its workers (the server
 *   fans it out), not once per worker.
 * - Sticky chunks (Gv chunk k) go to worker k mod workers, in the order of their ids
 *   (src/engine/placement.ts); the others to the least busy worker. A worker holds up to 2 tasks per thread.
 * - No worker at all: says so once (onStatus), and fails the pass after
 *   `waitForWorkersMs`. The server gone for good: every pass fails, naming it.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { GvMethod } from '../../autodiff/evaluator.js';
import type { BackendName } from '../../backend/select.js';
import { datasetDigest, type Dataset } from '../../data/dataset.js';
import type { EvalSetName, EvalSets } from '../../engine/evaluation.js';
import type { ChunkResult, Task } from '../../engine/task.js';
import { stickyWorker, taskPosition } from '../../engine/placement.js';
import type { RunOptions, Transport } from '../../engine/transport.js';
import type { LossKind } from '../../model/loss.js';
import type { Network } from '../../model/network.js';
import { UsageError } from '../../errors.js';
import type { TransportUnit } from '../unit.js';
import { connectNats, redact, type NatsRunOptions } from './connect.js';
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
  VersionMismatch,
} from './frames.js';
import { Membership, type RemoteWorker as Member, type WorkerTraffic } from './membership.js';
import {
  checkToCoordinator,
  newId,
  scalarOf,
  SUBJECTS,
  type Setup,
  stateNeeds,
  type StateName,
  type ToWorker,
} from './protocol.js';

export type { WorkerTraffic } from './membership.js';
export type { NatsRunOptions } from './connect.js';

/** A failure no retry can mend: no worker, or no server. The engine does not retry it. */
export class NatsRunError extends Error {
  override name = 'NatsRunError';
  readonly fatal = true;
}

interface Pending {
  id: number;
  task: Task;
  options: RunOptions;
  resolve(r: ChunkResult): void;
  reject(e: unknown): void;
  worker?: RemoteWorker;
}

type RemoteWorker = Member<Pending>;

const TASKS_PER_THREAD = 2;

export class NatsTransport implements Transport {
  readonly rid = newId('run');
  private readonly members: Membership<Pending>;
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
    this.members = new Membership(this.url, opts.waitForWorkersMs ?? 60_000, {
      joined: (w) => this.send(w, this.setup),
      dropped: (w, why) => {
        for (const p of w.inFlight.values()) {
          this.results.drop(`${w.wid}/${p.id}`);
          p.reject(new Error(why));
        }
        w.inFlight.clear();
      },
      status: (line) => this.status(line),
    });
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
          if (!err) this.members.hello(msg.data);
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
    return this.members.active.length;
  }

  get capacity(): number {
    return Math.max(
      2,
      this.members.active.reduce((a, w) => a + TASKS_PER_THREAD * w.threads, 0),
    );
  }

  /** Per worker ever set up: bytes sent to it and received from it, tasks done. */
  traffic(): WorkerTraffic[] {
    return this.members.all().map((w) => ({ ...w.traffic }));
  }

  /** Bytes this coordinator published to its workers (state goes out once for all of them). */
  get bytesPublished(): number {
    return this.published;
  }

  private send(w: RemoteWorker, meta: ToWorker, body?: Uint8Array): void {
    const bytes = encodeFrame(meta as unknown as Record<string, unknown>, body);
    w.traffic.sent += bytes.length;
    this.published += bytes.length;
    this.nc.publish(SUBJECTS.worker(w.wid), bytes);
  }

  private checkWorkers(): void {
    const now = Date.now();
    this.members.expire(now);
    this.members.admit();
    this.dispatch();
    const why = this.members.starved(now, this.queue.length > 0 && !this.stopped);
    if (why) {
      const e = new NatsRunError(why);
      for (const p of this.queue.splice(0)) p.reject(e);
    }
  }

  private die(message: string): void {
    this.fatal ??= new NatsRunError(message);
    for (const p of this.queue.splice(0)) p.reject(this.fatal);
    for (const w of this.members.all()) {
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
      const what = e instanceof VersionMismatch ? 'a message' : 'a malformed message';
      return this.status(`ignored ${what} from a worker: ${(e as Error).message}`);
    }
    const w = this.members.heard(m.wid, msg.data.length);
    if (!w) return; // a worker already given up on
    switch (m.type) {
      case 'ready':
        this.members.ready(w);
        this.dispatch();
        return;
      case 'setupFailed':
        this.members.setupFailed(w, m.message);
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
    this.members.admit();
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
      const ready = this.members.setUp();
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
      this.members.admit();
      this.dispatch();
    });
  }

  private pick(p: Pending): RemoteWorker | null {
    const active = this.members.active;
    const free = (w: RemoteWorker) => w.inFlight.size < TASKS_PER_THREAD * w.threads;
    if (p.options.sticky) {
      const w = stickyWorker(taskPosition(p.task), active, (x) => x.wid);
      return w && free(w) ? w : null;
    }
    const candidates = active.filter(free);
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
      for (const w of this.members.all()) this.send(w, { type: 'end', rid: this.rid });
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
