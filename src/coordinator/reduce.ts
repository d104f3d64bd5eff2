/** Adds float32 chunk results into a float64 sum, in the order given (deterministic). */
export function sumInOrder(parts: Float32Array[], dim: number): Float64Array {
  const out = new Float64Array(dim);
  for (const p of parts) for (let i = 0; i < dim; i++) out[i] += p[i];
  return out;
}
