/** Small dense float64 algebra for the solver tests: the references CG is checked against. */
import { Rng } from '../../src/rng.ts';

/** A random SPD matrix A = MᵀM + shift·I. */
export function spd(n: number, seed: number, shift = 0.1): Float64Array[] {
  const rng = new Rng(seed);
  const M = Array.from({ length: n }, () => Float64Array.from({ length: n }, () => rng.normal()));
  return Array.from({ length: n }, (_, i) =>
    Float64Array.from(
      { length: n },
      (_, j) => M.reduce((s, row) => s + row[i] * row[j], 0) + (i === j ? shift : 0),
    ),
  );
}

export const matvec = (A: Float64Array[], v: Float64Array) =>
  Float64Array.from(A, (row) => row.reduce((s, a, j) => s + a * v[j], 0));

/** Gaussian elimination with partial pivoting, float64. */
export function solve(A: Float64Array[], b: Float64Array): Float64Array {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}
