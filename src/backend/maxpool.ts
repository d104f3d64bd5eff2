/**
 * Max-pooling arithmetic on plain NHWC Float32Arrays.
 *
 * The argmax of a window is the first maximum in row-major window order, the rule of
 * tfjs's cpu `MaxPoolGrad` (`pixel > maxValue`), so that every backend routes the
 * gradient of a tied window to the same input element. Both functions below use it:
 * - `maxPoolScatter` is MaxPoolGrad: dy (pooled shape) is added to dx at the argmax;
 * - `maxPoolGather` is its adjoint: for each window, the value of w at the argmax.
 * They are exact transposes of each other for a fixed x, which is what the second
 * derivative of max pooling needs. Both write into caller-given outputs (which may be
 * views of a wasm heap) and find the argmax on the fly.
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

/**
 * For every pooled element o (NHWC order), with a = the flat index in x of its window's
 * argmax (-1 for a window entirely in the padding): scatter adds src[o] to dst[a];
 * gather sets dst[o] = src[a]. One loop for both, no callback: this is a hot path.
 */
function argmaxPass(
  scatter: boolean,
  dst: Float32Array,
  src: Float32Array,
  x: Float32Array,
  g: PoolGeometry,
): void {
  if (
    g.filterHeight === 2 &&
    g.filterWidth === 2 &&
    g.strideHeight === 2 &&
    g.strideWidth === 2 &&
    g.padTop === 0 &&
    g.padLeft === 0
  ) {
    argmaxPass2x2(scatter, dst, src, x, g);
    return;
  }
  const C = g.channels;
  const rowStride = g.inWidth * C;
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    const xb = b * g.inHeight * rowStride;
    for (let r = 0; r < g.outHeight; r++) {
      const r0 = r * g.strideHeight - g.padTop;
      const wr0 = Math.max(0, -r0),
        wr1 = Math.min(g.filterHeight, g.inHeight - r0);
      for (let c = 0; c < g.outWidth; c++) {
        const c0 = c * g.strideWidth - g.padLeft;
        const wc0 = Math.max(0, -c0),
          wc1 = Math.min(g.filterWidth, g.inWidth - c0);
        const base = xb + r0 * rowStride + c0 * C;
        for (let d = 0; d < C; d++, o++) {
          let best = 0;
          let arg = -1;
          for (let wr = wr0; wr < wr1; wr++) {
            let idx = base + wr * rowStride + wc0 * C + d;
            for (let wc = wc0; wc < wc1; wc++, idx += C) {
              const v = x[idx];
              if (arg < 0 || v > best) {
                best = v;
                arg = idx;
              }
            }
          }
          if (scatter) {
            if (arg >= 0) dst[arg] += src[o];
          } else {
            dst[o] = arg >= 0 ? src[arg] : 0;
          }
        }
      }
    }
  }
}

/** MaxPoolGrad: dx (zeroed by the caller, x's shape) += dy at each window's argmax. */
export function maxPoolScatter(
  dx: Float32Array,
  dy: Float32Array,
  x: Float32Array,
  g: PoolGeometry,
): void {
  argmaxPass(true, dx, dy, x, g);
}

/** The adjoint of MaxPoolGrad with respect to dy: out[window] = w[argmax] (pooled shape). */
export function maxPoolGather(
  out: Float32Array,
  w: Float32Array,
  x: Float32Array,
  g: PoolGeometry,
): void {
  argmaxPass(false, out, w, x, g);
}

/** The same for 2x2 windows, stride 2, no padding (every pooling tfjs-newton builds). */
function argmaxPass2x2(
  scatter: boolean,
  dst: Float32Array,
  src: Float32Array,
  x: Float32Array,
  g: PoolGeometry,
): void {
  const C = g.channels;
  const rowStride = g.inWidth * C;
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    const xb = b * g.inHeight * rowStride;
    for (let r = 0; r < g.outHeight; r++) {
      for (let c = 0; c < g.outWidth; c++) {
        const p00 = xb + 2 * r * rowStride + 2 * c * C;
        const p10 = p00 + rowStride;
        for (let d = 0; d < C; d++, o++) {
          // first maximum in the order (0,0), (0,1), (1,0), (1,1)
          let a = p00 + d;
          let best = x[a];
          const i01 = a + C,
            i10 = p10 + d,
            i11 = i10 + C;
          const v01 = x[i01],
            v10 = x[i10],
            v11 = x[i11];
          if (v01 > best) {
            best = v01;
            a = i01;
          }
          if (v10 > best) {
            best = v10;
            a = i10;
          }
          if (v11 > best) a = i11;
          if (scatter) dst[a] += src[o];
          else dst[o] = src[a];
        }
      }
    }
  }
}
