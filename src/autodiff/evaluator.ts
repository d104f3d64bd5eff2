/**
 * Evaluates loss, gradient and Gauss-Newton products of one network on chunks of one
 * data set, in the current thread's tfjs backend. Every result is a sum over the rows of
 * one chunk (float32), so that a caller can reduce chunks in a fixed order, whichever
 * thread computed them. Used in-process by the local problem and inside pool workers.
 */
import * as tf from '@tensorflow/tfjs';
import { sampleSize, type Dataset } from '../data/dataset.js';
import { curvatureState, lossGradient, lossSum, type LossKind } from '../model/losses/index.js';
import type { Network } from '../model/network.js';
import { gaussNewtonProduct, lossAndGradient } from './gauss-newton.js';
import { Linearization } from './linearized.js';

/** A contiguous range of samples, or an explicit list of sample indices (a chunk: see engine/plan.ts). */
export type Rows = { start: number; end: number } | Int32Array;

export function rowCount(rows: Rows): number {
  return rows instanceof Int32Array ? rows.length : rows.end - rows.start;
}

/**
 * How Gv is computed: `linearized` (the default) runs the forward pass once per prepared
 * chunk and sweeps over the saved layer state (linearized.ts); `double-vjp` differentiates
 * the VJP with respect to its seed at every product (gauss-newton.ts), the reference. One
 * thread, MLP 784-256-256-10 at batch 1000 / cnn4 at 256: tensorflow 12 vs 34 ms / 99 vs
 * 390 ms, wasm 47 vs 128 ms / 551 vs 1337 ms; the linearization holds ≈ 4 KB (MLP) and
 * ≈ 210 KB (cnn4) per prepared sample.
 */
export const GV_METHODS = ['linearized', 'double-vjp'] as const;
export type GvMethod = (typeof GV_METHODS)[number];

/** Concatenated flat values of tensors (read outside tf.tidy: see NOTES on typed arrays). */
function readFlat(ts: tf.Tensor[]): Float32Array {
  const flat = tf.tidy(() => tf.concat(ts.map((t) => tf.reshape(t, [-1]))));
  const out = flat.dataSync() as Float32Array;
  flat.dispose();
  return out;
}

/**
 * A prepared Gauss-Newton chunk: its inputs (double VJP) or its linearization, and the
 * curvature state of its outputs.
 */
interface GnChunk {
  x: tf.Tensor | null;
  lin: Linearization | null;
  state: tf.Tensor2D | null;
}

function disposeGnChunk(c: GnChunk): void {
  if (c.x) c.x.dispose();
  if (c.state) c.state.dispose();
  c.lin?.dispose();
}

export class ChunkEvaluator {
  private params: tf.Tensor[] | null = null;
  private gnChunks = new Map<number, GnChunk>();

  constructor(
    readonly net: Network,
    readonly data: Dataset,
    readonly loss: LossKind,
    readonly gv: GvMethod = 'linearized',
  ) {
    if (!(GV_METHODS as readonly string[]).includes(gv))
      throw new Error(`unknown Gv method '${gv}': use ${GV_METHODS.join(' or ')}`);
    if (data.numClasses !== net.outputSize) {
      throw new Error(
        `the model has ${net.outputSize} outputs, the data ${data.numClasses} classes`,
      );
    }
  }

  /** Sets θ for every following call. */
  setParams(theta: Float32Array | Float64Array): void {
    this.params?.forEach((t) => t.dispose());
    this.params = this.net.unflatten(theta);
  }

  private get theta(): tf.Tensor[] {
    if (this.params === null) throw new Error('ChunkEvaluator: setParams was not called');
    return this.params;
  }

  private inputs(rows: Rows): tf.Tensor {
    const m = sampleSize(this.data);
    const shape = [rowCount(rows), ...this.data.inputShape];
    if (!(rows instanceof Int32Array))
      return tf.tensor(this.data.x.subarray(rows.start * m, rows.end * m), shape, 'float32');
    const buf = new Float32Array(rows.length * m);
    for (let i = 0; i < rows.length; i++)
      buf.set(this.data.x.subarray(rows[i] * m, (rows[i] + 1) * m), i * m);
    return tf.tensor(buf, shape, 'float32');
  }

  private labels(rows: Rows): Int32Array {
    return rows instanceof Int32Array
      ? Int32Array.from(rows, (i) => this.data.labels[i])
      : this.data.labels.subarray(rows.start, rows.end);
  }

  private oneHot(rows: Rows): tf.Tensor2D {
    return tf.tidy(
      () =>
        tf
          .oneHot(tf.tensor1d(this.labels(rows), 'int32'), this.data.numClasses)
          .toFloat() as tf.Tensor2D,
    );
  }

  /** The linearization of the network at θ on the chunk's samples (linearized.ts). */
  private linearize(rows: Rows): Linearization {
    const x = this.inputs(rows);
    try {
      return new Linearization(this.net, this.theta, x);
    } finally {
      x.dispose(); // the linearization keeps its own reference
    }
  }

