/**
 * Evaluates loss, gradient and Gauss-Newton products of one network on the samples of
 * one chunk at a time, in the current thread's tfjs backend. The caller gathers a chunk's
 * samples from wherever its data lives (`chunkSamples` of data/dataset.ts: views for a
 * range of rows, copies for a list of indices); every result is a sum over them
 * (float32), so that a caller can reduce chunks in a fixed order, whichever thread
 * computed them. Used in-process by the local problem and inside pool workers.
 */
import * as tf from '@tensorflow/tfjs';
import type { Samples } from '../data/dataset.js';
import {
  curvatureState,
  lossGradient,
  lossSum,
  lossUnit,
  type LossKind,
} from '../model/losses/index.js';
import type { Network } from '../model/network.js';
import { gaussNewtonProduct, lossAndGradient } from './gauss-newton.js';
import { Linearization } from './linearized.js';

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

/** Samples whose labels and targets are not needed (predictions, Gauss-Newton products). */
type Inputs = Omit<Samples, 'labels' | 'targets'>;

/** Concatenated flat values of tensors (read outside tf.tidy: see NOTES on typed arrays). */
function readFlat(ts: tf.Tensor[]): Float32Array {
  const flat = tf.tidy(() => tf.concat(ts.map((t) => tf.reshape(t, [-1]))));
  const out = flat.dataSync() as Float32Array;
  flat.dispose();
  return out;
}

