/**
 * The race: Newton and first-order training on the same data, model and backend, each for
 * the same training-time budget and the same cores, compared by the time each first
 * reaches given test accuracies. The clock of every method counts its training work only:
 * Newton's iterations (f, ∇f, CG, line search: everything the method needs), Adam's
 * minibatch steps; the test-accuracy passes and the objective's evaluation are
 * measurements, not training, and are left out of both.
 *
 * Entries: Newton over a small grid (methods × subset fractions), Adam on the same
 * objective (trainFirstOrder) at several learning rates, and plain tfjs (`model.fit` with
 * Adam, what a tfjs user runs) at the same rates; each objective asked for: simpleNN's
 * regularised one, and none (C = NO_REGULARISATION_C; plain tfjs is always unregularised).
 * Every entry runs in a process of its own with at most `threads` cores' worth of compute:
 * Newton `threads` pool workers, Adam and plain tfjs 1 or `threads` TensorFlow threads (its
 * best is its own setting; wasm computes on one thread in Node, whatever is asked), so that no setting made for one method's threads
 * slows another. The best Newton is compared with the best first-order entry per objective.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percent, textTable } from './table.js';
import { RunError } from '../errors.js';
import { chart, type Series } from '../charts/svg.js';
import { defaultC, type TrainOptions } from '../run/options.js';
import {
  SOLVER_OPTION_KEYS,
  SOLVER_OPTIONS,
  type NewtonMethod,
  type SolverOptionKey,
  type SolverOptions,
} from '../solver/options.js';
import { runEntry, type EntryKind, type EntrySpec, type RacePoint } from './race-entry.js';

export type { RacePoint } from './race-entry.js';

/** C of "no regularisation": ‖θ‖²/(2Cl) is then below 1e-12 for any θ of norm below 1e3·√l. */
export const NO_REGULARISATION_C = 1e12;

export const OBJECTIVES = ['regularised', 'none'] as const;
export type Objective = (typeof OBJECTIVES)[number];

export interface RaceOptions {
  /** data, model, backend, C, bsize, seed and Newton's own options, as for train */
  common: TrainOptions;
  /** training seconds per entry */
  budget: number;
  targets: number[];
  /** Adam's learning rates (for Adam on the objective and plain tfjs alike) */
  lrs: number[];
  /** Newton's methods (default: the one in `common`, else simplenn) */
  methods?: NewtonMethod[];
  /** Newton's subset fractions |S|/l (default: common's gnRatio, else 0.05) */
  gnRatios?: number[];
  /** the objectives raced (default: regularised) */
  objectives?: Objective[];
  /** the kinds of entry (default: newton, adam, tfjs) */
  kinds?: EntryKind[];
  /** cores each entry may compute on (default: common.workers, else the available parallelism) */
  threads?: number;
  /**
   * the TensorFlow threads of the first-order entries, each at most `threads` (default 1 and
   * `threads`: a minibatch step of a small model can be faster on one thread than on two,
   * and its best setting is its own)
   */
  firstOrderThreads?: number[];
  /** Adam's minibatch (default 128) */
  batch?: number;
  /** Adam (both kinds): evaluate every this many training seconds (default: budget / 40) */
  evalEvery?: number;
  /** folder for one JSONL per Newton and Adam entry (as train --log writes) */
  logDir?: string;
  /** each entry in a process of its own (default true: the fair race); false for quick tests */
  isolate?: boolean;
  log?: (line: string) => void;
}

export interface RaceEntry {
  name: string;
  kind: EntryKind;
  objective: Objective;
  /** how the entry computes: `2 workers`, `2 TensorFlow threads`, `1 thread (wasm)` */
  threads: string;
  lr?: number;
  method?: NewtonMethod;
  gnRatio?: number;
  points: RacePoint[];
  /**
   * training seconds to first reach each target (null: not within the budget); in a loss
   * race, one target: the best first-order entry's lowest f of the same objective
   */
  timeTo: Record<string, number | null>;
  bestAcc: number;
  /** the lowest f the entry reported */
  bestF: number;
}

/**
 * What a race compares: test accuracy (class labels), or, when no entry has a test
 * accuracy (real-valued targets: an autoencoder, a regression), the training loss f: the
 * time each entry takes to reach the lowest f of the best first-order entry (`LOSS_TARGET`).
 */
export type RaceMetric = 'accuracy' | 'loss';

/** The one target of a loss race, as timeTo names it. */
export const LOSS_TARGET = 'first-order best f';

