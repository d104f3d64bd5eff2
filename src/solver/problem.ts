/**
 * What the Newton solver needs from a learning problem: the data part of the objective,
 * (1/l) Σᵢ ξ(z(xᵢ; θ), yᵢ), its gradient, and subsampled Gauss-Newton products. The
 * solver adds the regulariser ‖θ‖²/(2C) itself. Implementations may compute in-process
 * or on a pool of workers; the solver cannot tell.
 */
/** Reports chunks done in a long pass: f and ∇f, f alone (line search), or one Gv. */
export type ProgressFn = (pass: 'f+grad' | 'f' | 'Gv', done: number, total: number) => void;

export interface GaussNewtonProblem {
  /** called as the chunks of a pass complete, if set */
  onProgress?: ProgressFn;
  /** number of parameters */
  readonly dim: number;
  /** number of training samples l */
  readonly numSamples: number;
  /**
   * (1/l) Σ ξᵢ and its gradient at θ; with `{ gradSquares: true }`, also `gradSquares`
   * (see LossAndGradient) if the problem can give it (the solver's diagonal
   * preconditioner needs it; the solver asks only then). With `{ subset: X }`, the same
   * over the samples of X alone: (1/|X|) Σ_{i∈X} ξᵢ and its gradient (a problem that
   * cannot take a subset must refuse it, never ignore it).
   */
  lossAndGradient(theta: Float64Array, options?: LossAndGradientOptions): Promise<LossAndGradient>;
  /** (1/l) Σ ξᵢ at θ; with `{ subset: X }`, (1/|X|) Σ_{i∈X} ξᵢ */
  loss(theta: Float64Array, options?: LossOptions): Promise<number>;
  /**
   * v ↦ (1/|S|) Σ_{i∈S} Jᵢᵀ Bᵢ Jᵢ v at θ; `subset` holds distinct sample indices (increasing
   * as the solver draws S; a prefix of the gradient sample X, in its order, with a
   * gradient sample).
   */
  gaussNewton(theta: Float64Array, subset: Int32Array): Promise<LinearOperator>;
  /**
   * Optional: stops the computation, for good. The pass under way (f, ∇f, one Gv, ...)
   * rejects with an `AbortError` (src/errors.ts) within about one chunk's compute, once the
   * chunks already computing have settled; every later pass rejects at once. The problem is
   * then only good for closing. The solver never calls it: whoever runs the solver does,
   * and the solver's state stays that of its last completed iteration.
   */
  abort?(reason?: unknown): void;
}

/** Which samples an f pass runs over. */
export interface LossOptions {
  /**
   * the sample X: distinct sample indices, in any order (chunk k of the pass is its k-th
   * piece of bsize indices: src/engine/plan.ts, subsetChunk); absent: all l samples
   */
  subset?: Int32Array;
}

export interface LossAndGradientOptions extends LossOptions {
  /** also return `gradSquares` (it costs a pass over each chunk's result, no compute) */
  gradSquares?: boolean;
  /**
   * A hint, with `subset`: the next Gauss-Newton operator the solver asks for is at this θ
   * on the first `gaussNewtonPrefix` indices of `subset`. A problem may keep what this pass
   * computes on them (the pass engine: the linearization of the chunks both passes share)
   * so that the operator does not compute it again. Every result is the same with or
   * without it.
   */
  gaussNewtonPrefix?: number;
}

/** The result of the f+∇f pass. */
export interface LossAndGradient {
  /** (1/l) Σᵢ ξᵢ */
  loss: number;
  /** (1/l) Σᵢ ∇ξᵢ */
  grad: Float64Array;
  /**
   * Only when asked for (`{ gradSquares: true }`), and optional even then (a problem that
   * cannot give it leaves it out): with the chunks of the f+∇f pass (src/engine/plan.ts:
   * chunk k holds samples k·bsize .. min((k+1)·bsize, l) − 1) and g_k = Σ_{i∈chunk k} ∇ξᵢ
   * the chunk's gradient of the loss sum (its float32 partial sum, as the chunk returns it),
   *
   *     gradSquares_j = (1/l) Σ_k (g_k)_j²,
   *
   * each square and the sum in float64, added in chunk order (so bitwise the same for any
   * transport and number of workers), divided by l last. With one sample per chunk this is
   * the empirical Fisher diagonal (1/l) Σᵢ (∂ξᵢ/∂θ_j)²; with larger chunks an estimate of
   * it: the cross terms of a chunk's samples vanish in expectation for uncorrelated,
   * zero-mean per-sample gradients, and a mean gradient μ adds about (bsize − 1)·μ_j².
   * Over a subset X, the chunks are X's (subsetChunk) and l is |X|.
   */
  gradSquares?: Float64Array;
  /** with gradSquares: the number of chunk gradients it sums (K above) */
  gradChunks?: number;
}

export interface LinearOperator {
  /** G v; written into `out` (and returned) when given, else into a new vector */
  apply(v: Float64Array, out?: Float64Array): Promise<Float64Array>;
  /**
   * Says the operator will not be applied again (the solver calls it when its CG solve
   * ends); an implementation that caches something for the operator alone may free it here.
   * The pass engine frees nothing: each worker keeps the prepared Gv chunks of the last
   * solve until the next θ or subset replaces them, or the problem is closed.
   */
  release(): Promise<void>;
}
