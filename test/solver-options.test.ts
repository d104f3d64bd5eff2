/**
 * The Hessian-free remedies of the Newton solver (src/solver/newton.ts, src/solver/cg.ts),
 * each against a reference: CG from x0 and preconditioned CG against a direct float64
 * solve, the quadratic-model stop against q computed directly, the kept iterates against
 * plain CG stopped there, gradSquares against the chunk gradients computed one by one
 * (and bitwise the same on 0, 1 and 2 workers), 'simplenn' against trajectories recorded
 * before the options existed, each option training digits, and each option resuming bit
 * for bit.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { ChunkEvaluator } from '../src/autodiff/evaluator.ts';
import { initBackend } from '../src/backend/select.ts';
import { chunkSamples } from '../src/data/dataset.ts';
import {
  checkSameRun,
  LEGACY_METHOD_IDENTITY,
  loadCheckpoint,
  saveCheckpoint,
  type RunIdentity,
} from '../src/checkpoint.ts';
import { rangeChunks } from '../src/engine/plan.ts';
import { UsageError } from '../src/errors.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { Rng } from '../src/rng.ts';
import { validateOptions } from '../src/run/options.ts';
import {
  conjugateGradient,
  quadraticStalled,
  quadraticValue,
  type Apply,
} from '../src/solver/cg.ts';
import {
  HF_METHOD,
  methodIdentity,
  NEWTON_DEFAULTS,
  NewtonCG,
  resolveNewtonOptions,
  SIMPLENN_METHOD,
  type IterationReport,
  type NewtonSettings,
} from '../src/solver/newton.ts';
import type { GaussNewtonProblem } from '../src/solver/problem.ts';
import { dot } from '../src/solver/vec.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { PoolProblem } from '../src/transport/threads.ts';
import { train, type TrainIteration, type TrainOptions } from '../src/run/train.ts';
import fixture from './fixtures/simplenn-trajectory.json' with { type: 'json' };
import { matvec, solve, spd } from './helpers/dense.ts';
import { logisticProblem } from './helpers/logistic.ts';
import { syntheticData } from './helpers/synthetic.ts';

// ---------------------------------------------------------------- small dense algebra

const op =
  (A: Float64Array[]): Apply =>
  async (v) =>
    matvec(A, v);
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));

/** An ill-conditioned SPD matrix: D A D with D spanning four orders of magnitude. */
function badlyScaled(n: number, seed: number): Float64Array[] {
  const A = spd(n, seed, 1);
  const D = Float64Array.from({ length: n }, (_, i) => Math.pow(10, (4 * i) / (n - 1) - 2));
  return A.map((row, i) => row.map((a, j) => D[i] * a * D[j]));
}

/** CG as it was before the options (git a017479), verbatim: the reference for "without options, unchanged". */
async function cgBefore(apply: Apply, b: Float64Array, tol: number, maxIter: number) {
  const x = new Float64Array(b.length);
  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  const out = new Float64Array(b.length);
  let rr = dot(r, r);
  let iters = 0;
  while (Math.sqrt(rr) > tol && iters < maxIter) {
    const Ap = await apply(p, out);
    iters++;
    const pAp = dot(p, Ap);
    if (!(pAp > 0)) break;
    const a = rr / pAp;
    for (let i = 0; i < x.length; i++) x[i] += a * p[i];
    for (let i = 0; i < r.length; i++) r[i] += -a * Ap[i];
    const rrNew = dot(r, r);
    const beta = rrNew / rr;
    rr = rrNew;
    for (let i = 0; i < p.length; i++) p[i] = r[i] + beta * p[i];
  }
  return { x, r, iters, residualNorm: Math.sqrt(rr) };
}

// ---------------------------------------------------------------- CG

test('CG without options is the CG of before, operation for operation', async (t) => {
  for (const [n, seed, tol, maxIter] of [
    [12, 1, 1e-10, 100],
    [30, 2, 0, 7],
    [20, 3, 1e-3, 50],
  ] as const) {
    const A = badlyScaled(n, seed);
    const b = Float64Array.from({ length: n }, (_, i) => Math.sin(i + 1));
    const want = await cgBefore(op(A), b, tol, maxIter);
    const got = await conjugateGradient(op(A), b, tol, maxIter);
    t.deepEqual([...got.x], [...want.x]);
    t.deepEqual([...got.r], [...want.r]);
    t.is(got.iters, want.iters);
    t.is(got.products, want.iters);
    t.is(got.residualNorm, want.residualNorm);
    t.false(got.warmStarted);
    t.deepEqual(got.saved, []);
    t.is(got.stoppedBy, got.residualNorm <= tol ? 'residual' : 'maxIter');
  }
});

