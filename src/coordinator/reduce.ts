/** Adds float32 chunk results into a float64 sum, in the order given (deterministic). */
export function sumInOrder(parts: Float32Array[], dim: number): Float64Array {
  const out = new Float64Array(dim);
  for (const p of parts) for (let i = 0; i < dim; i++) out[i] += p[i];
  return out;
}

/** The mean loss and mean gradient of a full pass, from per-chunk sums in chunk order. */
export function meanOfChunks(parts: { loss: number; grad: Float32Array }[], n: number, dim: number): { loss: number; grad: Float64Array } {
  let loss = 0;
  for (const p of parts) loss += p.loss;
  const grad = sumInOrder(parts.map((p) => p.grad), dim);
  for (let i = 0; i < dim; i++) grad[i] /= n;
  return { loss: loss / n, grad };
}
