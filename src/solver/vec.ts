/** Float64 vector arithmetic for the solver (plain loops; sums in float64). */
export type Vec = Float64Array;

export function dot(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function norm(a: Vec): number {
  return Math.sqrt(dot(a, a));
}

/** y += a x */
export function axpy(a: number, x: Vec, y: Vec): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
}

/** a x + b y, new vector */
export function lincomb(a: number, x: Vec, b: number, y: Vec): Vec {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = a * x[i] + b * y[i];
  return out;
}
