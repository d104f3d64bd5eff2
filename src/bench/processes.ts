/**
 * The scaling study across worker processes (standing for machines): one CG step and one
 * f+∇f pass over NATS with 1, 2, ... `tfjs-newton worker` processes (one thread each),
 * each timed alternately with the Piscina pool of as many threads, so the ratio says what
 * NATS costs against shared memory on the same machine. Bytes sent to and received from
 * each worker per CG step and per pass come from the transport's counters. The cost model
 * (cost-model.ts) is fitted from these measurements.
 */
import { percent, textTable } from './table.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GvMethod } from '../autodiff/evaluator.js';
import type { BackendName } from '../backend/select.js';
import type { TaskSpan } from '../engine/engine.js';
import { PassEngine } from '../engine/engine.js';
import { initParams } from '../model/init.js';
import { Network } from '../model/network.js';
import { presetModel } from '../model/presets.js';
import { Rng } from '../rng.js';
import { conjugateGradient, shifted } from '../solver/cg.js';
import { NatsTransport } from '../transport/nats/coordinator.js';
import type { NatsOptions } from '../transport/nats/connect.js';
import { PoolProblem } from '../transport/threads.js';
import { fitCostModel, predictSpeedups, type CostModel, type Link } from './cost-model.js';
import { coveredMs, fashionOrSynthetic } from './scaling.js';
import { openNetnsHosts, type NetnsHosts } from './netns.js';
import type { Dataset } from '../data/dataset.js';

export interface ProcessScalingOptions {
  models: string[];
  processes: number[];
  gnSize: number;
  samples: number;
  reps: number;
  bsize: number;
  /** chunks per result, on both sides (EngineOptions.chunksPerResult; default 1) */
  chunksPerResult?: number;
  backend: BackendName;
  gv?: GvMethod;
  dataDir?: string;
  nats: NatsOptions;
  /**
   * start each worker process in a network namespace of its own, joined to this one by a
   * veth link (netns.ts), with `delayMs` of netem delay on both ends where the kernel has
   * it; the NATS server must listen on all addresses (nats-server's default)
   */
  netns?: { delayMs: number };
  log?: (s: string) => void;
}

export interface ProcessScalingRow {
  model: string;
  pass: 'Gv' | 'f+grad';
  processes: number;
  /** median wall ms over NATS */
  ms: number;
  /** median wall ms of the Piscina pool with as many threads (timed alternately) */
  threadsMs: number;
  /** median of the paired ratios threads ms / NATS ms: 1 = as fast as shared memory */
  vsThreads: number;
  /** speed-up against 1 process (ratio of medians) */
  speedup: number;
  /** compute ms per chunk, median over the chunks of the run */
  chunkMs: number;
  chunks: number;
  /** share of the wall time during which no worker computed */
  outsideShare: number;
  /** bytes sent to / received from each worker in one run (median run; mean over workers) */
  bytesSentPerWorker: number;
  bytesReceivedPerWorker: number;
}

export interface ProcessScalingReport {
  data: string;
  dim: Record<string, number>;
  rows: ProcessScalingRow[];
  options: Omit<ProcessScalingOptions, 'log' | 'nats'> & { nats: string };
  /** what joined the workers to the server: loopback, or the namespaces' links and their round trip */
  link: string;
}

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
const now = (): number => performance.timeOrigin + performance.now();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Starts n `tfjs-newton worker` processes (built CLI), one thread each, and waits until they
 * serve; worker k in namespace k of `hosts`, reaching the server at its link's host address.
 */
