/**
 * The scaling benchmark: time of one CG step (a Gv over |S| samples and the CG vector
 * updates around it) and of one f+∇f pass over l samples, for several worker counts;
 * speed-up and efficiency against 1 worker; the share of wall time during which no worker
 * computes (messaging, scheduling, reduction, CG), and the share of worker time spent
 * idle (that, plus the wait of a worker that finished its chunks before the others).
 * Each worker count is timed alternately with the first (reference) count, and speed-ups
 * are medians of the paired ratios, so slow phases of a noisy machine hit both sides.
 */
import { percent, textTable } from './table.js';
import { availableParallelism } from 'node:os';
import type { TaskSpan } from '../engine/engine.js';
import { PoolProblem } from '../transport/threads.js';
import type { BackendName } from '../backend/select.js';
import type { GvMethod } from '../autodiff/evaluator.js';
import { takeRows, type Dataset } from '../data/dataset.js';
import { loadData } from '../data/load.js';
import { initParams } from '../model/init.js';
import { Network } from '../model/network.js';
import { presetModel } from '../model/presets.js';
import { Rng } from '../rng.js';
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
  /** how Gauss-Newton products are computed (default linearized) */
  gv?: GvMethod;
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

export function fashionOrSynthetic(
  samples: number,
  dataDir?: string,
): { data: Dataset; name: string; synthetic: boolean } {
  try {
    const d = loadData('fashion-mnist', dataDir).train;
    return {
      data: takeRows(
        d,
        Int32Array.from({ length: Math.min(samples, d.n) }, (_, i) => i),
      ),
      name: 'fashion-mnist',
      synthetic: false,
    };
  } catch {
    const rng = new Rng(3);
    const x = Float32Array.from({ length: samples * 784 }, () => rng.normal());
    const labels = Int32Array.from({ length: samples }, () => rng.int(10));
    return {
      data: { x, labels, n: samples, inputShape: [28, 28, 1], numClasses: 10 },
      name: 'synthetic 28x28x1, 10 classes (Fashion-MNIST files not found)',
      synthetic: true,
    };
  }
}

/** The length of the union of the intervals, clipped to [t0, t1]. */
export function coveredMs(spans: { start: number; end: number }[], t0: number, t1: number): number {
  const xs = spans
    .map((s) => [Math.max(t0, s.start), Math.min(t1, s.end)] as const)
    .filter(([a, b]) => b > a)
    .sort((p, q) => p[0] - q[0]);
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
  const busy = spans.reduce(
    (a, s) => a + Math.max(0, Math.min(t1, s.end) - Math.max(t0, s.start)),
    0,
  );
  return {
    ms: wall,
    outsideShare: Math.max(0, 1 - coveredMs(spans, t0, t1) / wall),
    idleShare: Math.max(0, 1 - busy / workers / wall),
  };
}

const byMs = (runs: Timing[]): Timing =>
  [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)];
const medianOf = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const now = (): number => performance.timeOrigin + performance.now();

/** Runs f once with the pool's timeline recorded; the timing of each [marks[k], marks[k+1]] interval. */
async function traced(
  pool: PoolProblem,
  f: (mark: () => void) => Promise<unknown>,
): Promise<Timing[]> {
  const spans: TaskSpan[] = [];
  const marks: number[] = [];
  pool.onTask = (s) => spans.push(s);
  try {
    await f(() => marks.push(now()));
  } finally {
    pool.onTask = undefined;
  }
  marks.push(now());
  return marks.slice(0, -1).map((t0, k) => timing(spans, pool.workers, t0, marks[k + 1]));
}

/** One full f+∇f pass. */
const gradPass = (pool: PoolProblem, theta: Float64Array) =>
  traced(pool, (mark) => (mark(), pool.lossAndGradient(theta)));

/**
 * Steps 2 and 3 of a CG solve on G + I (tolerance 0: never converged): step k runs from
 * the k-th Gv call to the next one (the last to the end of the solve), so it holds the Gv
 * on the pool and the CG vector updates in the main thread. Step 1 is left out: it wakes
 * workers that slept while the other pool ran, on caches the other pool filled.
 */
const cgSteps = async (pool: PoolProblem, G: LinearOperator, b: Float64Array): Promise<Timing[]> =>
  (
    await traced(pool, (mark) =>
      conjugateGradient(
        shifted((v, out) => {
          mark();
          return G.apply(v, out);
        }, 1),
        b,
        0,
        3,
      ),
    )
  ).slice(1);

