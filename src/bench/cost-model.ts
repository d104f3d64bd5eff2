/**
 * A cost model of one pass over worker processes (machines), fitted from `bench scaling
 * --nats` measurements and used to predict the speed-up for 1..64 machines at a given
 * link. See docs/design.md ("Beyond one machine") for the derivation.
 *
 * One pass has K chunks; a chunk computes in c ms on one worker; its result is R bytes
 * (4·dim for f+∇f and Gv); before a pass each of P workers gets V bytes of state (v for a
 * CG step, θ once per iteration for f+∇f, counted in V), which the coordinator publishes
 * once and the server fans out. The coordinator's JS client handles K·R + V bytes at its
 * own throughput B_c (fitted on loopback); its machine's link, where the server runs too,
 * carries K·R + P·V at the link's rate B_l; each round trip adds the latency L, and
 * B = min(B_l, B_c). Workers compute in parallel while results stream in:
 *
 *   T(P) = max(⌈K/P⌉·c, (K·R + V)/B_c, (K·R + P·V)/B_l) + (V + R)/B + 2L + t₀
 *
 * (the first V and the last R cannot overlap compute; t₀ is the coordinator's own work
 * per pass: reduction and CG vector updates, fitted). The speed-up is T(1)/T(P).
 */

export interface PassShape {
  /** chunks per pass */
  chunks: number;
  /** compute ms of one chunk on one worker */
  chunkMs: number;
  /** bytes of one chunk's result */
  resultBytes: number;
  /** bytes sent to each worker per pass */
  perWorkerBytes: number;
}

export interface Link {
  /** bytes per ms */
  bytesPerMs: number;
  /** one-way latency, ms */
  latencyMs: number;
}

export interface CostModel extends PassShape {
  /** the coordinator's own throughput (bytes per ms), from the loopback measurement */
  clientBytesPerMs: number;
  /** the coordinator's own time per pass (ms) */
  fixedMs: number;
}

/** Parses `10gbit,0.2ms` (also mbit, gbit; latency in ms or us). */
export function parseLink(s: string): Link {
  const m = /^\s*([\d.]+)\s*(k|m|g)bit\s*,\s*([\d.]+)\s*(ms|us)\s*$/i.exec(s);
  if (!m)
    throw new RangeError(
      `--link must look like 10gbit,0.2ms (a rate in kbit/mbit/gbit and a latency in ms/us), got '${s}'`,
    );
  const bitsPerS = Number(m[1]) * { k: 1e3, m: 1e6, g: 1e9 }[m[2].toLowerCase() as 'k' | 'm' | 'g'];
  const latencyMs = Number(m[3]) * (m[4].toLowerCase() === 'us' ? 1e-3 : 1);
  if (!(bitsPerS > 0) || !(latencyMs >= 0))
    throw new RangeError(`--link needs a positive rate and a latency ≥ 0, got '${s}'`);
  return { bytesPerMs: bitsPerS / 8 / 1000, latencyMs };
}

/** The predicted ms of one pass on P workers over `link`. */
export function passMs(m: CostModel, P: number, link: Link): number {
  const B = Math.min(link.bytesPerMs, m.clientBytesPerMs);
  const compute = Math.ceil(m.chunks / P) * m.chunkMs;
  const results = m.chunks * m.resultBytes;
  // state goes out of the client once; the server's fan-out crosses the link P times
  const client = (results + m.perWorkerBytes) / m.clientBytesPerMs;
  const wire = (results + P * m.perWorkerBytes) / link.bytesPerMs;
  return (
    Math.max(compute, client, wire) +
    (m.perWorkerBytes + m.resultBytes) / B +
    2 * link.latencyMs +
    m.fixedMs
  );
}

/**
 * Fits the coordinator's throughput and fixed time from measured passes on loopback
 * (`measured`: wall ms for each worker count, with the same pass shape): a least-squares
 * fit of T(P) − compute-or-traffic over a fine grid of throughputs (the model is not
 * linear in B), with t₀ the mean residual at the best B. Where a measurement gives its own
 * chunk time (`chunkMs`: worker processes of one machine slow each other, machines do not),
 * that one is used for its compute term; the model keeps `shape.chunkMs` for predictions.
 */
export function fitCostModel(
  shape: PassShape,
  measured: { processes: number; ms: number; chunkMs?: number }[],
  loopbackLatencyMs = 0.05,
): CostModel {
  let best: CostModel | null = null;
  let bestErr = Infinity;
  for (let mbps = 10; mbps <= 20_000; mbps *= 1.002) {
    const clientBytesPerMs = mbps * 1000; // MB/s → bytes/ms
    const trial: CostModel = { ...shape, clientBytesPerMs, fixedMs: 0 };
    const link = { bytesPerMs: Infinity, latencyMs: loopbackLatencyMs };
    const residuals = measured.map(
      (x) => x.ms - passMs({ ...trial, chunkMs: x.chunkMs ?? shape.chunkMs }, x.processes, link),
    );
    const fixedMs = Math.max(0, residuals.reduce((a, r) => a + r, 0) / residuals.length);
    const err = residuals.reduce((a, r) => a + (r - fixedMs) ** 2, 0);
    if (err < bestErr) {
      bestErr = err;
      best = { ...trial, fixedMs };
    }
  }
  return best!;
}

/** Predicted speed-up T(1)/T(P) for P = 1..maxP. */
export function predictSpeedups(m: CostModel, link: Link, maxP = 64): [number, number][] {
  const t1 = passMs(m, 1, link);
  return Array.from(
    { length: maxP },
    (_, i) => [i + 1, t1 / passMs(m, i + 1, link)] as [number, number],
  );
}
