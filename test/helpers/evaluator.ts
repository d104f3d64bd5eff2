/** The evaluator's Gauss-Newton product over a whole small data set (linearized.test.ts, avgpool.test.ts). */
import { ChunkEvaluator, type GvMethod } from '../../src/autodiff/evaluator.ts';
import { chunkSamples, type Dataset } from '../../src/data/dataset.ts';
import { rangeChunks } from '../../src/engine/plan.ts';
import type { LossKind } from '../../src/model/loss.ts';
import { Network } from '../../src/model/network.ts';
import type { ModelSpec } from '../../src/model/spec.ts';

/** (1/n) Σ over chunks of 2 samples of the evaluator's chunk sums of JᵀBJv, at θ. */
export function evaluatorGv(
  c: { spec: ModelSpec; data: Dataset; theta: Float64Array; v: Float64Array },
  loss: LossKind,
  gv: GvMethod,
): Float64Array {
  const ev = new ChunkEvaluator(new Network(c.spec), loss, gv);
  ev.setParams(c.theta);
  const chunks = rangeChunks(c.data.n, 2);
  ev.prepareGaussNewton(chunks.map((rows) => chunkSamples(c.data, rows)));
  const parts = ev.gaussNewton(
    chunks.map((_, i) => i),
    c.v,
  );
  ev.dispose();
  const out = new Float64Array(c.v.length);
  for (const p of parts) for (let i = 0; i < p.length; i++) out[i] += p[i] / c.data.n;
  return out;
}
