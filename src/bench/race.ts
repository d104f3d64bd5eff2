/**
 * The race: Newton and first-order baselines on the same data, model and backend, each for
 * the same training-time budget, compared by the time each first reaches given test
 * accuracies. The clock of every method counts its training work only: Newton's
 * iterations (f, ∇f, CG, line search: everything the method needs), Adam's minibatch
 * steps; the test-accuracy passes and Adam's full-objective evaluation after each epoch
 * are measurements, not training, and are left out of both. Adam runs at several
 * learning rates; the best one (soonest to the highest target reached, then best accuracy)
 * is what Newton is compared with.
 */
import { percent, textTable } from './table.js';
import { join } from 'node:path';
import { trainFirstOrder } from '../run/baseline.js';
import type { NewtonMethod } from '../solver/newton.js';
import { train, type TrainOptions } from '../run/train.js';
import { chart, type Series } from '../charts/svg.js';

export interface RaceOptions {
  /** data, model, backend, workers, C, bsize, seed and Newton's own options, as for train */
  common: TrainOptions;
  /** training seconds per method */
  budget: number;
  targets: number[];
  /** Adam's learning rates */
  lrs: number[];
  /** Newton's methods, one entry each (default: the one in `common`, else simplenn) */
  methods?: NewtonMethod[];
  /** Adam's minibatch (default 128) */
  batch?: number;
  /** folder for one JSONL per method (as train --log writes) */
  logDir?: string;
  log?: (line: string) => void;
}

export interface RacePoint {
  /** training seconds */
  t: number;
  f: number;
  gradNorm: number;
  testAcc: number;
}

export interface RaceEntry {
  name: string;
  method: 'newton' | 'adam';
  lr?: number;
  points: RacePoint[];
  /** training seconds to first reach each target (null: not within the budget) */
  timeTo: Record<string, number | null>;
  bestAcc: number;
}

export interface RaceReport {
  entries: RaceEntry[];
  /** the Adam entry Newton is compared with */
  bestAdam: string;
  options: Omit<RaceOptions, 'log' | 'common'> & {
    data: string;
    model: string;
    backend: string;
    workers: number | undefined;
  };
}

function timeTo(points: RacePoint[], target: number): number | null {
  return points.find((p) => p.testAcc >= target)?.t ?? null;
}

function entry(
  name: string,
  method: 'newton' | 'adam',
  points: RacePoint[],
  targets: number[],
  lr?: number,
): RaceEntry {
  return {
    name,
    method,
    lr,
    points,
    timeTo: Object.fromEntries(targets.map((x) => [String(x), timeTo(points, x)])),
    bestAcc: Math.max(-Infinity, ...points.map((p) => p.testAcc)),
  };
}

/** Better: reaches a higher target; at the same one, sooner; then the better best accuracy. */
function better(a: RaceEntry, b: RaceEntry, targets: number[]): boolean {
  const sorted = [...targets].sort((x, y) => y - x);
  for (const x of sorted) {
    const ta = a.timeTo[String(x)];
    const tb = b.timeTo[String(x)];
    if (ta !== null && tb === null) return true;
    if (ta === null && tb !== null) return false;
    if (ta !== null && tb !== null && ta !== tb) return ta < tb;
  }
  return a.bestAcc > b.bestAcc;
}

export async function runRace(o: RaceOptions): Promise<RaceReport> {
  const entries: RaceEntry[] = [];
  const say = o.log ?? (() => {});
  // Newton: stopped once its training clock passes the budget (the iteration in flight ends)
  const methods = o.methods ?? [o.common.method ?? 'simplenn'];
  for (const method of methods) {
    const name = methods.length > 1 ? `newton ${method}` : 'newton';
    const controller = new AbortController();
    const points: RacePoint[] = [];
    let t = 0;
    say(`${name}: up to ${o.budget} s of training`);
    await train({
      ...o.common,
      method,
      iters: 100_000,
      signal: controller.signal,
      log: o.logDir ? join(o.logDir, `${name.replace(' ', '-')}.jsonl`) : undefined,
      onIteration: (it) => {
        t += it.iterSeconds;
        points.push({ t, f: it.f, gradNorm: it.gradNorm, testAcc: it.testAcc });
        say(`${name} iter ${it.iter}: ${t.toFixed(1)} s, test ${(100 * it.testAcc).toFixed(2)}%`);
        if (t >= o.budget) controller.abort(new Error('budget'));
      },
    });
    entries.push(entry(name, 'newton', points, o.targets));
  }
  for (const lr of o.lrs) {
    const name = `adam lr ${lr}`;
    say(`${name}: up to ${o.budget} s of training`);
    const r = await trainFirstOrder({
      ...o.common,
      optim: 'adam',
      lr,
      batch: o.batch,
      epochs: 100_000,
      maxTrainSeconds: o.budget,
      log: o.logDir ? join(o.logDir, `adam-${lr}.jsonl`) : undefined,
      onEpoch: (e) =>
        say(
          `${name} epoch ${e.iter}: ${e.trainSeconds.toFixed(1)} s, test ${(100 * e.testAcc).toFixed(2)}%`,
        ),
    });
    entries.push(
      entry(
        name,
        'adam',
        r.history.map((e) => ({
          t: e.trainSeconds,
          f: e.f,
          gradNorm: e.gradNorm,
          testAcc: e.testAcc,
        })),
        o.targets,
        lr,
      ),
    );
  }
  const adams = entries.filter((e) => e.method === 'adam');
  const bestAdam = adams.reduce((a, b) => (better(b, a, o.targets) ? b : a), adams[0])?.name ?? '';
  const c = o.common;
  return {
    entries,
    bestAdam,
    options: {
      budget: o.budget,
      targets: o.targets,
      lrs: o.lrs,
      batch: o.batch,
      logDir: o.logDir,
      data: typeof c.data === 'string' ? c.data : (c.data?.name ?? 'data'),
      model: typeof c.model === 'string' ? c.model : 'a model spec',
      backend: String(c.backend ?? 'auto'),
      workers: c.workers,
    },
  };
}

