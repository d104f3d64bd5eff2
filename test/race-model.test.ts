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
