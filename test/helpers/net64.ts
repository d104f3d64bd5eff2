/**
 * An independent float64 reference of the models, in plain loops (no tfjs): forward
 * pass per sample, Jacobians by central differences, and B in closed form.
 */
import { layoutOf, type Activation, type ModelSpec } from '../../src/model/spec.ts';
import type { LossKind } from '../../src/model/loss.ts';

function act(v: number, a: Activation): number {
  switch (a) {
    case 'relu':
      return v > 0 ? v : 0;
    case 'tanh':
      return Math.tanh(v);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-v));
    case 'linear':
      return v;
  }
}

/** z(x; θ) for one sample x (NHWC or flat), in float64. */
export function forward64(spec: ModelSpec, theta: Float64Array, x: Float64Array): Float64Array {
  const layout = layoutOf(spec);
  let h = Float64Array.from(x);
  let shape = [...spec.inputShape];
  let k = 0;
  spec.layers.forEach((l) => {
    if (l.type === 'dense') {
      const W = layout.params[k++],
        b = layout.params[k++];
      const [nin, nout] = W.shape;
      const out = new Float64Array(nout);
      for (let j = 0; j < nout; j++) {
        let s = theta[b.offset + j];
        for (let i = 0; i < nin; i++) s += h[i] * theta[W.offset + i * nout + j];
        out[j] = act(s, l.activation);
      }
      h = out;
      shape = [nout];
    } else if (l.type === 'conv2d') {
      const W = layout.params[k++],
        b = layout.params[k++];
      const [H, Wd, C] = shape;
      const K = l.kernelSize,
        F = l.filters,
        S = l.strides ?? 1;
      // TensorFlow's 'same': ⌈n/S⌉ outputs, the padding split with the odd pixel at the bottom/right
      const outSize = (n: number) =>
        l.padding === 'same' ? Math.ceil(n / S) : Math.floor((n - K) / S) + 1;
      const Ho = outSize(H),
        Wo = outSize(Wd);
      const before = (n: number, o: number) =>
        l.padding === 'same' ? Math.floor(Math.max((o - 1) * S + K - n, 0) / 2) : 0;
      const padT = before(H, Ho),
        padL = before(Wd, Wo);
      const out = new Float64Array(Ho * Wo * F);
      for (let r = 0; r < Ho; r++)
        for (let c = 0; c < Wo; c++)
          for (let f = 0; f < F; f++) {
            let s = theta[b.offset + f];
            for (let a = 0; a < K; a++)
              for (let bb = 0; bb < K; bb++) {
                const xr = r * S + a - padT,
                  xc = c * S + bb - padL;
                if (xr < 0 || xr >= H || xc < 0 || xc >= Wd) continue;
                for (let ci = 0; ci < C; ci++)
                  s +=
                    h[(xr * Wd + xc) * C + ci] * theta[W.offset + ((a * K + bb) * C + ci) * F + f];
              }
            out[(r * Wo + c) * F + f] = act(s, l.activation);
          }
      h = out;
      shape = [Ho, Wo, F];
    } else if (l.type === 'maxpool') {
      const [H, Wd, C] = shape;
      const Ho = Math.floor(H / 2),
        Wo = Math.floor(Wd / 2);
      const out = new Float64Array(Ho * Wo * C);
      for (let r = 0; r < Ho; r++)
        for (let c = 0; c < Wo; c++)
          for (let ci = 0; ci < C; ci++) {
            let m = -Infinity;
            for (let a = 0; a < 2; a++)
              for (let bb = 0; bb < 2; bb++)
                m = Math.max(m, h[((2 * r + a) * Wd + 2 * c + bb) * C + ci]);
            out[(r * Wo + c) * C + ci] = m;
          }
      h = out;
      shape = [Ho, Wo, C];
    } else if (l.type === 'avgpool') {
      const [H, Wd, C] = shape;
      const P = l.poolSize,
        S = l.strides ?? P;
      const Ho = Math.floor((H - P) / S) + 1,
        Wo = Math.floor((Wd - P) / S) + 1;
      const out = new Float64Array(Ho * Wo * C);
      for (let r = 0; r < Ho; r++)
        for (let c = 0; c < Wo; c++)
          for (let ci = 0; ci < C; ci++) {
            let s = 0;
            for (let a = 0; a < P; a++)
              for (let bb = 0; bb < P; bb++) s += h[((r * S + a) * Wd + c * S + bb) * C + ci];
            out[(r * Wo + c) * C + ci] = s / (P * P);
          }
      h = out;
      shape = [Ho, Wo, C];
    } else {
      shape = [h.length];
    }
  });
  return h;
}