test('CG from x0 solves the system (direct float64 solve), at one extra product', async (t) => {
  const n = 16;
  const A = spd(n, 4);
  const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
  const want = solve(A, b);
  // a start near the solution, as a warm start is
  const x0 = want.map((w, i) => 0.9 * w + 0.01 * Math.sin(3 * i));
  let products = 0;
  const counted: Apply = async (v) => (products++, matvec(A, v));
  const r = await conjugateGradient(counted, b, 1e-10, 200, { x0 });
  t.true(r.warmStarted);
  t.is(r.products, r.iters + 1);
  t.is(products, r.products);
  t.true(r.residualNorm <= 1e-10);
  t.true(maxAbs(r.x, want) < 1e-8, `error ${maxAbs(r.x, want)}`);
  // the recurrence residual is the true residual b − A x
  const Ax = matvec(A, r.x);
  t.true(
    maxAbs(
      b.map((bi, i) => bi - Ax[i]),
      r.r,
    ) < 1e-8,
  );
  // x0 untouched
  t.is(x0[0], 0.9 * want[0] + 0);
  // from x0 = the solution: no CG step
  const at = await conjugateGradient(op(A), b, 1e-6, 200, { x0: want });
  t.is(at.iters, 0);
  t.is(at.products, 1);
  t.deepEqual([...at.x], [...want]);
});

test('CG from an x0 worse than 0 (q(x0) ≥ 0) starts from 0: the plain CG result, the product wasted', async (t) => {
  const n = 10;
  const A = spd(n, 5);
  const b = Float64Array.from({ length: n }, (_, i) => 1 + i);
  const xStar = solve(A, b);
  const x0 = xStar.map((x) => -2 * x); // q(−2x*) = 2x*ᵀAx* + 2bᵀx* > 0
  t.true(
    quadraticValue(
      x0,
      b,
      b.map((bi, i) => bi - matvec(A, x0)[i]),
    ) > 0,
  );
  const plain = await conjugateGradient(op(A), b, 1e-9, 100);
  const warm = await conjugateGradient(op(A), b, 1e-9, 100, { x0 });
  t.false(warm.warmStarted);
  t.deepEqual([...warm.x], [...plain.x]);
  t.is(warm.iters, plain.iters);
  t.is(warm.products, plain.iters + 1);
});

test('preconditioned CG solves the system (direct solve) in fewer steps on a badly scaled one', async (t) => {
  const n = 40;
  const A = badlyScaled(n, 6);
  const b = Float64Array.from({ length: n }, (_, i) => Math.sin(2 * i + 1));
  const want = solve(A, b);
  const diag = Float64Array.from(A, (row, i) => row[i]);
  const tol = 1e-9 * Math.sqrt(dot(b, b));
  const plain = await conjugateGradient(op(A), b, tol, 2000);
  const pcg = await conjugateGradient(op(A), b, tol, 2000, { preconditioner: diag });
  t.is(pcg.stoppedBy, 'residual');
  const rel = (x: Float64Array) => maxAbs(x, want) / Math.max(...want.map(Math.abs));
  t.true(rel(pcg.x) < 1e-6, `relative error ${rel(pcg.x)}`);
  t.true(pcg.iters < plain.iters, `PCG ${pcg.iters} steps, CG ${plain.iters}`);
  const Ax = matvec(A, pcg.x);
  t.true(
    maxAbs(
      b.map((bi, i) => bi - Ax[i]),
      pcg.r,
    ) <
      1e-8 * Math.sqrt(dot(b, b)),
  );
  // M = c·I is no preconditioning: the same iterates (up to rounding), on a well-conditioned system
  const W = spd(n, 9, 1);
  const plainW = await conjugateGradient(op(W), b, 0, 15);
  const scaled = await conjugateGradient(op(W), b, 0, 15, {
    preconditioner: new Float64Array(n).fill(7),
  });
  t.true(maxAbs(scaled.x, plainW.x) < 1e-9 * Math.max(...plainW.x.map(Math.abs)));
  // with x0 and a preconditioner together
  const both = await conjugateGradient(op(A), b, tol, 2000, {
    preconditioner: diag,
    x0: want.map((w) => 0.5 * w),
  });
  t.true(both.warmStarted);
  t.true(rel(both.x) < 1e-6);
  await t.throwsAsync(
    () => conjugateGradient(op(A), b, tol, 10, { preconditioner: new Float64Array(3) }),
    { message: /preconditioner has 3 entries, the system 40/ },
  );
});

test("Martens's quadratic stop: the test on constructed sequences", (t) => {
  const eps = 5e-4;
  // q the same from the start: the first step with i > k = 10 stops
  const still = new Array(40).fill(-1);
  t.is(
    still.findIndex((_, i) => quadraticStalled(still, i, eps)),
    11,
  );
  // q stalls from step 5 on: the first step whose q_{i−10} is stalled too
  const flat = Array.from({ length: 40 }, (_, i) => (i < 5 ? -i : -5));
  t.is(
    flat.findIndex((_, i) => quadraticStalled(flat, i, eps)),
    15,
  );
  // q > 0 never stops; q decreasing by 1 a step stops once k/i < k·ε (i > 2000)
  t.false(
    Array.from({ length: 40 }, (_, i) => i + 1).some((_, i, q) => quadraticStalled(q, i, eps)),
  );
  const linear = Array.from({ length: 2200 }, (_, i) => -i);
  const at = linear.findIndex((_, i) => quadraticStalled(linear, i, eps));
  t.true(at > 2000 && at <= 2010, `stopped at ${at}`);
  // k = max(10, ⌈0.1·i⌉): at i = 150, k = 15: progress over the last 15 steps, 15·ε allowed
  const q = Array.from({ length: 151 }, (_, i) => -1 - 1e-9 * i);
  q[135] = -1 + 0.5 * 15 * eps; // (q150 − q135)/q150 ≈ 15ε/2 < 15ε: stalled
  t.true(quadraticStalled(q, 150, eps));
  q[135] = -1 + 2 * 15 * eps; // ≈ 30ε > 15ε: progress
  t.false(quadraticStalled(q, 150, eps));
});

