/**
 * The scaling benchmark: time of one Gv over |S| samples and of one f+∇f pass over l
 * samples, for several worker counts; speed-up and efficiency against 1 worker, and the
 * share of wall time outside the workers' compute (messaging, scheduling, reduction).
 */
import { availableParallelism } from 'node:os';
import { PoolProblem } from '../coordinator/pool.js';
import type { BackendName } from '../backend/select.js';
import { takeRows, type Dataset } from '../data/dataset.js';
import { loadData } from '../data/load.js';
import { initParams } from '../model/init.js';
import { Network } from '../model/network.js';
import { presetModel } from '../model/presets.js';
import { Rng } from '../model/rng.js';

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
  /** 1 − (compute ms per worker)/(wall ms), median run */
  outsideShare: number;
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

async function timed(reps: number, pool: PoolProblem, f: () => Promise<unknown>): Promise<{ ms: number; computeMs: number }> {
  await f(); // warm-up: workers start, compile, cache
  const runs: { ms: number; computeMs: number }[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = pool.stats.computeMs;
    const t0 = performance.now();
    await f();
    runs.push({ ms: performance.now() - t0, computeMs: pool.stats.computeMs - c0 });
  }
  runs.sort((a, b) => a.ms - b.ms);
  return runs[Math.floor(runs.length / 2)];
}

export async function runScaling(o: ScalingOptions): Promise<ScalingReport> {
  const { data, name, synthetic } = fashionOrSynthetic(o.samples, o.dataDir);
  const rows: ScalingRow[] = [];
  for (const model of o.models) {
    const net = new Network(presetModel(model, data.inputShape, data.numClasses));
    const theta = Float64Array.from(initParams(net.layout, 1));
    const rng = new Rng(9);
    const subset = rng.subset(data.n, Math.min(o.gnSize, data.n));
    const v = Float64Array.from({ length: net.numParams }, () => rng.normal());
    const base: Record<string, number> = {};
    for (const w of o.workers) {
      const pool = new PoolProblem(net, data, 'ce', { workers: w, bsize: o.bsize, backend: o.backend });
      try {
        const G = await pool.gaussNewton(theta, subset);
        for (const [pass, f] of [['Gv', () => G.apply(v)], ['f+grad', () => pool.lossAndGradient(theta)]] as const) {
          const r = await timed(o.reps, pool, f);
          const key = `${pass}`;
          if (w === o.workers[0]) base[key] = r.ms * o.workers[0];
          const speedup = base[key] / r.ms;
          const row: ScalingRow = { model, pass, workers: pool.workers, ms: r.ms, speedup, efficiency: speedup / pool.workers, outsideShare: Math.max(0, 1 - r.computeMs / pool.workers / r.ms) };
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
  const head = ['model', 'pass', 'workers', 'ms', 'speed-up', 'efficiency', 'outside compute'];
  const body = r.rows.map((x) => [x.model, x.pass, String(x.workers), x.ms.toFixed(1), x.speedup.toFixed(2), x.efficiency.toFixed(2), `${(100 * x.outsideShare).toFixed(1)}%`]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i < 2 ? s.padEnd(w[i]) : s.padStart(w[i]))).join('  ');
  const o = r.options;
  return [
    `data: ${r.data}; Gv over |S| = ${o.gnSize}, f+grad over ${o.samples} samples; chunks of ${o.bsize}; median of ${o.reps}; backend ${o.backend}`,
    line(head),
    ...body.map(line),
  ].join('\n');
}
