import type { Dataset } from '../../src/data/dataset.ts';
import { Rng } from '../../src/rng.ts';

/** n random samples of the given shape (float32-exact values) with random labels. */
export function syntheticData(
  n: number,
  inputShape: number[],
  numClasses: number,
  seed = 7,
): Dataset {
  const rng = new Rng(seed);
  const m = inputShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n * m);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const labels = Int32Array.from({ length: n }, () => rng.int(numClasses));
  return { x, labels, n, inputShape, numClasses };
}

/** A float32-exact random vector, as float64. */
export function randomVec(n: number, seed: number, scale = 1): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from(Float32Array.from({ length: n }, () => scale * rng.normal()));
}

export function sampleRows(d: Dataset): Float64Array[] {
  const m = d.inputShape.reduce((a, b) => a * b, 1);
  return Array.from({ length: d.n }, (_, i) => Float64Array.from(d.x.subarray(i * m, (i + 1) * m)));
}