test('CG with the quadratic stop: q from CG quantities is q computed directly, and CG stops at the first stalled step', async (t) => {
  // many distinct small eigenvalues: ‖r‖ falls slowly while q has nearly converged
  const n = 200;
  const eig = Float64Array.from({ length: n }, (_, i) => Math.pow(10, -4 + (4 * i) / (n - 1)));
  const A: Apply = async (v) => v.map((x, i) => eig[i] * x);
  const b = new Float64Array(n).fill(1);
  const eps = 5e-4;
  const r = await conjugateGradient(A, b, 0, 150, { quadraticTolerance: eps });
  t.is(r.stoppedBy, 'quadratic');
  t.true(r.iters < 150);
  // q of plain CG stopped after j steps, computed as ½xᵀAx − bᵀx
  const qAt: number[] = [];
  for (let j = 0; j <= r.iters; j++) {
    const x = (await conjugateGradient(A, b, 0, j)).x;
    qAt.push(0.5 * dot(x, await A(x, new Float64Array(n))) - dot(b, x));
  }
  const last = await conjugateGradient(A, b, 0, r.iters);
  t.deepEqual([...r.x], [...last.x], 'the same iterates as plain CG');
  t.true(Math.abs(quadraticValue(r.x, b, r.r) - qAt[r.iters]) < 1e-9 * Math.abs(qAt[r.iters]));
  t.true(quadraticStalled(qAt, r.iters, eps), 'stalled where it stopped');
  for (let j = 1; j < r.iters; j++) t.false(quadraticStalled(qAt, j, eps), `not stalled at ${j}`);
  // the residual stop still applies
  const loose = await conjugateGradient(A, b, 0.9 * Math.sqrt(n), 150, { quadraticTolerance: eps });
  t.is(loose.stoppedBy, 'residual');
});

test('CG keeps the iterates at steps ⌈1.3^j⌉, the last `keep` of them, equal to plain CG stopped there', async (t) => {
  const n = 60;
  const A = badlyScaled(n, 7);
  const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
  const all = await conjugateGradient(op(A), b, 0, 30, { save: { ratio: 1.3, keep: 100 } });
  t.deepEqual(
    all.saved.map((s) => s.iter),
    [1, 2, 3, 4, 5, 7, 9, 11, 14, 18, 24],
  );
  for (const s of all.saved) {
    const plain = await conjugateGradient(op(A), b, 0, s.iter);
    t.deepEqual([...s.x], [...plain.x], `x at ${s.iter}`);
    const xAx = dot(s.x, matvec(A, s.x));
    t.true(Math.abs(s.xAx - xAx) < 1e-8 * Math.abs(xAx), `xAx at ${s.iter}`);
    t.true(Math.abs(s.q - (0.5 * xAx - dot(b, s.x))) < 1e-8 * Math.abs(s.q));
  }
  const four = await conjugateGradient(op(A), b, 0, 30, { save: { ratio: 1.3, keep: 4 } });
  t.deepEqual(
    four.saved.map((s) => s.iter),
    [11, 14, 18, 24],
  );
  // the final iterate is never a saved one; the budget of 4 holds without it
  const at24 = await conjugateGradient(op(A), b, 0, 24, { save: { ratio: 1.3, keep: 4 } });
  t.deepEqual(
    at24.saved.map((s) => s.iter),
    [9, 11, 14, 18],
  );
});

// ---------------------------------------------------------------- the solver, pure float64

type Fixture = typeof fixture;
type Report = Omit<IterationReport, 'iterSeconds'>;
const strip = ({ iterSeconds: _s, ...r }: IterationReport): Report => r;

async function runSolver(
  cfg: Fixture['logistic'][number]['cfg'],
  extra: Partial<NewtonSettings> = {},
  iters = cfg.iters,
) {
  const p = logisticProblem(cfg.l, cfg.dim, cfg.seed);
  const s = new NewtonCG(p, new Float64Array(cfg.dim), { ...cfg.opts, ...extra });
  const reports: Report[] = [];
  for (let i = 0; i < iters; i++) reports.push(strip(await s.step()));
  return { p, s, reports };
}

test("'simplenn' (and no method) is the trajectory recorded before the options existed, bit for bit", async (t) => {
  t.is(NEWTON_DEFAULTS.method, 'simplenn');
  for (const c of fixture.logistic) {
    for (const extra of [{}, { method: 'simplenn' as const }]) {
      const { p, s, reports } = await runSolver(c.cfg, extra);
      reports.forEach((r, i) => {
        const want = c.reports[i] as Record<string, unknown>;
        t.deepEqual(
          Object.fromEntries(
            Object.keys(want).map((k) => [k, (r as unknown as Record<string, unknown>)[k]]),
          ),
          want,
          `iteration ${i + 1}`,
        );
        // and the new report fields say every remedy was off
        t.is(r.gvProducts, r.cgIters);
        t.is(r.cgChosenIter, r.cgIters);
        t.is(r.gnSize, c.cfg.opts.gnSize);
        t.is(r.lossPasses, r.halvings + 1);
      });
      t.deepEqual([...s.params], c.theta);
      t.deepEqual(
        s.state.rngState.map((x) => (Number.isNaN(x) ? null : x)),
        c.rngState,
      );
      t.is(s.state.lambda, c.lambda);
      t.false('direction' in s.state);
      t.false('gradNorm0' in s.state);
      t.is(
        p.calls.gv,
        reports.reduce((a, r) => a + r.cgIters, 0),
      );
    }
  }
  // every remedy off in 'simplenn'
  const o = resolveNewtonOptions({ gnSize: 5, method: 'simplenn' });
  t.like(o, {
    cgInit: 'zero',
    cgStop: 'residual',
    cgKeepBest: 0,
    preconditioner: 'none',
    gnGrowth: 'fixed',
  });
  t.like(resolveNewtonOptions({ gnSize: 5 }), SIMPLENN_METHOD);
});

