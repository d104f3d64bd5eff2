/**
 * The scaling study's cost model (src/bench/cost-model.ts): link parsing, the pass time's
 * two regimes (compute-bound, traffic-bound), and a fit that recovers the throughput and
 * fixed time it was given from passes it generated.
 */
import test from 'ava';
import {
  fitCostModel,
  parseLink,
  passMs,
  predictSpeedups,
  type CostModel,
} from '../src/bench/cost-model.ts';

test('parseLink reads rates and latencies, and says what it expects', (t) => {
  t.deepEqual(parseLink('10gbit,0.2ms'), { bytesPerMs: 1.25e6, latencyMs: 0.2 });
  t.deepEqual(parseLink('100Mbit, 50us'), { bytesPerMs: 12500, latencyMs: 0.05 });
  t.throws(() => parseLink('fast'), {
    instanceOf: RangeError,
    message: /^--link must look like 10gbit,0\.2ms/,
  });
});

const shape = { chunks: 60, chunkMs: 10, resultBytes: 1e6, perWorkerBytes: 1e6 };

test('compute-bound: the speed-up grows with P until the coordinator link carries all it can', (t) => {
  const m: CostModel = { ...shape, clientBytesPerMs: 1e9, fixedMs: 0 };
  const fast = { bytesPerMs: 1e9, latencyMs: 0 };
  t.true(Math.abs(passMs(m, 1, fast) - 600) < 0.01);
  t.true(Math.abs(passMs(m, 2, fast) - 300) < 0.01);
  // 100 MB/s: 60 results of 1 MB take 600 ms whatever P is: no speed-up left
  const slow = { bytesPerMs: 1e5, latencyMs: 0 };
  const s = new Map(predictSpeedups(m, slow, 8));
  t.true(s.get(8)! < 1.1, `speed-up ${s.get(8)}`);
  // the client's own throughput caps a fast link the same way; it sends the state once
  // (61 MB at 100 MB/s, plus the first v and the last result: 20 ms) ...
  const capped = { ...m, clientBytesPerMs: 1e5 };
  t.true(Math.abs(passMs(capped, 4, fast) - 630) < 0.01);
  t.is(passMs(capped, 8, fast), passMs(capped, 4, fast));
  // ... while the server's fan-out of v crosses the link once per worker: 4 MB more at 8
  t.true(Math.abs(passMs(m, 8, slow) - passMs(m, 4, slow) - 40) < 0.01);
});

test('the fit recovers the throughput and fixed time of passes the model made', (t) => {
  const truth: CostModel = { ...shape, clientBytesPerMs: 150_000, fixedMs: 12 };
  const loop = { bytesPerMs: Infinity, latencyMs: 0.05 };
  const measured = [1, 2, 3, 4].map((P) => ({ processes: P, ms: passMs(truth, P, loop) }));
  const fit = fitCostModel(shape, measured);
  t.true(
    Math.abs(fit.clientBytesPerMs / truth.clientBytesPerMs - 1) < 0.01,
    `${fit.clientBytesPerMs}`,
  );
  t.true(Math.abs(fit.fixedMs - 12) < 1, `${fit.fixedMs}`);
});