/**
 * Measures `pool` and the reference pool `base` alternately (which goes first alternates
 * too), `reps` times after a warm-up of each, so that both see the same machine load;
 * returns the runs of each, paired by position.
 */
async function interleaved(
  reps: number,
  base: PoolProblem,
  pool: PoolProblem,
  run: (p: PoolProblem) => Promise<Timing[]>,
) {
  const baseRuns: Timing[] = [];
  await run(base);
  if (base === pool) {
    for (let r = 0; r < reps; r++) baseRuns.push(...(await run(base)));
    return { baseRuns, runs: baseRuns };
  }
  await run(pool);
  const runs: Timing[] = [];
  for (let r = 0; r < reps; r++) {
    const baseFirst = r % 2 === 0;
    if (baseFirst) baseRuns.push(...(await run(base)));
    runs.push(...(await run(pool)));
    if (!baseFirst) baseRuns.push(...(await run(base)));
  }
  return { baseRuns, runs };
}

export async function runScaling(o: ScalingOptions): Promise<ScalingReport> {
  const { data, name, synthetic } = fashionOrSynthetic(o.samples, o.dataDir);
  const rows: ScalingRow[] = [];
  const newPool = (net: Network, workers: number) =>
    new PoolProblem(net, data, 'ce', { workers, bsize: o.bsize, backend: o.backend, gv: o.gv });
  for (const model of o.models) {
    const net = new Network(presetModel(model, data.inputShape, data.numClasses));
    const theta = Float64Array.from(initParams(net.layout, 1));
    const rng = new Rng(9);
    const subset = rng.subset(data.n, Math.min(o.gnSize, data.n));
    const b = Float64Array.from({ length: net.numParams }, () => rng.normal());
    // the reference (first) worker count stays up and is timed alternately with each other count
    const base = newPool(net, o.workers[0]);
    try {
      const baseG = await base.gaussNewton(theta, subset);
      for (const w of o.workers) {
        const pool = w === o.workers[0] ? base : newPool(net, w);
        try {
          const G = pool === base ? baseG : await pool.gaussNewton(theta, subset);
          for (const pass of ['Gv', 'f+grad'] as const) {
            const run = (p: PoolProblem) =>
              pass === 'Gv' ? cgSteps(p, p === base ? baseG : G, b) : gradPass(p, theta);
            const { baseRuns, runs } = await interleaved(o.reps, base, pool, run);
            // speed-up: median over the paired runs of (reference time / this time), times the reference count
            const speedup = o.workers[0] * medianOf(runs.map((r, i) => baseRuns[i].ms / r.ms));
            const r = byMs(runs);
            rows.push({
              model,
              pass,
              workers: pool.workers,
              ms: r.ms,
              speedup,
              efficiency: speedup / pool.workers,
              outsideShare: r.outsideShare,
              idleShare: r.idleShare,
            });
            o.log?.(
              `${model} ${pass} ${pool.workers} workers: ${r.ms.toFixed(1)} ms, ${speedup.toFixed(2)}x`,
            );
          }
        } finally {
          if (pool !== base) await pool.close();
        }
      }
    } finally {
      await base.close();
    }
  }
  const { log: _log, ...options } = o;
  return { data: name, synthetic, rows, options };
}

export function scalingTable(r: ScalingReport): string {
  const head = [
    'model',
    'pass',
    'workers',
    'ms',
    'speed-up',
    'efficiency',
    'outside compute',
    'workers idle',
  ];
  const body = r.rows.map((x) => [
    x.model,
    x.pass,
    String(x.workers),
    x.ms.toFixed(1),
    x.speedup.toFixed(2),
    x.efficiency.toFixed(2),
    percent(x.outsideShare),
    percent(x.idleShare),
  ]);
  const o = r.options;
  return [
    `data: ${r.data}; Gv: one CG step over |S| = ${o.gnSize}; f+grad over ${o.samples} samples; chunks of ${o.bsize}; median of ${o.reps} runs (Gv: 2 CG steps a run), each paired with a run of ${o.workers[0]} worker${o.workers[0] === 1 ? '' : 's'}; backend ${o.backend}, Gv ${o.gv ?? 'linearized'}`,
    'outside compute: share of the time no worker computes (messaging, reduction, CG); workers idle: share of worker time not computing',
    ...textTable(head, body, 2),
  ].join('\n');
}
