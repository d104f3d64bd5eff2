/**
 * Max-pooling arithmetic on plain NHWC Float32Arrays.
 *
 * The argmax of a window is the first maximum in row-major window order, the rule of
 * tfjs's cpu `MaxPoolGrad` (`pixel > maxValue`), so that every backend routes the
 * gradient of a tied window to the same input element. Both functions below use it:
 * - `maxPoolScatter` is MaxPoolGrad: dy (pooled shape) is scattered to the argmax;
 * - `maxPoolGather` is its adjoint: for each window, the value of w at the argmax.
 * They are exact transposes of each other for a fixed x, which is what the second
 * derivative of max pooling needs.
 */

export interface PoolGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** For each pooled element (NHWC order), the flat index into x of its window's argmax, or -1. */
export function maxPoolArgmax(x: Float32Array, g: PoolGeometry): Int32Array {
  const out = new Int32Array(g.batch * g.outHeight * g.outWidth * g.channels);
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    const xb = b * g.inHeight * g.inWidth * g.channels;
    for (let r = 0; r < g.outHeight; r++) {
      const r0 = r * g.strideHeight - g.padTop;
      for (let c = 0; c < g.outWidth; c++) {
        const c0 = c * g.strideWidth - g.padLeft;
        for (let d = 0; d < g.channels; d++, o++) {
          let best = Number.NEGATIVE_INFINITY;
          let arg = -1;
          for (let wr = 0; wr < g.filterHeight; wr++) {
            const xr = r0 + wr;
            if (xr < 0 || xr >= g.inHeight) continue;
            for (let wc = 0; wc < g.filterWidth; wc++) {
              const xc = c0 + wc;
              if (xc < 0 || xc >= g.inWidth) continue;
              const idx = xb + (xr * g.inWidth + xc) * g.channels + d;
              const v = x[idx];
              if (arg < 0 || v > best) {
                best = v;
                arg = idx;
              }
            }
          }
          out[o] = arg;
        }
      }
    }
  }
  return out;
}

/** MaxPoolGrad: dx[argmax] += dy for every window. */
export function maxPoolScatter(dy: Float32Array, argmax: Int32Array, xSize: number): Float32Array {
  const dx = new Float32Array(xSize);
  for (let o = 0; o < argmax.length; o++) {
    const a = argmax[o];
    if (a >= 0) dx[a] += dy[o];
  }
  return dx;
}

/** The adjoint of MaxPoolGrad with respect to dy: out[window] = w[argmax]. */
export function maxPoolGather(w: Float32Array, argmax: Int32Array): Float32Array {
  const out = new Float32Array(argmax.length);
  for (let o = 0; o < argmax.length; o++) {
    const a = argmax[o];
    out[o] = a >= 0 ? w[a] : 0;
  }
  return out;
}