test("'hf' is HF_METHOD; an option given explicitly overrides its method's value; undefined is not given", (t) => {
  t.like(resolveNewtonOptions({ gnSize: 5, method: 'hf' }), HF_METHOD);
  const o = resolveNewtonOptions({
    gnSize: 5,
    method: 'hf',
    cgInit: 'zero',
    preconditioner: undefined,
  });
  t.is(o.cgInit, 'zero');
  t.is(o.preconditioner, HF_METHOD.preconditioner);
  t.like(resolveNewtonOptions({ gnSize: 5, cgStop: 'quadratic' }), {
    ...SIMPLENN_METHOD,
    cgStop: 'quadratic',
  });
  t.notDeepEqual({ ...HF_METHOD }, { ...SIMPLENN_METHOD });
  // the identity leaves out parameters of remedies that are off
  t.deepEqual(methodIdentity(resolveNewtonOptions({ gnSize: 5 })), {
    ...LEGACY_METHOD_IDENTITY,
    cgInitDecay: undefined,
    cgQuadraticTolerance: undefined,
    preconditionerExponent: undefined,
    gnGrowthPower: undefined,
    gradSample0: undefined,
    gradSampleTheta: undefined,
  });
  t.is(
    methodIdentity(resolveNewtonOptions({ gnSize: 5, cgInit: 'previous', cgInitDecay: 0.9 }))
      .cgInitDecay,
    0.9,
  );
});

test('bad method options are refused, naming the option and how to fix it', (t) => {
  const p = logisticProblem(20, 3);
  const make = (o: Partial<NewtonSettings>) => () =>
    new NewtonCG(p, new Float64Array(3), { gnSize: 5, ...o });
  t.throws(make({ cgInitDecay: 0 }), {
    instanceOf: RangeError,
    message: 'cgInitDecay must be in (0, 1], got 0',
  });
  t.throws(make({ preconditionerExponent: 1.5 }), {
    instanceOf: RangeError,
    message: /preconditionerExponent must be in \(0, 1\]/,
  });
  t.throws(make({ cgKeepBest: -1 }), {
    instanceOf: RangeError,
    message: /cgKeepBest must be an integer ≥ 0/,
  });
  t.throws(make({ cgQuadraticTolerance: 0 }), {
    instanceOf: RangeError,
    message: /cgQuadraticTolerance must be a positive number/,
  });
  t.throws(make({ cgStop: 'never' as never }), {
    instanceOf: RangeError,
    message: 'cgStop must be residual or quadratic, got "never"',
  });
  t.throws(make({ method: 'lbfgs' as never }), {
    instanceOf: RangeError,
    message: 'method must be simplenn or hf, got "lbfgs"',
  });
  // the options schema: library and CLI words
  t.throws(() => validateOptions({ method: 'lbfgs' }, 'newton'), {
    instanceOf: RangeError,
    message: "option 'method' must be simplenn or hf, got 'lbfgs'",
  });
  t.throws(() => validateOptions({ cgInit: 'last' }, 'newton', 'cli'), {
    instanceOf: RangeError,
    message: "--cg-init must be zero or previous, got 'last'",
  });
  t.throws(() => validateOptions({ cgKeepBest: 1.5 }, 'newton', 'cli'), {
    instanceOf: TypeError,
    message: '--cg-keep-best must be an integer ≥ 0, got 1.5',
  });
  t.throws(() => validateOptions({ gnGrowthPower: 0 }, 'newton'), {
    instanceOf: RangeError,
    message: "option 'gnGrowthPower' must be > 0, got 0",
  });
  t.throws(() => validateOptions({ cgInitDecay: 1.1 }, 'newton', 'cli'), {
    instanceOf: RangeError,
    message: '--cg-init-decay must be in (0, 1], got 1.1',
  });
  t.notThrows(() =>
    validateOptions(
      {
        method: 'hf',
        cgInit: 'previous',
        cgInitDecay: 1,
        cgStop: 'quadratic',
        cgQuadraticTolerance: 1e-3,
        cgKeepBest: 0,
        preconditioner: 'diagonal',
        preconditionerExponent: 0.75,
        gnGrowth: 'gradient',
        gnGrowthPower: 2,
      },
      'newton',
      'cli',
    ),
  );
});

