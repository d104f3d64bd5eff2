/** What the evaluator tests share (linearized.test.ts, avgpool.test.ts): the whole-set Gv, a dot product, a leak check. */
import * as tf from '@tensorflow/tfjs';
import type { ExecutionContext } from 'ava';
import { ChunkEvaluator, type GvMethod } from '../../src/autodiff/evaluator.ts';
import { initBackend, type BackendName } from '../../src/backend/select.ts';
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

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Runs body on `backend` and checks that it left no tensor behind. */
export async function onBackend(
  t: ExecutionContext,
  backend: BackendName,
  body: () => Promise<void> | void,
): Promise<void> {
  await initBackend(backend);
  const before = tf.memory().numTensors;
  await body();
  t.is(tf.memory().numTensors, before, 'tensors leaked');
}