  /**
   * Σ ξᵢ and Σ ∇ξᵢ over the chunk. For networks of dense layers only, the backward sweep
   * of a linearization (linearized.ts) seeded with ∂ξ/∂z in closed form: it skips the
   * tape's bookkeeping and was faster on tensorflow and wasm (MLP 784-256-256-10: 49 vs
   * 75 ms and 108 vs 124 ms in one run on a loaded machine); with convolutions or pooling
   * it was 5-15% slower than tfjs autodiff, which they keep.
   */
  lossAndGradient(rows: Rows): { loss: number; grad: Float32Array } {
    const out = this.gradientBySweep
      ? this.lossAndGradientBySweep(rows)
      : tf.tidy(() =>
          lossAndGradient(this.net, this.theta, this.inputs(rows), this.oneHot(rows), this.loss),
        );
    const loss = out.loss.dataSync()[0];
    const grad = readFlat(out.grads);
    tf.dispose([out.loss, ...out.grads]);
    return { loss, grad };
  }

  private get gradientBySweep(): boolean {
    return this.net.layers.every((l) => l.unit.gradientBySweep);
  }

  private lossAndGradientBySweep(rows: Rows): { loss: tf.Scalar; grads: tf.Tensor[] } {
    const lin = this.linearize(rows);
    try {
      return tf.tidy(() => {
        const y = this.oneHot(rows);
        return {
          loss: lossSum(this.loss, lin.z, y),
          grads: lin.vjp(lossGradient(this.loss, lin.z, y)),
        };
      });
    } finally {
      lin.dispose();
    }
  }

  /** Σ ξᵢ over the chunk. */
  lossSum(rows: Rows): number {
    const s = tf.tidy(() =>
      lossSum(this.loss, this.net.forward(this.theta, this.inputs(rows)), this.oneHot(rows)),
    );
    const v = s.dataSync()[0];
    s.dispose();
    return v;
  }

  /** Predicted class of each sample of the chunk. */
  predict(rows: Rows): Int32Array {
    const p = tf.tidy(() => tf.argMax(this.net.forward(this.theta, this.inputs(rows)), 1));
    const out = p.dataSync() as Int32Array;
    p.dispose();
    return Int32Array.from(out);
  }

  /**
   * Caches the inputs and curvature state (softmax of z) of the Gauss-Newton chunks at
   * the current θ; they stay valid through one CG solve.
   */
  prepareGaussNewton(chunks: Rows[]): void {
    this.releaseGaussNewton();
    chunks.forEach((rows, i) => this.prepareGaussNewtonChunk(i, rows));
  }

  /** Prepares one chunk, under the id later given to `gaussNewton`. */
  prepareGaussNewtonChunk(id: number, rows: Rows): void {
    const old = this.gnChunks.get(id);
    if (old) disposeGnChunk(old);
    if (this.gv === 'linearized') {
      const lin = this.linearize(rows);
      this.gnChunks.set(id, { x: null, lin, state: curvatureState(this.loss, lin.z) });
      return;
    }
    const x = this.inputs(rows);
    const z = tf.tidy(() => this.net.forward(this.theta, x));
    const state = curvatureState(this.loss, z);
    z.dispose();
    this.gnChunks.set(id, { x, lin: null, state });
  }

  /** Σ_{i∈chunk} JᵢᵀBᵢJᵢ v for each of the given prepared chunks, in the order given. */
  gaussNewton(chunkIds: number[], v: Float32Array | Float64Array): Float32Array[] {
    const vt = this.net.unflatten(v);
    try {
      return chunkIds.map((c) => {
        const ch = this.gnChunks.get(c);
        if (ch === undefined) throw new Error(`Gauss-Newton chunk ${c} was not prepared`);
        const out = ch.lin
          ? ch.lin.gaussNewton(vt, this.loss, ch.state)
          : gaussNewtonProduct(this.net, this.theta, ch.x as tf.Tensor, vt, this.loss, ch.state);
        const flat = readFlat(out);
        tf.dispose(out);
        return flat;
      });
    } finally {
      tf.dispose(vt);
    }
  }

  releaseGaussNewton(): void {
    for (const c of this.gnChunks.values()) disposeGnChunk(c);
    this.gnChunks.clear();
  }

  dispose(): void {
    this.releaseGaussNewton();
    this.params?.forEach((t) => t.dispose());
    this.params = null;
  }

  /** The number of samples of the chunk whose predicted class (argmax of z) is their label. */
  correctCount(rows: Rows): number {
    const c = tf.tidy(() =>
      tf.sum(
        tf.cast(
          tf.equal(
            tf.argMax(this.net.forward(this.theta, this.inputs(rows)), 1),
            tf.tensor1d(this.labels(rows), 'int32'),
          ),
          'int32',
        ),
      ),
    );
    const v = c.dataSync()[0];
    c.dispose();
    return v;
  }
}