/** A loss and gradient as tensors, read into JS and freed. */
function read(out: { loss: tf.Scalar; grads: tf.Tensor[] }): { loss: number; grad: Float32Array } {
  const loss = out.loss.dataSync()[0];
  const grad = readFlat(out.grads);
  tf.dispose([out.loss, ...out.grads]);
  return { loss, grad };
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

/**
 * One network at θ, on the samples given to each call; labels are classes
 * 0..net.outputSize−1, or targets net.outputSize values per sample (the caller checks its
 * data's outputs against the network).
 */
export class ChunkEvaluator {
  private params: tf.Tensor[] | null = null;
  private gnChunks = new Map<number, GnChunk>();

  constructor(
    readonly net: Network,
    readonly loss: LossKind,
    readonly gv: GvMethod = 'linearized',
  ) {
    if (!(GV_METHODS as readonly string[]).includes(gv))
      throw new Error(`unknown Gv method '${gv}': use ${GV_METHODS.join(' or ')}`);
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

  /** The samples' values as an [n, ...inputShape] tensor. */
  private inputs(s: Inputs): tf.Tensor {
    return tf.tensor(s.x, [s.n, ...s.inputShape], 'float32');
  }

  /** What the loss compares z with: the real-valued targets, else the one-hot labels. */
  private targets(s: Samples): tf.Tensor2D {
    const k = this.net.outputSize;
    if (s.targets) return tf.tensor2d(s.targets, [s.n, k], 'float32');
    return tf.tidy(() => tf.oneHot(tf.tensor1d(s.labels, 'int32'), k).toFloat() as tf.Tensor2D);
  }

  /** The linearization of the network at θ on the chunk's samples (linearized.ts). */
  private linearize(s: Inputs): Linearization {
    const x = this.inputs(s);
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
  lossAndGradient(s: Samples): { loss: number; grad: Float32Array } {
    if (!this.gradientBySweep)
      return read(
        tf.tidy(() =>
          lossAndGradient(this.net, this.theta, this.inputs(s), this.targets(s), this.loss),
        ),
      );
    const lin = this.linearize(s);
    try {
      return read(this.lossAndGradientBySweep(lin, s));
    } finally {
      lin.dispose();
    }
  }

  /**
   * The same, and the chunk's linearization at θ is kept as prepared Gauss-Newton chunk `id`
   * (as `prepareGaussNewtonChunk(id, s)` would have made it, bit for bit: the same forward
   * pass), when the gradient goes by the linearization's sweep and Gv is `linearized`;
   * `kept` says whether it was. The f+∇f pass over a sample whose first chunks are S's thus
   * runs their forward pass once for both.
   */
  lossAndGradientKeeping(
    id: number,
    s: Samples,
  ): { loss: number; grad: Float32Array; kept: boolean } {
    if (!this.gradientBySweep || this.gv !== 'linearized')
      return { ...this.lossAndGradient(s), kept: false };
    const lin = this.linearize(s);
    try {
      const out = read(this.lossAndGradientBySweep(lin, s));
      this.keepGaussNewtonChunk(id, { x: null, lin, state: curvatureState(this.loss, lin.z) });
      return { ...out, kept: true };
    } catch (e) {
      lin.dispose();
      throw e;
    }
  }

  private get gradientBySweep(): boolean {
    return this.net.layers.every((l) => l.unit.gradientBySweep);
  }

  private lossAndGradientBySweep(
    lin: Linearization,
    s: Samples,
  ): { loss: tf.Scalar; grads: tf.Tensor[] } {
    return tf.tidy(() => {
      const y = this.targets(s);
      return {
        loss: lossSum(this.loss, lin.z, y),
        grads: lin.vjp(lossGradient(this.loss, lin.z, y)),
      };
    });
  }

  /** Σ ξᵢ over the chunk. */
  lossSum(s: Samples): number {
    const sum = tf.tidy(() =>
      lossSum(this.loss, this.net.forward(this.theta, this.inputs(s)), this.targets(s)),
    );
    const v = sum.dataSync()[0];
    sum.dispose();
    return v;
  }

  /** Predicted class of each sample of the chunk (labels, if any, are not read). */
  predict(s: Inputs): Int32Array {
    const p = tf.tidy(() => tf.argMax(this.net.forward(this.theta, this.inputs(s)), 1));
    const out = p.dataSync() as Int32Array;
    p.dispose();
    return Int32Array.from(out);
  }

  /**
   * Caches the inputs and curvature state (softmax of z) of the Gauss-Newton chunks at
   * the current θ; they stay valid through one CG solve.
   */
  prepareGaussNewton(chunks: Inputs[]): void {
    this.releaseGaussNewton();
    chunks.forEach((s, i) => this.prepareGaussNewtonChunk(i, s));
  }

  /** Prepares one chunk's samples (labels are not read), under the id later given to `gaussNewton`. */
  prepareGaussNewtonChunk(id: number, s: Inputs): void {
    if (this.gv === 'linearized') {
      const lin = this.linearize(s);
      this.keepGaussNewtonChunk(id, { x: null, lin, state: curvatureState(this.loss, lin.z) });
      return;
    }
    const x = this.inputs(s);
    const z = tf.tidy(() => this.net.forward(this.theta, x));
    const state = curvatureState(this.loss, z);
    z.dispose();
    this.keepGaussNewtonChunk(id, { x, lin: null, state });
  }

  private keepGaussNewtonChunk(id: number, chunk: GnChunk): void {
    const old = this.gnChunks.get(id);
    if (old) disposeGnChunk(old);
    this.gnChunks.set(id, chunk);
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

  /**
   * The model's prediction for z: z through the loss's output activation (identity for
   * mse, sigmoid for bce, softmax for ce), what a tfjs model of this loss outputs.
   */
  private prediction(z: tf.Tensor2D): tf.Tensor2D {
    const activation = lossUnit(this.loss).outputActivation;
    switch (activation) {
      case undefined:
      case 'linear':
        return z;
      case 'sigmoid':
        return tf.sigmoid(z);
      case 'softmax':
        return tf.softmax(z);
      default:
        throw new Error(`loss ${this.loss}: unknown output activation '${activation}'`);
    }
  }

  /**
   * Σ over the chunk's samples and outputs of (prediction − target)², float32: the
   * prediction is z through the loss's output activation, the targets are the samples'
   * real-valued ones (what RMSE and R² of a held-out set are made of).
   */
  squaredError(s: Samples): number {
    if (!s.targets) throw new Error('squaredError: the samples have no real-valued targets');
    const sse = tf.tidy(() => {
      const z = this.net.forward(this.theta, this.inputs(s));
      return tf.sum(tf.square(tf.sub(this.prediction(z), this.targets(s))));
    });
    const v = sse.dataSync()[0];
    sse.dispose();
    return v;
  }

  /** The number of samples of the chunk whose predicted class (argmax of z) is their label. */
  correctCount(s: Samples): number {
    const c = tf.tidy(() =>
      tf.sum(
        tf.cast(
          tf.equal(
            tf.argMax(this.net.forward(this.theta, this.inputs(s)), 1),
            tf.tensor1d(s.labels, 'int32'),
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
