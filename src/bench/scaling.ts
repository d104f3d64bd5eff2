/**
 * The scaling benchmark: time of one CG step (a Gv over |S| samples and the CG vector
 * updates around it) and of one f+∇f pass over l samples, for several worker counts;
 * speed-up and efficiency against 1 worker; the share of wall time during which no worker
 * computes (messaging, scheduling, reduction, CG), and the share of worker time spent
 * idle (that, plus the wait of a worker that finished its chunks before the others).
 */
import { availableParallelism } from 'node:os';
import { PoolProblem, type TaskSpan } from '../coordinator/pool.js';
import type { BackendName } from '../backend/select.js';
import { takeRows, type Dataset } from '../data/dataset.js';
import { loadData } from '../data/load.js';
import { initParams } from '../model/init.js';
import { Network } from '../model/network.js';
import { presetModel } from '../model/presets.js';
import { Rng } from '../model/rng.js';
import { conjugateGradient, shifted } from '../solver/cg.js';
import type { LinearOperator } from '../solver/problem.js';

export interface ScalingOptions {
  models: string[];
  workers: number[];
  gnSize: number;
  samples: number;
  reps: number;
  bsize: number;
  backend: BackendName;
  dataDir?: string;
  log?: (s: string) => void;
}

export interface ScalingRow {
  model: string;
  pass: 'Gv' | 'f+grad';
  workers: number;
  /** median wall ms */
  ms: number;
  speedup: number;
  efficiency: number;
  /** share of the wall time during which no worker computed (median run) */
  outsideShare: number;
  /** 1 − (compute ms summed over workers)/(workers × wall ms): idle worker time, median run */
  idleShare: number;
}

export interface ScalingReport {
  data: string;
  synthetic: boolean;
  rows: ScalingRow[];
  options: Omit<ScalingOptions, 'log'>;
}

export const defaultWorkerCounts = (): number[] => {
  const n = availableParallelism();
  const out: number[] = [];
  for (let w = 1; w < n; w *= 2) out.push(w);
  out.push(n);
  return [...new Set(out)];
};

function fashionOrSynthetic(samples: number, dataDir?: string): { data: Dataset; name: string; synthetic: boolean } {
  try {
    const d = loadData('fashion-mnist', dataDir).train;
    return { data: takeRows(d, Int32Array.from({ length: Math.min(samples, d.n) }, (_, i) => i)), name: 'fashion-mnist', synthetic: false };
  } catch {
    const rng = new Rng(3);
    const x = Float32Array.from({ length: samples * 784 }, () => rng.normal());
    const labels = Int32Array.from({ length: samples }, () => rng.int(10));
    return { data: { x, labels, n: samples, inputShape: [28, 28, 1], numClasses: 10 }, name: 'synthetic 28x28x1, 10 classes (Fashion-MNIST files not found)', synthetic: true };
  }
}

/** The length of the union of the intervals, clipped to [t0, t1]. */
export function coveredMs(spans: { start: number; end: number }[], t0: number, t1: number): number {
  const xs = spans.map((s) => [Math.max(t0, s.start), Math.min(t1, s.end)] as const).filter(([a, b]) => b > a).sort((p, q) => p[0] - q[0]);
  let total = 0;
  let [a, b] = [-Infinity, -Infinity];
  for (const [s, e] of xs) {
    if (s > b) {
      total += b - a > 0 ? b - a : 0;
      [a, b] = [s, e];
    } else if (e > b) b = e;
  }
  return total + (b - a > 0 ? b - a : 0);
}

interface Timing {
  ms: number;
  outsideShare: number;
  idleShare: number;
}

/** The timing of one interval [t0, t1] from the chunks the workers computed in it. */
function timing(spans: TaskSpan[], workers: number, t0: number, t1: number): Timing {
  const wall = t1 - t0;
  const busy = spans.reduce((a, s) => a + Math.max(0, Math.min(t1, s.end) - Math.max(t0, s.start)), 0);
  return { ms: wall, outsideShare: Math.max(0, 1 - coveredMs(spans, t0, t1) / wall), idleShare: Math.max(0, 1 - busy / workers / wall) };
}

const median = (runs: Timing[]): Timing => runs.sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)];

const now = (): number => performance.timeOrigin + performance.now();

