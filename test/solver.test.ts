/**
 * The solver against problems whose answers are known in closed form: a quadratic data
 * term (G is its exact Hessian), solved directly in float64.
 */
import test from 'ava';
import { conjugateGradient, shifted } from '../src/solver/cg.ts';
import { LineSearchError, NewtonCG } from '../src/solver/newton.ts';
import type { GaussNewtonProblem } from '../src/solver/problem.ts';
import { matvec, solve, spd } from './helpers/dense.ts';

test('CG solves an SPD system to the requested residual', async (t) => {
  const A = spd(12, 1);
  const b = Float64Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
  const want = solve(A, b);
  const r = await conjugateGradient(async (v) => matvec(A, v), b, 1e-10, 100);
  t.true(r.residualNorm <= 1e-10);
  const err = Math.max(...want.map((w, i) => Math.abs(w - r.x[i])));
  t.true(err < 1e-7, `max error ${err}`);
  // the recurrence residual is the true residual
  const Ax = matvec(A, r.x);
  t.true(Math.max(...b.map((bi, i) => Math.abs(bi - Ax[i] - r.r[i]))) < 1e-8);
});

test('CG stops at maxIter', async (t) => {
  const A = spd(20, 2);
  const r = await conjugateGradient(
    async (v) => matvec(A, v),
    Float64Array.from({ length: 20 }, () => 1),
    0,
    3,
  );
  t.is(r.iters, 3);
});

test('shifted adds shift·v', async (t) => {
  const A = spd(5, 3);
  const v = Float64Array.from([1, -2, 3, 0.5, 4]);
  const out = new Float64Array(5);
  const Av = matvec(A, v);
  // an operator that returns its own vector, and one that writes into out
  for (const op of [
    async (u: Float64Array) => matvec(A, u),
    async (u: Float64Array, o: Float64Array) => (o.set(matvec(A, u)), o),
  ]) {
    out.fill(NaN);
    const got = await shifted(op, 0.75)(v, out);
    t.is(got, out);
    got.forEach((g, i) => t.true(Math.abs(g - (Av[i] + 0.75 * v[i])) < 1e-12));
  }
});

/** Data loss ½θᵀAθ + bᵀθ (as if averaged over l samples); Gauss-Newton matrix = A exactly. */
function quadratic(
  A: Float64Array[],
  b: Float64Array,
  l: number,
  seen: Float64Array[] = [],
): GaussNewtonProblem {
  return {
    dim: b.length,
    numSamples: l,
    async lossAndGradient(theta) {
      const At = matvec(A, theta);
      return {
        loss:
          0.5 * theta.reduce((s, x, i) => s + x * At[i], 0) +
          theta.reduce((s, x, i) => s + x * b[i], 0),
        grad: At.map((v, i) => v + b[i]),
      };
    },
    async loss(theta) {
      return (await this.lossAndGradient(theta)).loss;
    },
    async gaussNewton() {
      return {
        async apply(v) {
          seen.push(Float64Array.from(v));
          return matvec(A, v);
        },
        async release() {},
      };
    },
  };
}

test('CG sees G + (λ + 1/(C·l))I: the Newton step solves the damped, regularised system', async (t) => {
  const n = 8,
    l = 50,
    C = 0.3,
    lambda0 = 0.7;
  const A = spd(n, 4);
  const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
  const theta0 = Float64Array.from({ length: n }, (_, i) => 0.1 * i);
  const s = new NewtonCG(quadratic(A, b, l), theta0, {
    gnSize: 10,
    C,
    lambda0,
    cgTolerance: 1e-12,
    cgMax: 500,
  });
  const rep = await s.step();
  t.is(rep.alpha, 1);
  t.is(rep.lambda, lambda0);
  const Ct = C * l;
  const g = matvec(A, theta0).map((v, i) => v + b[i] + theta0[i] / Ct);
  const shiftedA = A.map((row, i) => row.map((a, j) => a + (i === j ? lambda0 + 1 / Ct : 0)));
  const dWant = solve(
    shiftedA,
    g.map((x) => -x),
  );
  const dGot = s.params.map((x, i) => x - theta0[i]);
  const err = Math.max(...dWant.map((w, i) => Math.abs(w - dGot[i])));
  t.true(err < 1e-8, `step error ${err}`);
  // f reported = ‖θ‖²/(2Cl) + data loss
  const th = s.params;
  const At = matvec(A, th);
  const fWant =
    th.reduce((a, x) => a + x * x, 0) / (2 * Ct) +
    0.5 * th.reduce((a, x, i) => a + x * At[i], 0) +
    th.reduce((a, x, i) => a + x * b[i], 0);
  t.true(Math.abs(rep.f - fWant) < 1e-12 * Math.max(1, Math.abs(fWant)));
  // a quadratic is its own model: ρ = 1 once λ is negligible, and λ drops
  t.true(rep.rho > 0.75 && rep.nextLambda < lambda0);
});

