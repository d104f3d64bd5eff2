/**
 * The NATS transport's membership: which worker processes take a run's chunks, apart from
 * how chunks are dispatched to them (coordinator.ts).
 *
 * - Workers say hello every second (protocol.ts); a new one is set up for the run at once
 *   (`joined`: the coordinator sends it the setup) and becomes active when it is ready,
 *   between passes (or at once when there is none), so a pass's sticky chunks keep their
 *   worker. The active workers are kept in the order of their ids.
 * - A worker not heard from for WORKER_TIMEOUT_MS, or that cannot take the run, is dropped
 *   (`dropped`: the coordinator fails its chunks in flight, the engine sends them again).
 * - While tasks wait and no worker is active, says so once, and after `waitForWorkersMs`
 *   tells the coordinator to give up (`starved`).
 */
import { decodeFrame, VersionMismatch } from './frames.js';
import { checkHello, WORKER_TIMEOUT_MS, type StateName } from './protocol.js';

/** Bytes a worker was sent and sent back, for the scaling study. */
export interface WorkerTraffic {
  worker: string;
  threads: number;
  sent: number;
  received: number;
  tasks: number;
}

/** A worker process of the run; `P` is what the coordinator keeps of a task in flight. */
export interface RemoteWorker<P> {
  wid: string;
  threads: number;
  lastSeen: number;
  /** set up for this run, or failed to */
  ready: boolean;
  failed: boolean;
  /** the state versions it holds */
  has: Record<StateName, number>;
  inFlight: Map<number, P>;
  traffic: WorkerTraffic;
}

export interface MembershipEvents<P> {
  /** a worker said hello for the first time: send it the run's setup */
  joined(w: RemoteWorker<P>): void;
  /** a worker was dropped: fail its tasks in flight */
  dropped(w: RemoteWorker<P>, why: string): void;
  /** a status line for the user */
  status(line: string): void;
}

export class Membership<P> {
  /** workers taking tasks now (ids in order); joiners wait for the next pass */
  active: RemoteWorker<P>[] = [];
  private readonly known = new Map<string, RemoteWorker<P>>();
  private waitingSince: number | null = null;
  /** the protocol versions of hellos ignored so far (each said once) */
  private readonly mismatched = new Set<number>();

  constructor(
    /** the server's url, for status lines (without credentials) */
    private readonly url: string,
    private readonly waitForWorkersMs: number,
    private readonly events: MembershipEvents<P>,
  ) {}

  /** Every worker that said hello and was not dropped (set up for the run or being set up). */
  all(): RemoteWorker<P>[] {
    return [...this.known.values()];
  }

  /** The workers set up for the run (they listen on its state subject). */
  setUp(): RemoteWorker<P>[] {
    return this.all().filter((w) => w.ready && !w.failed);
  }

  /** A hello frame: a new worker is set up, a known one is alive. */
  hello(frame: Uint8Array): void {
    let hello;
    try {
      hello = checkHello(decodeFrame(frame).meta);
    } catch (e) {
      // a worker of another version says hello every second: said once per version
      if (e instanceof VersionMismatch) {
        if (this.mismatched.has(e.version)) return;
        this.mismatched.add(e.version);
        return this.events.status(`ignored a worker's hello: ${e.message}`);
      }
      return this.events.status(`ignored a malformed hello: ${(e as Error).message}`);
    }
    const w = this.known.get(hello.wid);
    if (w) {
      w.lastSeen = Date.now();
      return;
    }
    const worker: RemoteWorker<P> = {
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
    this.events.joined(worker);
  }

  /** A message of `bytes` from worker `wid`: alive; undefined if it was given up on. */
  heard(wid: string, bytes: number): RemoteWorker<P> | undefined {
    const w = this.known.get(wid);
    if (!w) return undefined;
    w.lastSeen = Date.now();
    w.traffic.received += bytes;
    return w;
  }

  /** The worker is set up for the run: it takes work from the next pass. */
  ready(w: RemoteWorker<P>): void {
    w.ready = true;
    this.admit();
  }

  /** The worker cannot take the run: dropped, and the user told why. */
  setupFailed(w: RemoteWorker<P>, message: string): void {
    w.failed = true;
    this.events.status(`worker ${w.wid} cannot take this run: ${message}`);
    this.drop(w, `worker ${w.wid} cannot take this run: ${message}`);
  }

  /** Workers become active between passes (or at once when there is none). */
  admit(): void {
    const busy = this.active.some((w) => w.inFlight.size > 0);
    if (busy && this.active.length > 0) return;
    const ready = this.setUp().filter((w) => !this.active.includes(w));
    if (ready.length === 0) return;
    this.active = [...this.active, ...ready].sort((a, b) => (a.wid < b.wid ? -1 : 1));
    if (this.waitingSince !== null)
      this.events.status(
        `${this.active.length} worker${this.active.length > 1 ? 's' : ''} on ${this.url}: going on`,
      );
    this.waitingSince = null;
  }

  /** Drops the workers not heard from for WORKER_TIMEOUT_MS. */
  expire(now: number): void {
    for (const w of this.all()) {
      if (now - w.lastSeen > WORKER_TIMEOUT_MS)
        this.drop(
          w,
          `worker ${w.wid} went away (not heard from for ${Math.round((now - w.lastSeen) / 1000)} s)`,
        );
    }
  }

  drop(w: RemoteWorker<P>, why: string): void {
    this.known.delete(w.wid);
    this.active = this.active.filter((x) => x !== w);
    this.events.dropped(w, why);
  }

  /**
   * Called every check while `waiting` (tasks wait to be sent): with no active worker,
   * says so once, and past `waitForWorkersMs` returns why the waiting tasks must fail
   * (and starts counting again); otherwise null.
   */
  starved(now: number, waiting: boolean): string | null {
    if (!waiting || this.active.length > 0) return null;
    if (this.waitingSince === null) {
      this.waitingSince = now;
      this.events.status(
        `waiting for workers on ${this.url} (start one with: tfjs-newton worker --nats ${this.url})`,
      );
      return null;
    }
    if (now - this.waitingSince <= this.waitForWorkersMs) return null;
    const seconds = Math.round((now - this.waitingSince) / 1000);
    this.waitingSince = null;
    return `no tfjs-newton worker on ${this.url} for ${seconds} s: start one with tfjs-newton worker --nats ${this.url}`;
  }
}