/** A problem that records the first vector CG multiplies in each solve. */
function recordingFirstProduct(p: GaussNewtonProblem) {
  const first: Float64Array[] = [];
  const wrapped: GaussNewtonProblem = {
    dim: p.dim,
    numSamples: p.numSamples,
    lossAndGradient: (th, o) => p.lossAndGradient(th, o),
    loss: (th) => p.loss(th),
    async gaussNewton(th, subset) {
      const G = await p.gaussNewton(th, subset);
      let fresh = true;
      return {
        apply: (v, out) => {
          if (fresh) first.push(Float64Array.from(v));
          fresh = false;
          return G.apply(v, out);
        },
        release: () => G.release(),
      };
    },
  };
  return { wrapped, first };
}

test("cgInit 'previous': CG starts from cgInitDecay × the last CG solution, one extra product", async (t) => {
  const c = fixture.logistic[1].cfg;
  const { wrapped, first } = recordingFirstProduct(logisticProblem(c.l, c.dim, c.seed));
  const s = new NewtonCG(wrapped, new Float64Array(c.dim), {
    ...c.opts,
    cgInit: 'previous',
    cgInitDecay: 0.8,
  });
  const r1 = await s.step();
  t.is(r1.gvProducts, r1.cgIters, 'the first iteration starts from 0');
  const d1 = s.state.direction!;
  t.is(d1.length, c.dim);
  const r2 = await s.step();
  t.is(r2.gvProducts, r2.cgIters + 1);
  // the first product of the second solve is A x0, x0 = 0.8 d₁
  t.deepEqual([...first[1]], [...d1.map((x) => 0.8 * x)]);
  t.notDeepEqual([...s.state.direction!], [...d1]);
  // from 0 (not the decayed direction) in simplenn: its first product is with b = −∇f
  const plain = recordingFirstProduct(logisticProblem(c.l, c.dim, c.seed));
  const s0 = new NewtonCG(plain.wrapped, new Float64Array(c.dim), c.opts);
  await s0.step();
  await s0.step();
  t.notDeepEqual([...plain.first[1]], [...first[1]]);
});

test('cgKeepBest: the step is the kept CG iterate of lowest f searched back from the last, its f passes counted', async (t) => {
  const c = fixture.logistic[1].cfg; // cgMax 5, small λ: early iterates are better
  const { p, reports } = await runSolver(c, { cgKeepBest: 4 }, 3);
  const plain = await runSolver(c, {}, 1);
  t.true(reports[0].cgChosenIter < reports[0].cgIters, 'an earlier iterate was chosen');
  t.true(reports[0].f < plain.reports[0].f, 'with lower f than the last iterate');
  t.is(
    p.calls.loss,
    reports.reduce((a, r) => a + r.lossPasses, 0),
  );
  // the chosen iterate's f was computed once, not again by the line search
  for (const r of reports) t.true(r.lossPasses <= 5 + r.halvings);
  // by hand: f(θ + x_j) for the iterates of a plain CG solve of the first iteration
  const q = logisticProblem(c.l, c.dim, c.seed);
  const s = new NewtonCG(q, new Float64Array(c.dim), c.opts);
  const theta = new Float64Array(c.dim);
  const data = await q.lossAndGradient(theta);
  const g = data.grad.map((x, i) => x + theta[i] / s.regC);
  const G = await q.gaussNewton(theta, new Rng(c.opts.seed).subset(c.l, c.opts.gnSize));
  const A: Apply = async (v, out) => {
    const Gv = await G.apply(v, out);
    return Gv.map((x, i) => x + (1 / s.regC + (c.opts.lambda0 ?? 1)) * v[i]);
  };
  const fAt = async (j: number) => {
    const x = (
      await conjugateGradient(
        A,
        g.map((x) => -x),
        0,
        j,
      )
    ).x;
    return s.objective(x, await q.loss(x));
  };
  const fs = [];
  for (let j = 1; j <= c.opts.cgMax!; j++) fs.push(await fAt(j));
  // from the last backwards while f decreases
  let k = fs.length - 1;
  while (k > 0 && fs[k - 1] < fs[k]) k--;
  t.is(reports[0].cgChosenIter, k + 1);
  t.is(reports[0].f, fs[k]);
});

test("preconditioner 'diagonal': asks for gradSquares, still solves the damped system (direct solve), refuses a problem without them", async (t) => {
  const n = 12,
    l = 40,
    C = 0.5,
    lambda0 = 0.3;
  const A = badlyScaled(n, 8);
  const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
  const asked: (boolean | undefined)[] = [];
  const squares = Float64Array.from(A, (row, i) => row[i]);
  const quad = (withSquares: boolean): GaussNewtonProblem => ({
    dim: n,
    numSamples: l,
    async lossAndGradient(theta, o) {
      asked.push(o?.gradSquares);
      const At = matvec(A, theta);
      const r = { loss: 0.5 * dot(theta, At) + dot(theta, b), grad: At.map((v, i) => v + b[i]) };
      return withSquares && o?.gradSquares ? { ...r, gradSquares: squares } : r;
    },
    async loss(theta) {
      return 0.5 * dot(theta, matvec(A, theta)) + dot(theta, b);
    },
    async gaussNewton() {
      return { apply: async (v) => matvec(A, v), release: async () => {} };
    },
  });
  const theta0 = Float64Array.from({ length: n }, (_, i) => 0.1 * i);
  const opts = {
    gnSize: 10,
    C,
    lambda0,
    cgTolerance: 1e-12,
    cgMax: 500,
    preconditioner: 'diagonal' as const,
  };
  const s = new NewtonCG(quad(true), theta0, opts);
  const rep = await s.step();
  t.deepEqual(asked, [true]);
  const Ct = C * l;
  const g = matvec(A, theta0).map((v, i) => v + b[i] + theta0[i] / Ct);
  const dWant = solve(
    A.map((row, i) => row.map((a, j) => a + (i === j ? lambda0 + 1 / Ct : 0))),
    g.map((x) => -x),
  );
  const dGot = s.params.map((x, i) => x - theta0[i]);
  t.true(
    maxAbs(dGot, dWant) < 1e-8 * Math.max(...dWant.map(Math.abs)),
    `step error ${maxAbs(dGot, dWant)}`,
  );
  t.is(rep.alpha, 1);
  // fewer CG steps than without the preconditioner, on this badly scaled system
  const plain = await new NewtonCG(quad(true), theta0, { ...opts, preconditioner: 'none' }).step();
  t.true(rep.cgIters < plain.cgIters, `${rep.cgIters} against ${plain.cgIters}`);
  t.is(asked.at(-1), undefined, "'none' does not ask for gradSquares");
  await t.throwsAsync(() => new NewtonCG(quad(false), theta0, opts).step(), {
    message: /needs the problem's gradSquares .* use preconditioner 'none'/,
  });
});

