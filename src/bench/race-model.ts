/**
 * Time to a target accuracy against cores, for Newton and for Adam, from two races run on
 * one machine at 1 and 2 cores (`bench race --threads 1`, `--threads 2`).
 *
 * Newton: its trajectory is the same bit for bit for any number of workers, so the
 * iterations to the target, and each iteration's CG products and f passes, are what the
 * measured run did; only their time changes with P. Each pass has K chunks (K_g =
 * ⌈l/bsize⌉ for f+∇f and the line search's f, K_S = ⌈|S|/bsize⌉ for a Gv product); a pass
 * on P workers takes ⌈K/P⌉·c + s, c a chunk's compute and s the coordinator's serial part
 * (messages, the last chunk's sum, CG's vector updates), both fitted per phase from the
 * 1- and 2-core runs' per-iteration breakdown:
 *
 *   T_N(P) = Σ_k [ (⌈K_g/P⌉·c_g + s_g) + p_k·(⌈K_S/P⌉·c_v + s_v) + q_k·(⌈K_g/P⌉·c_f + s_f) ]
 *
 * with p_k the iteration's Gv products and q_k its f passes.
 *
 * Adam: a minibatch step of 128 samples threads within one TensorFlow context; its steps to
 * the target do not change with the cores (the same minibatches), and a step's time follows
 * Amdahl's law, t(P) = t₁·(σ + (1−σ)/P), σ fitted from the 1- and 2-core step times:
 *
 *   T_A(P) = steps · t(P).
 *
 * The first iteration's extra time, the pool's start (each worker loading its backend), is
 * left out of the fit and the prediction (a long-lived pool pays it once).
 *
 * Assumptions: the cores are one machine's, and P beyond the measured two extrapolates each
 * fit (no memory-bandwidth ceiling, no network: Newton's passes over more machines are the
 * NATS cost model's, src/bench/cost-model.ts); Adam is not data-parallel (a synchronous
 * all-reduce of every parameter every 128 samples is what a multi-machine Adam would add).
 */

import { lineChart } from '../charts/svg.js';

/** One Newton iteration as the race's JSONL records it. */
export interface NewtonIteration {
  gradSeconds: number;
  cgSeconds: number;
  lineSearchSeconds: number;
  /** Gv products of the iteration */
  gvProducts: number;
  /** f passes of the iteration (line search, CG-backtracking) */
  lossPasses: number;
}

/** A pass of K chunks on P workers: ⌈K/P⌉·chunkMs + serialMs. */
export interface PassFit {
  chunks: number;
  chunkMs: number;
  serialMs: number;
}

export const passTime = (f: PassFit, P: number): number =>
  Math.ceil(f.chunks / P) * f.chunkMs + f.serialMs;

/**
 * The chunk and serial times of a pass of `chunks` chunks from its mean time on 1 and on 2
 * workers (ms): T(1) = K·c + s, T(2) = ⌈K/2⌉·c + s. A measured speed-up beyond what ⌈K/2⌉
 * allows (noise) gives s = 0; none at all gives c = 0.
 */
export function fitPass(chunks: number, oneMs: number, twoMs: number): PassFit {
  const saved = chunks - Math.ceil(chunks / 2);
  if (saved === 0) return { chunks, chunkMs: oneMs / chunks, serialMs: 0 };
  const chunkMs = Math.min(oneMs / chunks, Math.max(0, (oneMs - twoMs) / saved));
  return { chunks, chunkMs, serialMs: oneMs - chunks * chunkMs };
}