async function startWorkers(
  n: number,
  o: ProcessScalingOptions,
  hosts?: NetnsHosts,
): Promise<ChildProcess[]> {
  const token = o.nats.token ? ['--nats-token', o.nats.token] : [];
  const procs = Array.from({ length: n }, (_, k) => {
    const url = hosts ? hostUrl(o.nats.url, hosts.hosts[k].hostAddress) : o.nats.url;
    const argv = [CLI, 'worker', '--nats', url, '--threads', '1', ...token];
    const [cmd, args] = hosts
      ? hosts.command(k, [process.execPath, ...argv])
      : [process.execPath, argv];
    return spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  });
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve, reject) => {
          let out = '';
          p.stderr!.on('data', (d) => {
            out += d;
            if (out.includes('serving runs')) resolve();
          });
          p.once('exit', () => reject(new Error(`a worker process exited: ${out}`)));
        }),
    ),
  );
  return procs;
}

/** A NATS server address as a URL (`host:port` alone reads as nats://host:port). */
const natsUrl = (url: string): URL => new URL(url.includes('://') ? url : `nats://${url}`);

/** `url` with its host replaced by `address` (the server as seen from a worker's namespace). */
export function hostUrl(url: string, address: string): string {
  const u = natsUrl(url);
  u.hostname = address;
  return u.toString().replace(/\/$/, '');
}

/** The port of a NATS URL (4222 when it names none). */
function portOf(url: string): number {
  const port = natsUrl(url).port;
  return port === '' ? 4222 : Number(port);
}

async function stopWorkers(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) =>
          p.exitCode !== null ? resolve() : (p.once('exit', () => resolve()), p.kill('SIGTERM')),
        ),
    ),
  );
}

interface Run {
  ms: number;
  spans: TaskSpan[];
  t0: number;
  t1: number;
  sent: number;
  received: number;
}

async function timed(
  engine: PassEngine,
  f: () => Promise<unknown>,
  traffic?: NatsTransport,
): Promise<Run> {
  const spans: TaskSpan[] = [];
  engine.onTask = (s) => spans.push(s);
  const before = traffic?.traffic() ?? [];
  const t0 = now();
  await f();
  const t1 = now();
  engine.onTask = undefined;
  const after = traffic?.traffic() ?? [];
  const sum = (xs: typeof after, k: 'sent' | 'received') => xs.reduce((a, w) => a + w[k], 0);
  return {
    ms: t1 - t0,
    spans,
    t0,
    t1,
    sent: sum(after, 'sent') - sum(before, 'sent'),
    received: sum(after, 'received') - sum(before, 'received'),
  };
}

export async function runProcessScaling(o: ProcessScalingOptions): Promise<ProcessScalingReport> {
  const { data, name } = fashionOrSynthetic(o.samples, o.dataDir);
  const rows: ProcessScalingRow[] = [];
  const dims: Record<string, number> = {};
  const hosts = o.netns
    ? openNetnsHosts(Math.max(...o.processes), { delayMs: o.netns.delayMs })
    : undefined;
  try {
    if (hosts) {
      hosts.measureRtt(portOf(o.nats.url));
      o.log?.(`workers on ${hosts.describe()}`);
    }
    await measureModels(o, data, rows, dims, hosts);
  } finally {
    hosts?.close();
  }
  const { log: _log, nats, ...options } = o;
  return {
    data: name,
    dim: dims,
    rows,
    options: { ...options, nats: nats.url },
    link: hosts ? hosts.describe() : 'loopback',
  };
}