test("gnGrowth 'gradient': |S| = min(l, max(|S₀|, round(|S₀|·(‖∇f₀‖/‖∇f‖)^p))), in the reports and the subsets drawn", async (t) => {
  const c = fixture.logistic[0].cfg;
  const l = c.l,
    S0 = c.opts.gnSize;
  for (const power of [1, 3]) {
    const { p, reports } = await runSolver(c, { gnGrowth: 'gradient', gnGrowthPower: power }, 5);
    const g0 = reports[0].gradNorm;
    const want = reports.map((r) =>
      Math.min(l, Math.max(S0, Math.round(S0 * Math.pow(g0 / r.gradNorm, power)))),
    );
    t.deepEqual(
      reports.map((r) => r.gnSize),
      want,
    );
    t.deepEqual(p.calls.subsets, want);
    t.true(want.at(-1)! > S0, `grew: ${want}`);
    if (power === 3) t.is(want.at(-1), l, 'capped at l');
  }
});

test('state and restore: each option continues bit for bit, through a checkpoint on disk too', async (t) => {
  const c = fixture.logistic[1].cfg;
  const variants: Partial<NewtonSettings>[] = [
    { method: 'hf' },
    { cgInit: 'previous' },
    { cgStop: 'quadratic', cgMax: 40, cgTolerance: 1e-6 },
    { cgKeepBest: 3 },
    { preconditioner: 'diagonal' },
    { gnGrowth: 'gradient', gnGrowthPower: 2 },
    { method: 'hf', gnGrowth: 'gradient' },
  ];
  for (const v of variants) {
    const want = await runSolver(c, v, 4);
    const first = await runSolver(c, v, 2);
    const dir = mkdtempSync(join(tmpdir(), 'tn-solver-state-'));
    saveCheckpoint(dir, {
      spec: { inputShape: [c.dim], layers: [] },
      loss: 'ce',
      state: first.s.state,
    });
    const state = loadCheckpoint(dir).state;
    t.is(
      existsSync(join(dir, 'direction-2.f64')),
      first.s.opts.cgInit === 'previous',
      JSON.stringify(v),
    );
    t.is(
      state.gradNorm0,
      first.s.opts.gnGrowth === 'gradient' ? first.reports[0].gradNorm : undefined,
    );
    const p = logisticProblem(c.l, c.dim, c.seed);
    const s = new NewtonCG(p, new Float64Array(c.dim), { ...c.opts, ...v });
    s.restore(state);
    const rest = [strip(await s.step()), strip(await s.step())];
    t.deepEqual(rest, want.reports.slice(2), JSON.stringify(v));
    t.deepEqual([...s.params], [...want.s.params]);
  }
});

// ---------------------------------------------------------------- gradSquares from the engine

test.serial(
  'gradSquares from LocalProblem and PoolProblem (1, 2 workers) equals the chunk gradients squared directly, bit for bit',
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const data = syntheticData(230, [5, 5, 1], 3, 31);
    const net = new Network(presetModel('mlp:8', [5, 5, 1], 3));
    const theta = Float64Array.from(initParams(net.layout, 4));
    const bsize = 40; // 6 chunks, the last of 30
    // the direct computation: each chunk's gradient, squared and summed in float64, over l
    const ev = new ChunkEvaluator(net, 'ce');
    ev.setParams(Float32Array.from(theta));
    const want = new Float64Array(net.numParams);
    for (const rows of rangeChunks(data.n, bsize)) {
      const g = ev.lossAndGradient(chunkSamples(data, rows)).grad;
      for (let j = 0; j < want.length; j++) want[j] += g[j] * g[j];
    }
    for (let j = 0; j < want.length; j++) want[j] /= data.n;
    ev.dispose();

    const local = new LocalProblem(net, data, 'ce', bsize);
    const plain = await local.lossAndGradient(theta);
    const withSquares = await local.lossAndGradient(theta, { gradSquares: true });
    await local.close();
    t.is(plain.gradSquares, undefined, 'only when asked');
    t.deepEqual([...withSquares.gradSquares!], [...want]);
    t.is(withSquares.loss, plain.loss);
    t.deepEqual([...withSquares.grad], [...plain.grad], 'loss and grad unchanged');
    t.is(tf.memory().numTensors, before);
    for (const workers of [1, 2]) {
      const pool = new PoolProblem(net, data, 'ce', { workers, bsize, backend: 'wasm' });
      try {
        const r = await pool.lossAndGradient(theta, { gradSquares: true });
        t.deepEqual([...r.gradSquares!], [...want], `${workers} workers`);
        t.deepEqual([...r.grad], [...plain.grad]);
      } finally {
        await pool.close();
      }
    }
    t.is(tf.memory().numTensors, before);
  },
);