export interface RaceReport {
  metric: RaceMetric;
  /** a loss race: per objective, the f to reach (the best first-order entry's lowest) */
  lossTargets?: Partial<Record<Objective, number>>;
  entries: RaceEntry[];
  /** per objective raced: the best Newton entry and the best first-order one (names) */
  best: Partial<Record<Objective, { newton?: string; firstOrder?: string }>>;
  options: Omit<RaceOptions, 'log' | 'common' | 'isolate'> & {
    data: string;
    model: string;
    backend: string;
    /** the solver options given to every Newton entry besides method, C and |S| (e.g. gradSample) */
    newtonOptions: Partial<SolverOptions>;
    threads: number;
  };
}

function timeTo(points: RacePoint[], target: number): number | null {
  return points.find((p) => p.testAcc >= target)?.t ?? null;
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

const best = (entries: RaceEntry[], targets: number[]) =>
  entries.reduce<RaceEntry | undefined>((a, b) => (!a || better(b, a, targets) ? b : a), undefined)
    ?.name;

/** In a loss race: the sooner to the target; without one, the lower f. */
function betterByLoss(a: RaceEntry, b: RaceEntry): boolean {
  const [ta, tb] = [a.timeTo[LOSS_TARGET], b.timeTo[LOSS_TARGET]];
  if (ta !== null && ta !== undefined && (tb === null || tb === undefined)) return true;
  if ((ta === null || ta === undefined) && tb !== null && tb !== undefined) return false;
  if (ta !== null && tb !== null && ta !== undefined && tb !== undefined && ta !== tb)
    return ta < tb;
  return a.bestF < b.bestF;
}

const bestByLoss = (entries: RaceEntry[]) =>
  entries.reduce<RaceEntry | undefined>((a, b) => (!a || betterByLoss(b, a) ? b : a), undefined)
    ?.name;

/** The entries of a race, in the order they run: Newton's grid, then Adam, then plain tfjs. */
export function raceEntries(o: RaceOptions): (EntrySpec & { objective: Objective })[] {
  const threads = o.threads ?? o.common.workers ?? availableParallelism();
  const kinds = o.kinds ?? ['newton', 'adam', 'tfjs'];
  const objectives = o.objectives ?? ['regularised'];
  const methods = o.methods ?? [o.common.method ?? 'simplenn'];
  const ratios = o.gnRatios ?? [o.common.gnRatio ?? 0.05];
  const C = (objective: Objective) =>
    objective === 'none' ? NO_REGULARISATION_C : (o.common.C ?? defaultC(o.common.data));
  const cName = (objective: Objective) => (objective === 'none' ? 'C none' : `C ${C(objective)}`);
  const evalEvery = o.evalEvery ?? o.budget / 40;
  const log = (name: string) =>
    o.logDir ? join(o.logDir, `${name.replace(/[ |/%]+/g, '-')}.jsonl`) : undefined;
  const base = { common: o.common, budget: o.budget, threads };
  // the first-order entries at each thread count asked (their best is one of them)
  const foThreads = [...new Set(o.firstOrderThreads ?? (threads > 1 ? [1, threads] : [1]))];
  const tag = (n: number) => (foThreads.length > 1 ? `, ${n} thread${n === 1 ? '' : 's'}` : '');
  const out: (EntrySpec & { objective: Objective })[] = [];
  for (const objective of objectives) {
    if (kinds.includes('newton'))
      for (const method of methods)
        for (const gnRatio of ratios) {
          const name = `newton ${method} |S| ${100 * gnRatio}% ${cName(objective)}`;
          const spec = { ...base, name, kind: 'newton' as const, method, gnRatio, objective };
          out.push({ ...spec, C: C(objective), log: log(name) });
        }
    if (kinds.includes('adam'))
      for (const n of foThreads)
        for (const lr of o.lrs) {
          const name = `adam lr ${lr} ${cName(objective)}${tag(n)}`;
          const spec = { ...base, threads: n, name, kind: 'adam' as const, lr, objective };
          out.push({ ...spec, evalEvery, C: C(objective), batch: o.batch, log: log(name) });
        }
  }
  if (kinds.includes('tfjs'))
    for (const n of foThreads)
      for (const lr of o.lrs)
        out.push({
          ...base,
          threads: n,
          name: `tfjs model.fit adam lr ${lr}${tag(n)}`,
          kind: 'tfjs',
          objective: 'none',
          lr,
          batch: o.batch,
          evalEvery,
        });
  return out;
}

/** The entry file of a race entry's process: compiled JS beside dist/, else the sources. */
function entryCommand(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, '..', '..', 'workers', 'race-entry.js');
  if (import.meta.url.endsWith('.js') && existsSync(built)) return [built];
  return ['--import', 'tsx', join(here, '..', '..', 'workers', 'race-entry.ts')];
}