async function measureModels(
  o: ProcessScalingOptions,
  data: Dataset,
  rows: ProcessScalingRow[],
  dims: Record<string, number>,
  hosts: NetnsHosts | undefined,
): Promise<void> {
  for (const model of o.models) {
    const net = new Network(presetModel(model, data.inputShape, data.numClasses));
    dims[model] = net.numParams;
    const theta = Float64Array.from(initParams(net.layout, 1));
    const rng = new Rng(9);
    const subset = rng.subset(data.n, Math.min(o.gnSize, data.n));
    const b = Float64Array.from({ length: net.numParams }, () => rng.normal());
    let oneProcess: Record<string, number> = {};
    for (const p of o.processes) {
      const procs = await startWorkers(p, o, hosts);
      const transport = await NatsTransport.open(net, data, 'ce', {
        ...o.nats,
        bsize: o.bsize,
        backend: o.backend,
        gv: o.gv ?? 'linearized',
        onStatus: o.log,
      });
      const remote = new PassEngine(transport, {
        dim: net.numParams,
        numSamples: data.n,
        bsize: o.bsize,
        chunksPerResult: o.chunksPerResult,
      });
      const pool = new PoolProblem(net, data, 'ce', {
        workers: p,
        bsize: o.bsize,
        chunksPerResult: o.chunksPerResult,
        backend: o.backend,
        gv: o.gv,
      });
      try {
        const Gr = await remote.gaussNewton(theta, subset);
        const Gp = await pool.gaussNewton(theta, subset);
        // one CG step: from one Gv call to the next (the first step prepares the chunks)
        const cgStep = async (
          engine: PassEngine,
          G: Awaited<ReturnType<PassEngine['gaussNewton']>>,
          t?: NatsTransport,
        ): Promise<Run> => {
          let k = 0;
          let run: Run | null = null;
          await conjugateGradient(
            shifted(async (v, out) => {
              k++;
              if (k !== 2) return G.apply(v, out);
              let r!: Float64Array;
              run = await timed(engine, async () => (r = await G.apply(v, out)), t);
              return r;
            }, 1),
            b,
            0,
            2,
          );
          return run!;
        };
        for (const pass of ['Gv', 'f+grad'] as const) {
          const measure = (engine: PassEngine, t?: NatsTransport) =>
            pass === 'Gv'
              ? cgStep(engine, engine === remote ? Gr : Gp, t)
              : timed(engine, () => engine.lossAndGradient(theta), t);
          await measure(remote, transport); // warm-up: data set up, chunks prepared
          await measure(pool);
          const runs: Run[] = [];
          const threadRuns: Run[] = [];
          for (let r = 0; r < o.reps; r++) {
            if (r % 2 === 0) threadRuns.push(await measure(pool));
            runs.push(await measure(remote, transport));
            if (r % 2 === 1) threadRuns.push(await measure(pool));
          }
          const ms = median(runs.map((r) => r.ms));
          const mid = runs.find((r) => r.ms === ms)!;
          const chunkMs = median(mid.spans.map((s) => s.end - s.start));
          if (p === o.processes[0]) oneProcess = { ...oneProcess, [pass]: ms * p };
          const row: ProcessScalingRow = {
            model,
            pass,
            processes: p,
            ms,
            threadsMs: median(threadRuns.map((r) => r.ms)),
            vsThreads: median(runs.map((r, i) => threadRuns[i].ms / r.ms)),
            speedup: oneProcess[pass] / ms,
            chunkMs,
            chunks: mid.spans.length,
            outsideShare: Math.max(0, 1 - coveredMs(mid.spans, mid.t0, mid.t1) / mid.ms),
            bytesSentPerWorker: mid.sent / p,
            bytesReceivedPerWorker: mid.received / p,
          };
          rows.push(row);
          o.log?.(
            `${model} ${pass} ${p} processes: ${ms.toFixed(1)} ms over NATS, ${row.threadsMs.toFixed(1)} ms on ${p} threads (${row.vsThreads.toFixed(2)}x); ${(row.bytesSentPerWorker / 1e6).toFixed(2)} MB sent, ${(row.bytesReceivedPerWorker / 1e6).toFixed(2)} MB received per worker`,
          );
        }
      } finally {
        await remote.close();
        await pool.close();
        await stopWorkers(procs);
      }
    }
  }
}

