/**
 * Evaluates loss, gradient and Gauss-Newton products of one network on chunks of one
 * data set, in the current thread's tfjs backend. Every result is a sum over the rows of
 * one chunk (float32), so that a caller can reduce chunks in a fixed order, whichever
 * thread computed them. Used in-process by the local problem and inside pool workers.
 */
import * as tf from '@tensorflow/tfjs';
import { sampleSize, type Dataset } from '../data/dataset.js';
import { curvatureState, lossSum, type LossKind } from '../model/loss.js';
import type { Network } from '../model/network.js';
import { gaussNewtonProduct, lossAndGradient } from './gauss-newton.js';

/** A contiguous range of samples, or an explicit list of sample indices. */
export type Rows = { start: number; end: number } | Int32Array;

export function rowCount(rows: Rows): number {
  return rows instanceof Int32Array ? rows.length : rows.end - rows.start;
}

/** Splits 0..n-1 into consecutive ranges of at most `size` samples. */
export function rangeChunks(n: number, size: number): Rows[] {
  const out: Rows[] = [];
  for (let s = 0; s < n; s += size) out.push({ start: s, end: Math.min(n, s + size) });
  return out;
}

/** Splits a list of sample indices into consecutive pieces of at most `size`. */
export function listChunks(rows: Int32Array, size: number): Rows[] {
  const out: Rows[] = [];
  for (let s = 0; s < rows.length; s += size) out.push(rows.slice(s, Math.min(rows.length, s + size)));
  return out;
}

/** Concatenated flat values of tensors (read outside tf.tidy: see NOTES on typed arrays). */
function readFlat(ts: tf.Tensor[]): Float32Array {
  const flat = tf.tidy(() => tf.concat(ts.map((t) => tf.reshape(t, [-1]))));
  const out = flat.dataSync() as Float32Array;
  flat.dispose();
  return out;
}

/** A prepared Gauss-Newton chunk: its inputs and the curvature state of its outputs. */
interface GnChunk {
  x: tf.Tensor;
  state: tf.Tensor2D | null;
}

function disposeGnChunk(c: GnChunk): void {
  tf.dispose(c.state ? [c.x, c.state] : [c.x]);
}

export class ChunkEvaluator {
  private params: tf.Tensor[] | null = null;
  private gnChunks = new Map<number, GnChunk>();

  constructor(
    readonly net: Network,
    readonly data: Dataset,
    readonly loss: LossKind,
  ) {
    if (data.numClasses !== net.outputSize) {
      throw new Error(`the model has ${net.outputSize} outputs, the data ${data.numClasses} classes`);
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
    if (!(rows instanceof Int32Array)) return tf.tensor(this.data.x.subarray(rows.start * m, rows.end * m), shape, 'float32');
    const buf = new Float32Array(rows.length * m);
    for (let i = 0; i < rows.length; i++) buf.set(this.data.x.subarray(rows[i] * m, (rows[i] + 1) * m), i * m);
    return tf.tensor(buf, shape, 'float32');
  }

  private oneHot(rows: Rows): tf.Tensor2D {
    const lab = rows instanceof Int32Array ? Int32Array.from(rows, (i) => this.data.labels[i]) : this.data.labels.subarray(rows.start, rows.end);
    return tf.tidy(() => tf.oneHot(tf.tensor1d(lab, 'int32'), this.data.numClasses).toFloat() as tf.Tensor2D);
  }

  /** Σ ξᵢ and Σ ∇ξᵢ over the chunk. */
  lossAndGradient(rows: Rows): { loss: number; grad: Float32Array } {
    const out = tf.tidy(() => lossAndGradient(this.net, this.theta, this.inputs(rows), this.oneHot(rows), this.loss));
    const loss = out.loss.dataSync()[0];
    const grad = readFlat(out.grads);
    tf.dispose([out.loss, ...out.grads]);
    return { loss, grad };
  }

  /** Σ ξᵢ over the chunk. */
  lossSum(rows: Rows): number {
    const s = tf.tidy(() => lossSum(this.loss, this.net.forward(this.theta, this.inputs(rows)), this.oneHot(rows)));
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
    const x = this.inputs(rows);
    const z = tf.tidy(() => this.net.forward(this.theta, x));
    const state = curvatureState(this.loss, z);
    z.dispose();
    this.gnChunks.set(id, { x, state });
  }

  /** Σ_{i∈chunk} JᵢᵀBᵢJᵢ v for each of the given prepared chunks, in the order given. */
  gaussNewton(chunkIds: number[], v: Float32Array | Float64Array): Float32Array[] {
    const vt = this.net.unflatten(v);
    try {
      return chunkIds.map((c) => {
        const ch = this.gnChunks.get(c);
        if (ch === undefined) throw new Error(`Gauss-Newton chunk ${c} was not prepared`);
        const out = gaussNewtonProduct(this.net, this.theta, ch.x, vt, this.loss, ch.state);
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
}