/**
 * The environment of an entry's process: Newton's pool contexts compute on their own
 * thread each; Adam's and plain tfjs's one context gets the entry's threads.
 */
export function entryEnv(e: EntrySpec): NodeJS.ProcessEnv {
  const tf = e.kind === 'newton' ? '1' : String(e.threads);
  return { ...process.env, TF_NUM_INTRAOP_THREADS: tf, TF_NUM_INTEROP_THREADS: tf };
}

/** Runs an entry in a process of its own; resolves when it has ended. */
function runIsolated(
  e: EntrySpec,
  point: (p: RacePoint) => void,
  say: (line: string) => void,
): Promise<void> {
  const child = spawn(process.execPath, [...entryCommand(), JSON.stringify(e)], {
    env: entryEnv(e),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let pending = '';
  let error: string | undefined;
  let usage = false;
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => {
    pending += b.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) {
      if (!l.startsWith('@race ')) continue;
      const m = JSON.parse(l.slice(6)) as {
        point?: RacePoint;
        say?: string;
        error?: string;
        usage?: boolean;
      };
      // JSON carries NaN as null: no ‖∇f‖ (plain tfjs), no test accuracy (real-valued targets)
      if (m.point)
        point({ ...m.point, gradNorm: m.point.gradNorm ?? NaN, testAcc: m.point.testAcc ?? NaN });
      if (m.say) say(m.say);
      if (m.error) [error, usage] = [m.error, m.usage === true];
    }
  });
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  return new Promise((resolve, reject) =>
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            // bad input as a RunError (the CLI's one line, exit code 2), a crash as an Error
            new (usage ? RunError : Error)(
              `race entry '${e.name}' failed: ${error ?? `exit code ${code}: ${stderr.trim().split('\n').at(-1)}`}`,
            ),
          ),
    ),
  );
}

/** How an entry computes, for the table. */
function threadsOf(e: EntrySpec, backend: string): string {
  if (e.kind === 'newton') return `${e.threads} worker${e.threads === 1 ? '' : 's'}`;
  if (backend === 'wasm' || backend === 'cpu') return `1 thread (${backend})`;
  return `${e.threads} TensorFlow thread${e.threads === 1 ? '' : 's'}`;
}

export async function runRace(o: RaceOptions): Promise<RaceReport> {
  const say = o.log ?? (() => {});
  const backend = String(o.common.backend ?? 'auto');
  const specs = raceEntries(o);
  const entries: RaceEntry[] = [];
  for (const spec of specs) {
    const points: RacePoint[] = [];
    say(`${spec.name}: up to ${o.budget} s of training`);
    const run = o.isolate === false ? runEntry : runIsolated;
    // gradNorm is NaN for plain tfjs; JSON carries it as null
    await run(spec, (p) => points.push({ ...p, gradNorm: p.gradNorm ?? NaN }), say);
    entries.push({
      name: spec.name,
      kind: spec.kind,
      objective: spec.objective,
      threads: threadsOf(spec, backend),
      lr: spec.lr,
      method: spec.method,
      gnRatio: spec.gnRatio,
      points,
      timeTo: Object.fromEntries(o.targets.map((x) => [String(x), timeTo(points, x)])),
      bestAcc: Math.max(-Infinity, ...points.map((p) => p.testAcc)),
      bestF: Math.min(Infinity, ...points.map((p) => p.f).filter((f) => Number.isFinite(f))),
    });
  }
  // no test accuracy anywhere: real-valued targets, a race on the training loss
  const metric: RaceMetric = entries.every((e) => e.points.every((p) => Number.isNaN(p.testAcc)))
    ? 'loss'
    : 'accuracy';
  const byObjective: RaceReport['best'] = {};
  const lossTargets: Partial<Record<Objective, number>> = {};
  for (const objective of o.objectives ?? ['regularised']) {
    const of = entries.filter((e) => e.objective === objective);
    const newtons = of.filter((e) => e.kind === 'newton');
    const firsts = of.filter((e) => e.kind !== 'newton');
    if (metric === 'accuracy') {
      byObjective[objective] = {
        newton: best(newtons, o.targets),
        firstOrder: best(firsts, o.targets),
      };
      continue;
    }
    const target = Math.min(...firsts.map((e) => e.bestF));
    if (Number.isFinite(target)) lossTargets[objective] = target;
    for (const e of of) {
      e.timeTo = Number.isFinite(target)
        ? { [LOSS_TARGET]: e.points.find((p) => p.f <= target)?.t ?? null }
        : {};
    }
    byObjective[objective] = { newton: bestByLoss(newtons), firstOrder: bestByLoss(firsts) };
  }
  const c = o.common;
  return {
    metric,
    ...(metric === 'loss' && { lossTargets }),
    entries,
    best: byObjective,
    options: {
      budget: o.budget,
      targets: o.targets,
      lrs: o.lrs,
      methods: o.methods,
      gnRatios: o.gnRatios,
      objectives: o.objectives,
      kinds: o.kinds,
      firstOrderThreads: o.firstOrderThreads,
      batch: o.batch,
      evalEvery: o.evalEvery,
      logDir: o.logDir,
      data: typeof c.data === 'string' ? c.data : (c.data?.name ?? 'data'),
      model: typeof c.model === 'string' ? c.model : 'a model spec',
      backend,
      threads: o.threads ?? o.common.workers ?? availableParallelism(),
      newtonOptions: Object.fromEntries(
        SOLVER_OPTION_KEYS.filter((k) => k !== 'method' && k !== 'C' && c[k] !== undefined).map(
          (k) => [k, c[k]],
        ),
      ),
    },
  };
}