// ---------------------------------------------------------------- train: digits, resume

const DIGITS: TrainOptions = {
  data: 'digits',
  model: 'mlp:32',
  C: 1,
  iters: 5,
  backend: 'wasm',
  workers: 0,
};
const timeless = (h: TrainIteration[]) =>
  JSON.parse(JSON.stringify(h.map(({ iterSeconds: _s, elapsedSeconds: _e, ...r }) => r))) as Record<
    string,
    unknown
  >[];

test.serial(
  "train with method 'simplenn' is the digits trajectory recorded before the options existed",
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const r = await train({ ...DIGITS, method: 'simplenn' });
    const got = timeless(r.history);
    fixture.digits.history.forEach((want, i) => {
      t.deepEqual(
        Object.fromEntries(Object.keys(want).map((k) => [k, got[i][k]])),
        want,
        `iteration ${i + 1}`,
      );
    });
    t.is(
      createHash('sha256').update(new Uint8Array(r.params.buffer)).digest('hex'),
      fixture.digits.paramsSha256,
    );
    t.is(r.testAcc, fixture.digits.testAcc);
    t.is(tf.memory().numTensors, before);
  },
);

const OPTION_RUNS: [string, TrainOptions][] = [
  ['hf', { method: 'hf' }],
  ['cgInit previous', { cgInit: 'previous' }],
  ['cgStop quadratic', { cgStop: 'quadratic' }],
  ['cgKeepBest 4', { cgKeepBest: 4 }],
  ['preconditioner diagonal', { preconditioner: 'diagonal' }],
  ['gnGrowth gradient', { gnGrowth: 'gradient' }],
];

for (const [name, o] of OPTION_RUNS) {
  test.serial(`${name}: trains digits (mlp:32, 5 iterations) to a sane accuracy`, async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const r = await train({ ...DIGITS, ...o });
    t.is(r.history.length, 5);
    t.true(
      r.history.every((h, i) => h.f < (i === 0 ? h.fPrev : r.history[i - 1].f)),
      'f decreases',
    );
    t.true(r.testAcc > 0.7, `test accuracy ${r.testAcc}`);
    t.is(tf.memory().numTensors, before);
  });
}

const SMALL: TrainOptions = {
  data: 'digits',
  model: 'mlp:16',
  C: 1,
  bsize: 256,
  gnRatio: 0.1,
  seed: 2,
  backend: 'wasm',
  workers: 0,
};

for (const [name, o] of OPTION_RUNS) {
  test.serial(`${name}: a resume is the uninterrupted run, bit for bit`, async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const want = await train({ ...SMALL, ...o, iters: 4 });
    const out = mkdtempSync(join(tmpdir(), 'tn-options-resume-'));
    await train({ ...SMALL, ...o, iters: 2, out });
    const c = loadCheckpoint(out);
    const cgInit = o.cgInit ?? (o.method === 'hf' ? HF_METHOD.cgInit : 'zero');
    t.is(c.state.direction !== undefined, cgInit === 'previous');
    t.is(c.state.gradNorm0 !== undefined, o.gnGrowth === 'gradient');
    t.is(c.run?.method, o.method ?? 'simplenn');
    const resumed = await train({ ...SMALL, ...o, iters: 4, resume: out });
    t.deepEqual(timeless(resumed.history), timeless(want.history));
    t.deepEqual([...resumed.params], [...want.params]);
    t.is(
      readdirSync(out).filter((f) => /^direction-\d+\.f64$/.test(f)).length,
      cgInit === 'previous' ? 1 : 0,
      'old direction files removed',
    );
    t.is(tf.memory().numTensors, before);
  });
}

test.serial(
  "'hf' on 2 workers is the in-process trajectory, bit for bit (gradSquares reduced in chunk order)",
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const want = await train({ ...SMALL, method: 'hf', iters: 3 });
    const got = await train({ ...SMALL, method: 'hf', iters: 3, workers: 2 });
    t.deepEqual(timeless(got.history), timeless(want.history));
    t.deepEqual([...got.params], [...want.params]);
    t.is(tf.memory().numTensors, before);
  },
);