const secs = (x: number | null) => (x === null ? '—' : `${x.toFixed(1)} s`);

export function raceTable(r: RaceReport): string {
  const targets = r.options.targets;
  const head = ['method', ...targets.map((x) => `to ${percent(x)}`), 'best test acc', 'final f'];
  const body = r.entries.map((e) => [
    e.name + (e.name === r.bestAdam ? ' (best Adam)' : ''),
    ...targets.map((x) => secs(e.timeTo[String(x)])),
    `${(100 * e.bestAcc).toFixed(2)}%`,
    e.points.at(-1)?.f.toExponential(4) ?? '—',
  ]);
  const adam = r.entries.find((e) => e.name === r.bestAdam);
  const verdicts = r.entries
    .filter((e) => e.method === 'newton')
    .flatMap((newton) =>
      targets.map((x) => {
        const tn = newton.timeTo[String(x)];
        const ta = adam?.timeTo[String(x)] ?? null;
        const pct = percent(x);
        const who = newton.name;
        if (tn === null && ta === null)
          return `${pct}: neither ${who} nor ${r.bestAdam} within ${r.options.budget} s`;
        if (tn === null) return `${pct}: ${r.bestAdam} only (${secs(ta)}), not ${who}`;
        if (ta === null) return `${pct}: ${who} only (${secs(tn)}), not ${r.bestAdam}`;
        return tn <= ta
          ? `${pct}: ${who} sooner, ${secs(tn)} vs ${secs(ta)} (${(ta / tn).toFixed(2)}x)`
          : `${pct}: ${r.bestAdam} sooner, ${secs(ta)} vs ${secs(tn)} (${who} ${(tn / ta).toFixed(2)}x slower)`;
      }),
    );
  const o = r.options;
  return [
    `race: ${o.data}, ${o.model}, backend ${o.backend}, ${o.workers ?? 'default'} workers for Newton (Adam: tfjs's optimiser in one thread); ${o.budget} s of training each; time = training seconds (accuracy and objective evaluations not counted)`,
    ...textTable(head, body, 1),
    ...verdicts,
  ].join('\n');
}

/** Four panels: test accuracy and objective against training time, both zoomed and whole. */
export function raceChart(r: RaceReport): string {
  const series = (
    y: (p: RacePoint) => number,
    keep: (e: (typeof r.entries)[number]) => boolean = () => true,
  ): Series[] =>
    r.entries
      .filter(keep)
      .map((e) => ({ name: e.name, points: e.points.map((p) => [p.t, y(p)] as [number, number]) }));
  const top = Math.max(...r.entries.map((e) => e.bestAcc));
  const zoom = (e: RaceEntry) => e.method === 'newton' || e.name === r.bestAdam;
  const targets: Series[] = r.options.targets.map((x) => ({
    name: `target ${(100 * x).toFixed(0)}%`,
    points: [
      [0, x],
      [r.options.budget, x],
    ],
    dashed: true,
  }));
  return chart(
    [
      {
        title: 'test accuracy',
        xLabel: 'training seconds',
        yLabel: 'accuracy',
        series: [...series((p) => p.testAcc), ...targets],
      },
      {
        title: `test accuracy near the top: Newton and ${r.bestAdam}`,
        xLabel: 'training seconds',
        yLabel: 'accuracy',
        series: [...series((p) => Math.max(p.testAcc, top - 0.08), zoom), ...targets],
      },
      {
        title: 'objective f (log10)',
        xLabel: 'training seconds',
        yLabel: 'log10 f',
        series: series((p) => Math.log10(p.f)),
      },
      {
        title: '‖∇f‖ (log10)',
        xLabel: 'training seconds',
        yLabel: 'log10 ‖∇f‖',
        series: series((p) => Math.log10(p.gradNorm)),
      },
    ],
    2,
  );
}