/** The Newton entries' solver options beyond the grid, in their flags' words ('' when none). */
const newtonOptionsLine = (given: Partial<SolverOptions> = {}) => {
  const words = Object.entries(given).map(
    ([k, v]) => `${SOLVER_OPTIONS[k as SolverOptionKey].spec.flag ?? k} ${v}`,
  );
  return words.length ? `; every Newton entry with ${words.join(' ')}` : '';
};

const secs = (x: number | null) => (x === null ? '—' : `${x.toFixed(1)} s`);

/** Newton against the best first-order entry at each target: who got there, how much sooner. */
function verdicts(r: RaceReport, objective: Objective): string[] {
  const { newton: nn, firstOrder: fn } = r.best[objective] ?? {};
  const newton = r.entries.find((e) => e.name === nn);
  const first = r.entries.find((e) => e.name === fn);
  if (!newton || !first) return [];
  return r.options.targets.map((x) => {
    const tn = newton.timeTo[String(x)];
    const ta = first.timeTo[String(x)];
    const pct = `${objective}, ${percent(x)}`;
    if (tn === null && ta === null)
      return `${pct}: neither ${nn} nor ${fn} within ${r.options.budget} s`;
    if (tn === null) return `${pct}: ${fn} only (${secs(ta)}), not ${nn}`;
    if (ta === null) return `${pct}: ${nn} only (${secs(tn)}), not ${fn}`;
    return tn <= ta
      ? `${pct}: ${nn} sooner, ${secs(tn)} vs ${secs(ta)} (${(ta / tn).toFixed(2)}x)`
      : `${pct}: ${fn} sooner, ${secs(ta)} vs ${secs(tn)} (${nn} ${(tn / ta).toFixed(2)}x slower)`;
  });
}

/** A loss race: each objective's best Newton against its best first-order entry, to the target f. */
function lossVerdicts(r: RaceReport, objective: Objective): string[] {
  const { newton: nn, firstOrder: fn } = r.best[objective] ?? {};
  const newton = r.entries.find((e) => e.name === nn);
  const first = r.entries.find((e) => e.name === fn);
  const target = r.lossTargets?.[objective];
  if (!newton || !first || target === undefined) return [];
  const tn = newton.timeTo[LOSS_TARGET];
  const ta = first.timeTo[LOSS_TARGET];
  const what = `${objective}, f ≤ ${target.toExponential(4)} (${fn}'s lowest)`;
  if (tn === null || tn === undefined)
    return [
      `${what}: ${nn} did not reach it within ${r.options.budget} s (its lowest f ${newton.bestF.toExponential(4)}); ${fn} took ${secs(ta ?? null)}`,
    ];
  return [
    `${what}: ${nn} in ${secs(tn)}, ${fn} in ${secs(ta ?? null)} (${nn} ${ta! / tn >= 1 ? `${(ta! / tn).toFixed(2)}x sooner` : `${(tn / ta!).toFixed(2)}x slower`})`,
  ];
}