test.serial(
  'a resume with another method or option is refused, naming it and both values; old checkpoints count as simplenn',
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const out = mkdtempSync(join(tmpdir(), 'tn-options-refuse-'));
    await train({ ...SMALL, method: 'hf', iters: 1, out });
    for (const [change, msg] of [
      [{}, /--method differs from the checkpointed run \(method "hf" there, "simplenn" now\)/],
      [
        { method: 'hf', cgInit: 'zero' },
        /--cg-init \(or --method\) differs from the checkpointed run \(cgInit "previous" there, "zero" now\)/,
      ],
      [
        { method: 'hf', cgInitDecay: 0.5 },
        /--cg-init-decay differs from the checkpointed run \(cgInitDecay 0\.95 there, 0\.5 now\)/,
      ],
      [
        { method: 'hf', gnGrowth: 'gradient' },
        /--gn-growth \(or --method\) differs .*\(gnGrowth "fixed" there, "gradient" now\)/,
      ],
    ] as [TrainOptions, RegExp][]) {
      const e = await t.throwsAsync(() => train({ ...SMALL, iters: 2, resume: out, ...change }), {
        instanceOf: UsageError,
      });
      t.regex(e!.message, msg, JSON.stringify(change));
    }
    // a parameter of a remedy that is off changes nothing: not refused
    const plain = mkdtempSync(join(tmpdir(), 'tn-options-refuse-'));
    await train({ ...SMALL, iters: 1, out: plain });
    const r = await train({ ...SMALL, iters: 2, resume: plain, cgInitDecay: 0.5 });
    t.is(r.history.length, 2);
    // a checkpoint written before the method record: simplenn
    const json = JSON.parse(readFileSync(join(plain, 'checkpoint.json'), 'utf8'));
    for (const k of Object.keys(LEGACY_METHOD_IDENTITY)) delete json.run[k];
    for (const k of [
      'cgInitDecay',
      'cgQuadraticTolerance',
      'preconditionerExponent',
      'gnGrowthPower',
    ])
      delete json.run[k];
    writeFileSync(join(plain, 'checkpoint.json'), JSON.stringify(json));
    const legacy = loadCheckpoint(plain).run as RunIdentity;
    t.is(legacy.method, undefined);
    t.notThrows(() =>
      checkSameRun(plain, legacy, {
        ...legacy,
        ...methodIdentity(resolveNewtonOptions({ gnSize: 1 })),
      }),
    );
    const e = await t.throwsAsync(
      () => train({ ...SMALL, iters: 3, resume: plain, method: 'hf' }),
      { instanceOf: UsageError },
    );
    t.regex(
      e!.message,
      /--method differs from the checkpointed run \(method "simplenn" there, "hf" now\)/,
    );
    t.is((await train({ ...SMALL, iters: 3, resume: plain })).history.length, 3);
    t.is(tf.memory().numTensors, before);
  },
);

test.serial(
  "an abort in the middle of an 'hf' CG solve leaves the last iteration's state (direction included): the resume is the uninterrupted run",
  async (t) => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const want = await train({ ...SMALL, method: 'hf', gnGrowth: 'gradient', iters: 4 });
    const out = mkdtempSync(join(tmpdir(), 'tn-options-abort-'));
    const controller = new AbortController();
    let completed = 0;
    const r = await train({
      ...SMALL,
      method: 'hf',
      gnGrowth: 'gradient',
      iters: 4,
      out,
      signal: controller.signal,
      onIteration: (it) => (completed = it.iter),
      onProgress: (pass) => {
        if (completed === 2 && pass === 'Gv') controller.abort();
      },
    });
    t.true(r.interrupted);
    t.is(loadCheckpoint(out).state.iter, 2);
    const resumed = await train({
      ...SMALL,
      method: 'hf',
      gnGrowth: 'gradient',
      iters: 4,
      resume: out,
    });
    t.deepEqual(timeless(resumed.history), timeless(want.history));
    t.deepEqual([...resumed.params], [...want.params]);
    t.is(tf.memory().numTensors, before);
  },
);

test('the CLI: --method and the option flags reach the run (its checkpoint identity), each in --help', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'tn-options-cli-'));
  const args = [
    'train',
    '--data',
    'digits',
    '--C',
    '1',
    '--model',
    'mlp:16',
    '--iters',
    '1',
    '--workers',
    '0',
    '--backend',
    'wasm',
    '--out',
    out,
  ];
  const flags = [
    '--method',
    'hf',
    '--cg-init-decay',
    '0.9',
    '--cg-stop',
    'residual',
    '--cg-keep-best',
    '2',
    '--preconditioner-exponent',
    '0.5',
    '--gn-growth',
    'gradient',
    '--gn-growth-power',
    '0.5',
  ];
  const r = await cli([...args, ...flags]);
  t.is(r.status, 0, r.stderr);
  t.like(loadCheckpoint(out).run, {
    method: 'hf',
    cgInit: 'previous',
    cgInitDecay: 0.9,
    cgStop: 'residual',
    cgQuadraticTolerance: undefined,
    cgKeepBest: 2,
    preconditioner: 'diagonal',
    preconditionerExponent: 0.5,
    gnGrowth: 'gradient',
    gnGrowthPower: 0.5,
  });
  const bad = await cli([...args, '--cg-init', 'last']);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /--cg-init must be zero or previous, got 'last'/);
  const help = await cli(['train', '--help']);
  for (const f of [
    '--method',
    '--cg-init',
    '--cg-init-decay',
    '--cg-stop',
    '--cg-quadratic-tolerance',
    '--cg-keep-best',
    '--preconditioner',
    '--preconditioner-exponent',
    '--gn-growth',
    '--gn-growth-power',
  ]) {
    t.regex(help.stdout, new RegExp(`^  ${f}(\\s|$)`, 'm'), f);
  }
});

/** Runs the CLI to its end without blocking this process. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) =>
    child.on('close', (status) => resolve({ status, stdout, stderr })),
  );
}