export interface NewtonFit {
  gradient: PassFit;
  gv: PassFit;
  loss: PassFit;
  /** the measured iterations to the target (from either run: the trajectories are the same) */
  iterations: Pick<NewtonIteration, 'gvProducts' | 'lossPasses'>[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * Newton's pass fits from the iterations to the target of the 1- and 2-worker runs (the
 * same iterations: the trajectory does not depend on the workers).
 */
export function fitNewton(
  one: NewtonIteration[],
  two: NewtonIteration[],
  chunks: { gradient: number; gv: number },
): NewtonFit {
  // the first iteration's passes also start the pool (each worker loads its backend): the
  // passes are timed from the later ones, and the prediction leaves the start out
  const later = (its: NewtonIteration[]) => (its.length > 1 ? its.slice(1) : its);
  const perPass = (all: NewtonIteration[], phase: 'cg' | 'lineSearch') => {
    const its = later(all);
    const n = its.reduce((a, it) => a + (phase === 'cg' ? it.gvProducts : it.lossPasses), 0);
    const s = its.reduce((a, it) => a + (phase === 'cg' ? it.cgSeconds : it.lineSearchSeconds), 0);
    return n === 0 ? 0 : (1000 * s) / n;
  };
  return {
    gradient: fitPass(
      chunks.gradient,
      1000 * mean(later(one).map((i) => i.gradSeconds)),
      1000 * mean(later(two).map((i) => i.gradSeconds)),
    ),
    gv: fitPass(chunks.gv, perPass(one, 'cg'), perPass(two, 'cg')),
    loss: fitPass(chunks.gradient, perPass(one, 'lineSearch'), perPass(two, 'lineSearch')),
    iterations: one.map(({ gvProducts, lossPasses }) => ({ gvProducts, lossPasses })),
  };
}

/** Newton's predicted seconds to the target on P workers. */
export function newtonSeconds(f: NewtonFit, P: number): number {
  const ms = f.iterations.reduce(
    (a, it) =>
      a +
      passTime(f.gradient, P) +
      it.gvProducts * passTime(f.gv, P) +
      it.lossPasses * passTime(f.loss, P),
    0,
  );
  return ms / 1000;
}

export interface AdamFit {
  steps: number;
  /** one step's ms on one core */
  stepMs: number;
  /** Amdahl's serial fraction of a step */
  serial: number;
}

/**
 * Adam's fit from its time to the target on 1 and 2 cores (its steps to the target are
 * the same minibatches: `steps`, from either run at the same learning rate and seed).
 */
export function fitAdam(steps: number, oneSeconds: number, twoSeconds: number): AdamFit {
  const stepMs = (1000 * oneSeconds) / steps;
  const ratio = twoSeconds / oneSeconds;
  return { steps, stepMs, serial: Math.min(1, Math.max(0, 2 * ratio - 1)) };
}

/** Adam's predicted seconds to the target on P cores. */
export function adamSeconds(f: AdamFit, P: number): number {
  return (f.steps * f.stepMs * (f.serial + (1 - f.serial) / P)) / 1000;
}

/** What a race report holds that the model reads (src/bench/race.ts's RaceReport). */
interface RaceLike {
  /** 'loss' for a race on the training loss (absent in reports before it existed) */
  metric?: string;
  entries: {
    name: string;
    kind: string;
    objective: string;
    points: {
      t: number;
      testAcc: number;
      phases?: Omit<NewtonIteration, 'gvProducts' | 'lossPasses'> & { directionSeconds?: number };
      gvProducts?: number;
      lossPasses?: number;
      steps?: number;
    }[];
  }[];
  options: { data: string; model: string; threads: number };
}

export interface CoresPrediction {
  target: number;
  newton: string;
  adam: string;
  /** measured seconds to the target at 1 and 2 cores, Newton and Adam */
  measured: { newton: [number, number]; adam: [number, number] };
  /** predicted seconds to the target at P cores */
  rows: { cores: number; newton: number; adam: number }[];
  fits: { newton: NewtonFit; adam: AdamFit };
}

/**
 * The model fitted from a race on 1 core and one on 2 (`bench race --json`), for the
 * entries named (default: the Newton and the Adam-on-the-objective entry of `objective`
 * that reach the target soonest on 2 cores; both races must hold them), and its
 * predictions for 1..maxCores.
 */
export function predictCores(
  one: RaceLike,
  two: RaceLike,
  target: number,
  chunks: { gradient: number; gv: number },
  o: { objective?: string; newton?: string; adam?: string; maxCores?: number } = {},
): CoresPrediction {
  if (one.metric === 'loss' || two.metric === 'loss')
    throw new RangeError(
      'race-model models races to a test accuracy; a race on the training loss (real-valued targets) is not supported yet',
    );
  const reach = (e: RaceLike['entries'][number]) => e.points.findIndex((p) => p.testAcc >= target);
  const pick = (kind: string, name?: string) => {
    const candidates = two.entries.filter(
      (e) =>
        e.kind === kind &&
        (name ? e.name === name : e.objective === (o.objective ?? e.objective)) &&
        reach(e) >= 0 &&
        one.entries.some((x) => x.name === e.name && reach(x) >= 0),
    );
    const best = candidates.sort((a, b) => a.points[reach(a)].t - b.points[reach(b)].t)[0];
    if (!best)
      throw new RangeError(
        `no ${kind} entry${name ? ` named '${name}'` : ''} reaches ${target} in both races`,
      );
    return [one.entries.find((x) => x.name === best.name)!, best] as const;
  };
  const [n1, n2] = pick('newton', o.newton);
  const [a1, a2] = pick('adam', o.adam);
  const iterations = (e: RaceLike['entries'][number]): NewtonIteration[] =>
    e.points.slice(0, reach(e) + 1).map((p) => {
      if (!p.phases || p.gvProducts === undefined || p.lossPasses === undefined)
        throw new RangeError(`${e.name}: its points have no phase times (a race of this version)`);
      return {
        gradSeconds: p.phases.gradSeconds,
        cgSeconds: p.phases.cgSeconds + (p.phases.directionSeconds ?? 0),
        lineSearchSeconds: p.phases.lineSearchSeconds,
        gvProducts: p.gvProducts,
        lossPasses: p.lossPasses,
      };
    });
  const newton = fitNewton(iterations(n1), iterations(n2), chunks);
  const at = (e: RaceLike['entries'][number]) => e.points[reach(e)];
  const steps = at(a1).steps;
  if (steps === undefined) throw new RangeError(`${a1.name}: its points have no step counts`);
  const adam = fitAdam(steps, at(a1).t, at(a2).t);
  const maxCores = o.maxCores ?? 64;
  return {
    target,
    newton: n2.name,
    adam: a2.name,
    measured: { newton: [at(n1).t, at(n2).t], adam: [at(a1).t, at(a2).t] },
    rows: Array.from({ length: maxCores }, (_, i) => ({
      cores: i + 1,
      newton: newtonSeconds(newton, i + 1),
      adam: adamSeconds(adam, i + 1),
    })),
    fits: { newton, adam },
  };
}

const CORES_SHOWN = [1, 2, 4, 8, 16, 32, 64];

/** The prediction as text: measured and predicted seconds to the target by cores. */
export function coresTable(p: CoresPrediction): string {
  const rows = p.rows.filter((r) => CORES_SHOWN.includes(r.cores));
  const f = p.fits;
  return [
    `time to ${(100 * p.target).toFixed(1)}% test accuracy against cores: ${p.newton} vs ${p.adam}`,
    `measured: Newton ${p.measured.newton.map((x) => x.toFixed(1)).join(' s, ')} s; Adam ${p.measured.adam.map((x) => x.toFixed(1)).join(' s, ')} s (1, 2 cores)`,
    `fits: Newton f+∇f ${f.newton.gradient.chunks}×${f.newton.gradient.chunkMs.toFixed(1)} ms + ${f.newton.gradient.serialMs.toFixed(1)} ms, Gv ${f.newton.gv.chunks}×${f.newton.gv.chunkMs.toFixed(1)} ms + ${f.newton.gv.serialMs.toFixed(1)} ms, f ${f.newton.loss.chunks}×${f.newton.loss.chunkMs.toFixed(1)} ms + ${f.newton.loss.serialMs.toFixed(1)} ms over ${f.newton.iterations.length} iterations; Adam ${f.adam.steps} steps of ${f.adam.stepMs.toFixed(2)} ms, serial fraction ${f.adam.serial.toFixed(2)}`,
    'cores   Newton s   Adam s   Adam/Newton',
    ...rows.map(
      (r) =>
        `${String(r.cores).padStart(5)}  ${r.newton.toFixed(1).padStart(9)}  ${r.adam.toFixed(1).padStart(7)}  ${(r.adam / r.newton).toFixed(2).padStart(11)}`,
    ),
  ].join('\n');
}

/** Time to target against cores (log-scaled seconds), the measured points beside the lines. */
export function coresChart(p: CoresPrediction): string {
  const line = (key: 'newton' | 'adam') =>
    p.rows.map((r) => [r.cores, Math.log10(r[key])] as [number, number]);
  const measured = (key: 'newton' | 'adam') =>
    p.measured[key].map((s, i) => [i + 1, Math.log10(s)] as [number, number]);
  return lineChart(
    `time to ${(100 * p.target).toFixed(0)}% against cores (model: Newton's passes ⌈K/P⌉·c + s, Adam's steps by Amdahl; one machine)`,
    'cores',
    'log10 seconds to target',
    [
      { name: `Newton (${p.newton}), model`, points: line('newton') },
      { name: `Adam (${p.adam}), model`, points: line('adam') },
      { name: 'Newton, measured', points: measured('newton'), dashed: true },
      { name: 'Adam, measured', points: measured('adam'), dashed: true },
    ],
  );
}