test('λ follows ρ: ×boost when the actual reduction is a tenth of the predicted, ×drop when the model is exact', async (t) => {
  const n = 4,
    l = 10;
  const A = spd(n, 5);
  const b = Float64Array.from({ length: n }, () => 1);
  const exact = quadratic(A, b, l);
  const f0 = await exact.loss(new Float64Array(n));
  // every move away from θ = 0 achieves a tenth of the quadratic's decrease: ρ ≈ 0.1
  const sluggish: GaussNewtonProblem = {
    ...exact,
    lossAndGradient: exact.lossAndGradient.bind(exact),
    loss: async (th) => f0 + 0.1 * ((await exact.loss(th)) - f0),
  };
  const s = new NewtonCG(sluggish, new Float64Array(n), {
    gnSize: 1,
    C: 1e6,
    lambda0: 1e-3,
    cgTolerance: 1e-10,
    cgMax: 100,
  });
  const rep = await s.step();
  t.is(rep.alpha, 1);
  t.true(rep.rho > 0.05 && rep.rho < 0.25, `rho ${rep.rho}`);
  t.true(Math.abs(rep.nextLambda - 1.5e-3) < 1e-15);
  const good = new NewtonCG(exact, new Float64Array(n), {
    gnSize: 1,
    C: 1e6,
    lambda0: 1e-3,
    cgTolerance: 1e-10,
    cgMax: 100,
  });
  const r2 = await good.step();
  t.true(r2.rho >= 0.75);
  t.true(Math.abs(r2.nextLambda - 1e-3 * (2 / 3)) < 1e-15);
});

test('a line search that cannot decrease f ends with LineSearchError after maxHalvings', async (t) => {
  const n = 3;
  const A = spd(n, 6);
  const base = quadratic(A, Float64Array.from([1, 2, 3]), 5);
  // loss() lies: always higher than where we stand
  const liar: GaussNewtonProblem = {
    ...base,
    lossAndGradient: base.lossAndGradient.bind(base),
    loss: async () => 1e9,
  };
  const s = new NewtonCG(liar, new Float64Array(n), { gnSize: 1, maxHalvings: 4 });
  await t.throwsAsync(() => s.step(), {
    instanceOf: LineSearchError,
    message: /no sufficient decrease after 4 halvings/,
  });
  t.deepEqual([...s.params], [0, 0, 0], 'θ is left at the last good point');
});

test('subsets are fresh, of the requested size, and reproducible from the seed', async (t) => {
  const mk = () => {
    const sets: Int32Array[] = [];
    const A = spd(3, 7);
    const base = quadratic(A, Float64Array.from([1, 1, 1]), 100);
    const p: GaussNewtonProblem = {
      ...base,
      lossAndGradient: base.lossAndGradient.bind(base),
      loss: base.loss.bind(base),
      async gaussNewton(th, subset) {
        sets.push(subset);
        return base.gaussNewton(th, subset);
      },
    };
    return { p, sets };
  };
  const a = mk(),
    b = mk();
  const sa = new NewtonCG(a.p, new Float64Array(3), { gnSize: 7, seed: 42 });
  const sb = new NewtonCG(b.p, new Float64Array(3), { gnSize: 7, seed: 42 });
  for (let i = 0; i < 3; i++) {
    await sa.step();
    await sb.step();
  }
  t.deepEqual(
    a.sets.map((s) => [...s]),
    b.sets.map((s) => [...s]),
  );
  for (const s of a.sets) {
    t.is(new Set(s).size, 7);
    t.true(s.every((i) => i >= 0 && i < 100));
  }
  t.notDeepEqual([...a.sets[0]], [...a.sets[1]]);
});

test('bad options are refused with the option named', (t) => {
  const base = quadratic(spd(2, 8), Float64Array.from([1, 1]), 10);
  t.throws(() => new NewtonCG(base, new Float64Array(2), { gnSize: 11 }), {
    message: /subset size must be an integer in 1\.\.10/,
  });
  t.throws(() => new NewtonCG(base, new Float64Array(2), { gnSize: 2, C: -1 }), {
    message: /C must be a positive number/,
  });
  t.throws(() => new NewtonCG(base, new Float64Array(3), { gnSize: 2 }), {
    message: /3 entries, the problem has 2/,
  });
});
