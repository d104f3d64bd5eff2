/**
 * The time-to-target model of Newton and Adam against cores: its fits reproduce the two
 * measured runs they come from, and its extrapolation follows the stated laws.
 */
import test from 'ava';
import {
  adamSeconds,
  fitAdam,
  fitNewton,
  fitPass,
  newtonSeconds,
  passTime,
  predictCores,
  coresTable,
  coresChart,
  type NewtonIteration,
} from '../src/bench/race-model.ts';

const close = (a: number, b: number, tol = 1e-9) =>
  Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('fitPass: ⌈K/P⌉·c + s through both measurements, and the edge cases', (t) => {
  // 59 chunks: T(1) = 59c + s, T(2) = 30c + s with c = 10, s = 3
  const f = fitPass(59, 593, 303);
  t.true(close(f.chunkMs, 10) && close(f.serialMs, 3), JSON.stringify(f));
  t.true(close(passTime(f, 1), 593) && close(passTime(f, 2), 303));
  t.true(close(passTime(f, 64), 10 + 3));
  // one chunk: no speed-up possible, all of it is compute
  t.deepEqual(fitPass(1, 12, 12), { chunks: 1, chunkMs: 12, serialMs: 0 });
  // no speed-up measured: all serial; more than possible (noise): no serial part
  t.deepEqual(fitPass(4, 40, 40), { chunks: 4, chunkMs: 0, serialMs: 40 });
  t.deepEqual(fitPass(4, 40, 10), { chunks: 4, chunkMs: 10, serialMs: 0 });
});

test('Newton: the fitted model gives back both measured runs, and P = 64 its limits', (t) => {
  // K_g = 59 (60,000 samples in chunks of 1024), K_S = 3 (|S| = 3,000)
  const chunks = { gradient: 59, gv: 3 };
  const truth = { g: [10, 3], v: [12, 2], f: [4, 1] } as const; // [chunk ms, serial ms]
  const pass = (k: number, [c, s]: readonly number[], P: number) => Math.ceil(k / P) * c + s;
  const its = [
    { gvProducts: 5, lossPasses: 1 },
    { gvProducts: 9, lossPasses: 2 },
    { gvProducts: 14, lossPasses: 1 },
  ];
  const run = (P: number): NewtonIteration[] =>
    its.map((it) => ({
      ...it,
      gradSeconds: pass(59, truth.g, P) / 1000,
      cgSeconds: (it.gvProducts * pass(3, truth.v, P)) / 1000,
      lineSearchSeconds: (it.lossPasses * pass(59, truth.f, P)) / 1000,
    }));
  const sum = (r: NewtonIteration[]) =>
    r.reduce((a, i) => a + i.gradSeconds + i.cgSeconds + i.lineSearchSeconds, 0);
  const fit = fitNewton(run(1), run(2), chunks);
  t.true(close(newtonSeconds(fit, 1), sum(run(1)), 1e-9));
  t.true(close(newtonSeconds(fit, 2), sum(run(2)), 1e-9));
  t.true(close(newtonSeconds(fit, 64), sum(run(64)), 1e-9));
  // monotone in P
  for (let P = 2; P <= 64; P++) t.true(newtonSeconds(fit, P) <= newtonSeconds(fit, P - 1) + 1e-12);
});

test("Adam: Amdahl's law through both measurements", (t) => {
  const fit = fitAdam(3000, 12, 8); // 4 ms a step; 2 cores give 1.5x: σ = 1/3
  t.true(close(fit.stepMs, 4) && close(fit.serial, 1 / 3));
  t.true(close(adamSeconds(fit, 1), 12) && close(adamSeconds(fit, 2), 8));
  t.true(close(adamSeconds(fit, 64), 12 * (1 / 3 + 2 / 3 / 64)));
  // slower on two cores than one (noise, or contention): no gain from more
  t.is(fitAdam(100, 1, 1.2).serial, 1);
});

test('predictCores: the entries that reach the target in both races, fitted and predicted; an entry without phase times is refused', (t) => {
  const newtonPoints = (P: number) =>
    [0.8, 0.86, 0.9].map((testAcc, i) => ({
      t: (i + 1) * (P === 1 ? 2 : 1.2),
      testAcc,
      phases: {
        gradSeconds: P === 1 ? 1 : 0.55,
        cgSeconds: P === 1 ? 0.8 : 0.6,
        directionSeconds: 0,
        lineSearchSeconds: P === 1 ? 0.2 : 0.15,
      },
      gvProducts: 10,
      lossPasses: 1,
    }));
  const adamPoints = (P: number) =>
    [0.85, 0.88, 0.9].map((testAcc, i) => ({
      t: (i + 1) * (P === 1 ? 1 : 0.7),
      testAcc,
      steps: (i + 1) * 500,
    }));
  const race = (P: number) => ({
    entries: [
      { name: 'newton', kind: 'newton', objective: 'none', points: newtonPoints(P) },
      { name: 'adam', kind: 'adam', objective: 'none', points: adamPoints(P) },
      { name: 'tfjs', kind: 'tfjs', objective: 'none', points: adamPoints(P) },
    ],
    options: { data: 'd', model: 'm', threads: P },
  });
  const p = predictCores(race(1), race(2), 0.88, { gradient: 59, gv: 3 });
  t.is(p.newton, 'newton');
  t.is(p.adam, 'adam');
  t.deepEqual(
    p.measured.newton.map((x) => +x.toFixed(9)),
    [6, 3.6],
  );
  t.deepEqual(
    p.measured.adam.map((x) => +x.toFixed(9)),
    [2, 1.4],
  );
  t.is(p.fits.newton.iterations.length, 3);
  t.is(p.fits.adam.steps, 1000);
  // the model at 1 and 2 cores: the phases' sums (what the measured t holds besides is not modelled)
  t.true(close(p.rows[0].newton, 3 * (1 + 0.8 + 0.2)));
  t.true(close(p.rows[1].newton, 3 * (0.55 + 0.6 + 0.15)));
  t.true(close(p.rows[1].adam, 1.4));
  t.is(p.rows.length, 64);
  t.regex(coresTable(p), /^time to 88\.0% test accuracy against cores: newton vs adam/);
  t.regex(coresChart(p), /<svg[\s\S]*<\/svg>/);
  const bare = race(1);
  bare.entries[0].points = newtonPoints(1).map(({ phases: _p, ...rest }) => rest) as never;
  t.throws(() => predictCores(bare, race(2), 0.88, { gradient: 59, gv: 3 }), {
    instanceOf: RangeError,
    message: /newton: its points have no phase times/,
  });
});
