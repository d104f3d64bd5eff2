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
  /** (1/l) Σ ξᵢ and its gradient at θ */
  lossAndGradient(theta: Float64Array): Promise<{ loss: number; grad: Float64Array }>;
  /** (1/l) Σ ξᵢ at θ */
  loss(theta: Float64Array): Promise<number>;
  /** v ↦ (1/|S|) Σ_{i∈S} Jᵢᵀ Bᵢ Jᵢ v at θ; `subset` holds sample indices, increasing. */
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

export interface LinearOperator {
  /** G v; written into `out` (and returned) when given, else into a new vector */
  apply(v: Float64Array, out?: Float64Array): Promise<Float64Array>;
  /** frees what the operator cached (tensors, worker state) */
  release(): Promise<void>;
}
