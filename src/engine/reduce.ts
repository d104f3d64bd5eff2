/** Adds a float32 vector into a float64 sum. */
function addInto(sum: Float64Array, part: Float32Array): void {
  for (let i = 0; i < sum.length; i++) sum[i] += part[i];
}

/** Adds the squares of a float32 vector's entries into a float64 sum (squared in float64). */
function addSquaresInto(sum: Float64Array, part: Float32Array): void {
  for (let i = 0; i < sum.length; i++) {
    const v = part[i];
    sum[i] += v * v;
  }
}

/** Adds float32 chunk results into a float64 sum, in the order given (deterministic); into `into` (zeroed first) when given. */
export function sumInOrder(parts: Float32Array[], dim: number, into?: Float64Array): Float64Array {
  const out = into?.fill(0) ?? new Float64Array(dim);
  for (const p of parts) addInto(out, p);
  return out;
}

/**
 * The in-order sum of chunk results that arrive in any order: chunk k is added as soon
 * as chunks 0..k−1 have been, so most of the reduction overlaps the compute of later
 * chunks, and the sums are bitwise those of `sumInOrder` (and of the losses added in
 * chunk order).
 */
export class OrderedSum {
  readonly vector: Float64Array | null;
  /**
   * With `squares`: Σ_k v_k², elementwise, over the chunks' float32 vectors v_k (each
   * square and the sum in float64, in chunk order); else null.
   */
  readonly squares: Float64Array | null;
  loss = 0;
  private next = 0;
  private readonly waiting = new Map<number, { loss: number; vector?: Float32Array }>();

  /**
   * `dim` 0: losses only. The vector sum goes into `into` (zeroed first) when given.
   * `squares`: also sum the squares of the chunk vectors (for the f+∇f pass's gradSquares).
   */
  constructor(dim: number, into?: Float64Array, options: { squares?: boolean } = {}) {
    if (into && into.length !== dim)
      throw new RangeError(`OrderedSum: output of length ${into.length}, expected ${dim}`);
    this.vector = dim > 0 ? (into?.fill(0) ?? new Float64Array(dim)) : null;
    this.squares = dim > 0 && options.squares ? new Float64Array(dim) : null;
  }

  /** The number of chunks added so far (0..k−1). */
  get added(): number {
    return this.next;
  }

  add(chunk: number, part: { loss?: number; vector?: Float32Array }): void {
    if (chunk < this.next || this.waiting.has(chunk))
      throw new Error(`OrderedSum: chunk ${chunk} added twice`);
    this.waiting.set(chunk, { loss: part.loss ?? 0, vector: part.vector });
    for (let p = this.waiting.get(this.next); p !== undefined; p = this.waiting.get(this.next)) {
      this.waiting.delete(this.next++);
      this.loss += p.loss;
      if (this.vector) {
        if (!p.vector) throw new Error(`OrderedSum: chunk ${this.next - 1} has no vector`);
        addInto(this.vector, p.vector);
        if (this.squares) addSquaresInto(this.squares, p.vector);
      }
    }
  }
}

/** Divides a sum by the number of samples in place (a division, not a product by 1/n: the bits match in-process and pooled runs). */
export function divideBy(sum: Float64Array, n: number): Float64Array {
  for (let i = 0; i < sum.length; i++) sum[i] /= n;
  return sum;
}

/**
 * The mean loss and mean gradient of a full pass over n samples, from the in-order sums
 * (divides the sum in place); with the sum's `squares`, also `gradSquares` = squares / n
 * (the definition is GaussNewtonProblem's LossAndGradient.gradSquares).
 */
export function meanOf(
  sum: OrderedSum,
  n: number,
): { loss: number; grad: Float64Array; gradSquares?: Float64Array } {
  const mean = { loss: sum.loss / n, grad: divideBy(sum.vector!, n) };
  return sum.squares ? { ...mean, gradSquares: divideBy(sum.squares, n) } : mean;
}

/**
 * The fraction of correctly classified samples of a pass over n samples, from the in-order
 * sum of per-chunk counts (carried in the scalar channel, `loss`); NaN for n = 0. The
 * counts are integers, so the sum is exact and the result is the count over n, bit for bit.
 */
export function fractionOf(sum: OrderedSum, n: number): number {
  return n === 0 ? NaN : sum.loss / n;
}