/** The table of a loss race: the lowest f of each entry and its time to the target. */
function lossRaceTable(r: RaceReport): string[] {
  const bests = new Set(Object.values(r.best).flatMap((b) => [b.newton, b.firstOrder]));
  const head = ['entry', 'objective', 'computes on', `to ${LOSS_TARGET}`, 'lowest f', 'final f'];
  const body = r.entries.map((e) => [
    e.name + (bests.has(e.name) ? ' (best)' : ''),
    e.objective,
    e.threads,
    secs(e.timeTo[LOSS_TARGET] ?? null),
    Number.isFinite(e.bestF) ? e.bestF.toExponential(4) : '—',
    e.points.at(-1)?.f.toExponential(4) ?? '—',
  ]);
  return [
    ...textTable(head, body, 3),
    ...(Object.keys(r.best) as Objective[]).flatMap((objective) => lossVerdicts(r, objective)),
  ];
}

export function raceTable(r: RaceReport): string {
  const o = r.options;
  if (r.metric === 'loss')
    return [
      `race on the training loss (no test accuracy: real-valued targets): ${o.data}, ${o.model}, backend ${o.backend}, at most ${o.threads} cores for every entry (each in a process of its own); ${o.budget} s of training each; time = training seconds (objective evaluations not counted); f: the objective on all training samples (the mean loss with objective none)${newtonOptionsLine(o.newtonOptions)}`,
      ...lossRaceTable(r),
    ].join('\n');
  const targets = r.options.targets;
  const bests = new Set(Object.values(r.best).flatMap((b) => [b.newton, b.firstOrder]));
  const head = [
    'entry',
    'objective',
    'computes on',
    ...targets.map((x) => `to ${percent(x)}`),
    'best test acc',
    'final f',
  ];
  const body = r.entries.map((e) => [
    e.name + (bests.has(e.name) ? ' (best)' : ''),
    e.objective,
    e.threads,
    ...targets.map((x) => secs(e.timeTo[String(x)])),
    `${(100 * e.bestAcc).toFixed(2)}%`,
    e.points.at(-1)?.f.toExponential(4) ?? '—',
  ]);
  return [
    `race: ${o.data}, ${o.model}, backend ${o.backend}, at most ${o.threads} cores for every entry (each in a process of its own); ${o.budget} s of training each; time = training seconds (accuracy and objective evaluations not counted); f of plain tfjs: its training loss${newtonOptionsLine(o.newtonOptions)}`,
    ...textTable(head, body, 3),
    ...(Object.keys(r.best) as Objective[]).flatMap((objective) => verdicts(r, objective)),
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
      .map((e) => ({
        name: e.name,
        points: e.points
          .map((p) => [p.t, y(p)] as [number, number])
          .filter(([, v]) => Number.isFinite(v)),
      }))
      .filter((s) => s.points.length > 0);
  const top = Math.max(...r.entries.map((e) => e.bestAcc));
  const bests = new Set(Object.values(r.best).flatMap((b) => [b.newton, b.firstOrder]));
  const zoom = (e: RaceEntry) => bests.has(e.name);
  const targets: Series[] = r.options.targets.map((x) => ({
    name: `target ${(100 * x).toFixed(0)}%`,
    points: [
      [0, x],
      [r.options.budget, x],
    ],
    dashed: true,
  }));
  if (r.metric === 'loss') {
    const lossTargets: Series[] = Object.entries(r.lossTargets ?? {}).map(([objective, f]) => ({
      name: `target: ${objective}, first-order best f`,
      points: [
        [0, Math.log10(f)],
        [r.options.budget, Math.log10(f)],
      ],
      dashed: true,
    }));
    return chart(
      [
        {
          title: 'objective f (log10)',
          xLabel: 'training seconds',
          yLabel: 'log10 f',
          series: [...series((p) => Math.log10(p.f)), ...lossTargets],
        },
        {
          title: 'objective f (log10): the best entries',
          xLabel: 'training seconds',
          yLabel: 'log10 f',
          series: [...series((p) => Math.log10(p.f), zoom), ...lossTargets],
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
  return chart(
    [
      {
        title: 'test accuracy',
        xLabel: 'training seconds',
        yLabel: 'accuracy',
        series: [...series((p) => p.testAcc), ...targets],
      },
      {
        title: 'test accuracy near the top: the best entries',
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