/** J (outputs × params, row-major) of one sample by central differences in float64. */
export function jacobian64(
  spec: ModelSpec,
  theta: Float64Array,
  x: Float64Array,
  h = 1e-6,
): Float64Array[] {
  const n = theta.length;
  const m = forward64(spec, theta, x).length;
  const J = Array.from({ length: m }, () => new Float64Array(n));
  const t = Float64Array.from(theta);
  for (let p = 0; p < n; p++) {
    t[p] = theta[p] + h;
    const zp = forward64(spec, t, x);
    t[p] = theta[p] - h;
    const zm = forward64(spec, t, x);
    t[p] = theta[p];
    for (let o = 0; o < m; o++) J[o][p] = (zp[o] - zm[o]) / (2 * h);
  }
  return J;
}

/** B, the Hessian of ξ with respect to z, in closed form. */
export function lossHessian64(kind: LossKind, z: Float64Array): Float64Array[] {
  const m = z.length;
  const B = Array.from({ length: m }, () => new Float64Array(m));
  if (kind === 'mse') {
    for (let i = 0; i < m; i++) B[i][i] = 2;
    return B;
  }
  if (kind === 'bce') {
    for (let i = 0; i < m; i++) {
      const p = 1 / (1 + Math.exp(-z[i]));
      B[i][i] = p * (1 - p);
    }
    return B;
  }
  const mx = Math.max(...z);
  const e = Array.from(z, (v) => Math.exp(v - mx));
  const s = e.reduce((a, b) => a + b, 0);
  const p = e.map((v) => v / s);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++) B[i][j] = (i === j ? p[i] : 0) - p[i] * p[j];
  return B;
}

/** ξ(z, y) in float64: y a class label (one-hot targets) or the target values. */
export function loss64(kind: LossKind, z: Float64Array, y: number | ArrayLike<number>): number {
  const t = (i: number) => (typeof y === 'number' ? (i === y ? 1 : 0) : y[i]);
  if (kind === 'mse') return z.reduce((s, v, i) => s + (v - t(i)) ** 2, 0);
  // softplus(v) − yᵢ·v, softplus(v) = max(v, 0) + log(1 + e^−|v|)
  if (kind === 'bce')
    return z.reduce(
      (s, v, i) => s + Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))) - t(i) * v,
      0,
    );
  // −Σᵢ yᵢ log softmax(z)ᵢ
  const mx = Math.max(...z);
  const lse = mx + Math.log(z.reduce((s, v) => s + Math.exp(v - mx), 0));
  return z.reduce((s, v, i) => s + t(i) * (lse - v), 0);
}

/** (1/n) Σᵢ JᵢᵀBᵢJᵢ v, explicitly. */
export function gaussNewton64(
  spec: ModelSpec,
  kind: LossKind,
  theta: Float64Array,
  xs: Float64Array[],
  v: Float64Array,
): Float64Array {
  const out = new Float64Array(theta.length);
  for (const x of xs) {
    const J = jacobian64(spec, theta, x);
    const B = lossHessian64(kind, forward64(spec, theta, x));
    const Jv = J.map((row) => row.reduce((s, a, i) => s + a * v[i], 0));
    const BJv = B.map((row) => row.reduce((s, a, i) => s + a * Jv[i], 0));
    for (let o = 0; o < J.length; o++)
      for (let p = 0; p < theta.length; p++) out[p] += (J[o][p] * BJv[o]) / xs.length;
  }
  return out;
}

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}