export function processScalingTable(r: ProcessScalingReport): string {
  const head = [
    'model',
    'pass',
    'processes',
    'ms NATS',
    'ms threads',
    'NATS/threads speed',
    'speed-up',
    'chunk ms',
    'outside compute',
    'MB out/worker',
    'MB in/worker',
  ];
  const mb = (x: number) => (x / 1e6).toFixed(2);
  const body = r.rows.map((x) => [
    x.model,
    x.pass,
    String(x.processes),
    x.ms.toFixed(1),
    x.threadsMs.toFixed(1),
    x.vsThreads.toFixed(2),
    x.speedup.toFixed(2),
    x.chunkMs.toFixed(1),
    percent(x.outsideShare),
    mb(x.bytesSentPerWorker),
    mb(x.bytesReceivedPerWorker),
  ]);
  const o = r.options;
  return [
    `data: ${r.data}; Gv: one CG step over |S| = ${o.gnSize}; f+grad over ${o.samples} samples; chunks of ${o.bsize}${(o.chunksPerResult ?? 1) > 1 ? `, ${o.chunksPerResult} per result` : ''}; median of ${o.reps} runs, each paired with a run of the Piscina pool of as many threads; backend ${o.backend}; NATS server ${o.nats}; workers on ${r.link}`,
    'NATS/threads speed: threads ms / NATS ms (1 = no cost for NATS); MB out/in per worker: bytes the coordinator sent to / received from each worker in one run',
    ...textTable(head, body, 2),
  ].join('\n');
}

export interface FittedModel {
  model: string;
  pass: 'Gv' | 'f+grad';
  cost: CostModel;
  /** measured speed-up against 1 process */
  measured: [number, number][];
  /** the model's speed-up on loopback (what it was fitted to) and at the given link, P = 1..64 */
  loopback: [number, number][];
  atLink: [number, number][];
}

/** The cost model of each model and pass of a report, fitted to its rows, and its predictions at `link`. */
export function fitReport(r: ProcessScalingReport, link: Link): FittedModel[] {
  const out: FittedModel[] = [];
  for (const model of Object.keys(r.dim)) {
    for (const pass of ['Gv', 'f+grad'] as const) {
      const rows = r.rows
        .filter((x) => x.model === model && x.pass === pass)
        .sort((a, b) => a.processes - b.processes);
      if (rows.length === 0) continue;
      const one = rows[0];
      const shape = {
        chunks: one.chunks,
        chunkMs: one.chunkMs,
        resultBytes: 4 * r.dim[model],
        perWorkerBytes: one.bytesSentPerWorker,
      };
      const cost = fitCostModel(
        shape,
        rows.map((x) => ({ processes: x.processes, ms: x.ms, chunkMs: x.chunkMs })),
      );
      out.push({
        model,
        pass,
        cost,
        measured: rows.map((x) => [x.processes, (one.ms * one.processes) / x.ms]),
        loopback: predictSpeedups(cost, { bytesPerMs: Infinity, latencyMs: 0.05 }),
        atLink: predictSpeedups(cost, link),
      });
    }
  }
  return out;
}

export function costModelTable(fits: FittedModel[], linkText: string): string {
  const ps = [1, 2, 4, 8, 16, 32, 64];
  const lines = [
    `cost model (docs/design.md): T(P) = max(⌈K/P⌉·c, (K·R + V)/B_c, (K·R + P·V)/B_l) + (V + R)/B + 2L + t₀, B_c the coordinator's throughput, B_l the link's, B = min(B_l, B_c); predicted speed-ups at ${linkText}:`,
    ['model', 'pass', 'c ms', 'K', 'MB/s fitted', 't₀ ms', ...ps.map((p) => `P=${p}`)].join('  '),
  ];
  for (const f of fits) {
    const at = new Map(f.atLink);
    lines.push(
      [
        f.model,
        f.pass,
        f.cost.chunkMs.toFixed(1),
        String(f.cost.chunks),
        (f.cost.clientBytesPerMs / 1000).toFixed(0),
        f.cost.fixedMs.toFixed(1),
        ...ps.map((p) => at.get(p)!.toFixed(2)),
      ].join('  '),
    );
  }
  return lines.join('\n');
}