/** Median of `reps` timed runs of f (after one warm-up run), with the workers' timeline. */
async function timed(reps: number, pool: PoolProblem, f: () => Promise<unknown>): Promise<Timing> {
  await f(); // warm-up: workers start, compile, cache
  const runs: Timing[] = [];
  for (let i = 0; i < reps; i++) {
    const spans: TaskSpan[] = [];
    pool.onTask = (s) => spans.push(s);
    const t0 = now();
    await f();
    runs.push(timing(spans, pool.workers, t0, now()));
    pool.onTask = undefined;
  }
  return median(runs);
}

/**
 * Median of `reps` CG steps: one CG solve of reps + 1 steps on G + I (never converged:
 * tolerance 0); step k runs from the k-th Gv call to the next one (the last to the end
 * of the solve), so it holds the Gv on the pool and the CG vector updates in the main
 * thread. The first step (CG start-up, worker warm-up) is not counted.
 */
async function timedCgSteps(reps: number, pool: PoolProblem, G: LinearOperator, b: Float64Array): Promise<Timing> {
  const spans: TaskSpan[] = [];
  const calls: number[] = [];
  pool.onTask = (s) => spans.push(s);
  await conjugateGradient(
    shifted((v) => {
      calls.push(now());
      return G.apply(v);
    }, 1),
    b,
    0,
    reps + 1,
  );
  calls.push(now());
  pool.onTask = undefined;
  const runs: Timing[] = [];
  for (let k = 1; k + 1 < calls.length; k++) runs.push(timing(spans, pool.workers, calls[k], calls[k + 1]));
  return median(runs);
}

export async function runScaling(o: ScalingOptions): Promise<ScalingReport> {
  const { data, name, synthetic } = fashionOrSynthetic(o.samples, o.dataDir);
  const rows: ScalingRow[] = [];
  for (const model of o.models) {
    const net = new Network(presetModel(model, data.inputShape, data.numClasses));
    const theta = Float64Array.from(initParams(net.layout, 1));
    const rng = new Rng(9);
    const subset = rng.subset(data.n, Math.min(o.gnSize, data.n));
    const b = Float64Array.from({ length: net.numParams }, () => rng.normal());
    const base: Record<string, number> = {};
    for (const w of o.workers) {
      const pool = new PoolProblem(net, data, 'ce', { workers: w, bsize: o.bsize, backend: o.backend });
      try {
        const G = await pool.gaussNewton(theta, subset);
        for (const pass of ['Gv', 'f+grad'] as const) {
          const r = pass === 'Gv' ? await timedCgSteps(o.reps, pool, G, b) : await timed(o.reps, pool, () => pool.lossAndGradient(theta));
          const key = `${pass}`;
          if (w === o.workers[0]) base[key] = r.ms * o.workers[0];
          const speedup = base[key] / r.ms;
          const row: ScalingRow = { model, pass, workers: pool.workers, ms: r.ms, speedup, efficiency: speedup / pool.workers, outsideShare: r.outsideShare, idleShare: r.idleShare };
          rows.push(row);
          o.log?.(`${model} ${pass} ${pool.workers} workers: ${r.ms.toFixed(1)} ms`);
        }
      } finally {
        await pool.close();
      }
    }
  }
  const { log: _log, ...options } = o;
  return { data: name, synthetic, rows, options };
}

export function scalingTable(r: ScalingReport): string {
  const head = ['model', 'pass', 'workers', 'ms', 'speed-up', 'efficiency', 'outside compute', 'workers idle'];
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const body = r.rows.map((x) => [x.model, x.pass, String(x.workers), x.ms.toFixed(1), x.speedup.toFixed(2), x.efficiency.toFixed(2), pct(x.outsideShare), pct(x.idleShare)]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i < 2 ? s.padEnd(w[i]) : s.padStart(w[i]))).join('  ');
  const o = r.options;
  return [
    `data: ${r.data}; Gv: one CG step over |S| = ${o.gnSize}; f+grad over ${o.samples} samples; chunks of ${o.bsize}; median of ${o.reps}; backend ${o.backend}`,
    'outside compute: share of the time no worker computes (messaging, reduction, CG); workers idle: share of worker time not computing',
    line(head),
    ...body.map(line),
  ].join('\n');
}
