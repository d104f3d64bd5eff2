/**
 * What tfjs 4.22 lacks for Gauss-Newton products, registered once per process.
 *
 * Gradients (all backends), needed because the double-VJP route differentiates the
 * backward pass itself:
 * - `Conv2DBackpropFilter`: linear in x and in dy; its adjoints are a conv2d
 *   transpose and a conv2d.
 * - `MaxPoolGrad`: linear in dy; its adjoint gathers the upstream value at each
 *   window's argmax (custom kernel `NewtonMaxPoolGather`). x and y only choose the
 *   argmax, so their gradients are zero.
 *
 * wasm kernels:
 * - `Conv2DBackpropFilter` is missing: one Conv2D over transposed operands (channels
 *   act as the batch, the batch as the channels), dilated by the strides.
 * - `BatchMatMul` with a transposed operand runs 5-14x slower than plain; the
 *   replacement transposes explicitly, then multiplies.
 * - `Conv2DBackpropInput` runs at ~2 GFLOP/s; for stride 1 it is a Conv2D of dy with
 *   the spatially flipped, in/out-swapped filter.
 * - `MaxPoolGrad` is slow; replaced by the argmax scatter of `maxpool.ts`.
 * - `Sum` over leading axes (every bias gradient) transposes first; replaced by one
 *   float64-accumulating pass.
 *
 * tensorflow (tfjs-node) kernels:
 * - the gather above is TensorFlow's MaxPoolGradGrad, the exact adjoint of TensorFlow's
 *   MaxPoolGrad (kept: the JS scatter through the backend's arrays was no faster); both
 *   route a tied window to its first maximum, as cpu does (tested);
 * - `Step` (the relu gradient's mask) built two full-size JS arrays per call; replaced
 *   by native comparison ops.
 * Every one is tested against the cpu backend in test/kernels.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { maxPoolGather, maxPoolScatter, type PoolGeometry } from './maxpool.js';

type Info = tf.TensorInfo;
type Attrs = Record<string, unknown>;
type KernelFn = (args: {
  inputs: Record<string, Info>;
  backend: tf.KernelBackend;
  attrs?: Attrs;
}) => Info;
type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

export const MAX_POOL_GATHER = 'NewtonMaxPoolGather';

/** Runs another kernel of the same backend from inside a kernel (no tape, no engine scope). */
function kernelOf(name: string, backendName: string): KernelFn {
  const k = tf.getKernel(name, backendName);
  if (k == null) throw new Error(`tfjs-newton: backend '${backendName}' has no kernel ${name}`);
  return k.kernelFunc as unknown as KernelFn;
}

interface HeapBackend {
  makeOutput(s: number[], d: string): Info;
  typedArrayFromHeap(i: Info): Float32Array;
}

function isHeapBackend(b: unknown): b is HeapBackend {
  const h = b as Partial<HeapBackend>;
  return typeof h.makeOutput === 'function' && typeof h.typedArrayFromHeap === 'function';
}

/** The values of a float tensor: a view of the wasm heap (no copy) or the backend's values. */
function readFloats(backend: tf.KernelBackend, info: Info): Float32Array {
  return isHeapBackend(backend)
    ? backend.typedArrayFromHeap(info)
    : (backend.readSync(info.dataId) as Float32Array);
}

/**
 * Makes a zeroed float output of `shape` and lets `fill` write it in place (the wasm heap)
 * or into a JS array handed to the backend (cpu, tensorflow: `KernelBackend.write`).
 */
function makeFloats(
  backend: tf.KernelBackend,
  shape: number[],
  fill: (out: Float32Array) => void,
): Info {
  if (isHeapBackend(backend)) {
    const out = backend.makeOutput(shape, 'float32');
    const view = backend.typedArrayFromHeap(out);
    view.fill(0);
    fill(view);
    return out;
  }
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  fill(values);
  return { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
}

function poolGeometry(xShape: number[], attrs: Attrs): PoolGeometry {
  const info = tf.backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    channels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

const maxPoolGatherKernel: KernelFn = ({ inputs, backend, attrs }) => {
  const { w, x } = inputs;
  const g = poolGeometry(x.shape, attrs ?? {});
  return makeFloats(backend, [g.batch, g.outHeight, g.outWidth, g.channels], (out) =>
    maxPoolGather(out, readFloats(backend, w), readFloats(backend, x), g),
  );
};

/**
 * Frees an intermediate output of a kernel run from inside a kernel. tfjs-node's kernels
 * return engine tensors (counted by tf.memory()), which only their own dispose() uncounts;
 * other backends return plain tensor infos.
 */
function release(backend: tf.KernelBackend, info: Info): void {
  if (info instanceof tf.Tensor) info.dispose();
  else backend.disposeData(info.dataId);
}

/** What tfjs-node's backend offers for running a TensorFlow op by name (not in tfjs's types). */
interface NativeBackend {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_INT: number; TF_ATTR_STRING: number; TF_FLOAT: number };
  executeSingleOutput(
    op: string,
    attrs: { name: string; type: number; value: unknown }[],
    inputs: Info[],
  ): Info;
}

/**
 * On tensorflow, the gather is TensorFlow's own MaxPoolGradGrad, the exact adjoint of its
 * MaxPoolGrad, run natively instead of through JS arrays. Explicit paddings (which
 * TensorFlow's pooling ops lack) keep the JS gather.
 */
const nativeMaxPoolGatherKernel: KernelFn = (args) => {
  const { inputs, backend, attrs = {} } = args;
  const { w, x } = inputs;
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const pad = info.padInfo.type;
  if (pad !== 'VALID' && pad !== 'SAME') return maxPoolGatherKernel(args);
  const nb = backend as unknown as NativeBackend;
  const { TF_ATTR_TYPE, TF_ATTR_INT, TF_ATTR_STRING, TF_FLOAT } = nb.binding;
  const y = inputs.y ?? kernelOf('MaxPool', 'tensorflow')({ inputs: { x }, backend, attrs });
  const out = nb.executeSingleOutput(
    'MaxPoolGradGrad',
    [
      { name: 'T', type: TF_ATTR_TYPE, value: TF_FLOAT },
      { name: 'ksize', type: TF_ATTR_INT, value: [1, info.filterHeight, info.filterWidth, 1] },
      { name: 'strides', type: TF_ATTR_INT, value: [1, info.strideHeight, info.strideWidth, 1] },
      { name: 'padding', type: TF_ATTR_STRING, value: pad },
      { name: 'data_format', type: TF_ATTR_STRING, value: 'NHWC' },
    ],
    [x, y, w],
  );
  if (inputs.y === undefined) release(backend, y);
  return out;
};

const maxPoolGradKernel: KernelFn = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs;
  const g = poolGeometry(input.shape, attrs ?? {});
  return makeFloats(backend, input.shape, (dx) =>
    maxPoolScatter(dx, readFloats(backend, dy), readFloats(backend, input), g),
  );
};

function convPadding(xShape: number[], filterShape: number[], attrs: Attrs) {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  return info;
}

function requireChannelsLast(attrs: Attrs, kernel: string): void {
  const format = attrs.dataFormat ?? 'NHWC';
  if (format !== 'NHWC')
    throw new Error(`tfjs-newton: ${kernel} on wasm supports NHWC only (got ${String(format)})`);
}

function makeConv2DBackpropFilter(backendName: string): KernelFn {
  const transpose = kernelOf('Transpose', backendName);
  const conv2d = kernelOf('Conv2D', backendName);
  const slice = kernelOf('Slice', backendName);
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs;
    const filterShape = (attrs ?? {}).filterShape as number[];
    requireChannelsLast(attrs ?? {}, 'Conv2DBackpropFilter');
    const info = convPadding(x.shape, filterShape, attrs ?? {});
    const p = info.padInfo;
    const [sh, sw] = [info.strideHeight, info.strideWidth];
    // out[ci, a, b, co] = sum_{n,i,j} xpad[n, a+sh·i, b+sw·j, ci] dy[n, i, j, co]: dy is the filter, dilated by the strides
    const xt = transpose({ inputs: { x }, backend, attrs: { perm: [3, 1, 2, 0] } });
    const dyt = transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } });
    const pad: ExplicitPad = [
      [0, 0],
      [p.top, p.bottom],
      [p.left, p.right],
      [0, 0],
    ];
    let r = conv2d({
      inputs: { x: xt, filter: dyt },
      backend,
      attrs: {
        strides: 1,
        pad,
        dataFormat: 'NHWC',
        dilations: sh === 1 && sw === 1 ? 1 : [sh, sw],
        dimRoundingMode: undefined,
      },
    });
    const temps = [xt, dyt];
    // with strides, rows and columns beyond the last window's reach give extra outputs: cut them
    const [kh, kw] = filterShape;
    if (r.shape[1] !== kh || r.shape[2] !== kw) {
      temps.push(r);
      r = slice({
        inputs: { x: r },
        backend,
        attrs: { begin: [0, 0, 0, 0], size: [r.shape[0], kh, kw, r.shape[3]] },
      });
    }
    const out = transpose({ inputs: { x: r }, backend, attrs: { perm: [1, 2, 0, 3] } });
    for (const t of [...temps, r]) backend.disposeData(t.dataId);
    return out;
  };
}

function makeConv2DBackpropInput(backendName: string): KernelFn {
  const original = kernelOf('Conv2DBackpropInput', backendName);
  const transpose = kernelOf('Transpose', backendName);
  const reverse = kernelOf('Reverse', backendName);
  const conv2d = kernelOf('Conv2D', backendName);
  return (args) => {
    const { inputs, backend, attrs = {} } = args;
    const { dy, filter } = inputs;
    const info = convPadding(attrs.inputShape as number[], filter.shape, attrs);
    if (info.strideHeight !== 1 || info.strideWidth !== 1 || info.dataFormat !== 'channelsLast') {
      return original(args);
    }
    const [kh, kw] = filter.shape;
    const p = info.padInfo;
    const flipped = reverse({ inputs: { x: filter }, backend, attrs: { dims: [0, 1] } });
    const swapped = transpose({ inputs: { x: flipped }, backend, attrs: { perm: [0, 1, 3, 2] } });
    const pad: ExplicitPad = [
      [0, 0],
      [kh - 1 - p.top, kh - 1 - p.bottom],
      [kw - 1 - p.left, kw - 1 - p.right],
      [0, 0],
    ];
    const out = conv2d({
      inputs: { x: dy, filter: swapped },
      backend,
      attrs: { strides: 1, pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined },
    });
    backend.disposeData(flipped.dataId);
    backend.disposeData(swapped.dataId);
    return out;
  };
}

function makeBatchMatMul(backendName: string): KernelFn {
  const original = kernelOf('BatchMatMul', backendName);
  const transpose = kernelOf('Transpose', backendName);
  const swapLast = (rank: number) => [...Array(rank - 2).keys(), rank - 1, rank - 2];
  return (args) => {
    const { inputs, backend, attrs = {} } = args;
    if (!attrs.transposeA && !attrs.transposeB) return original(args);
    const temps: Info[] = [];
    const explicit = (t: Info, flag: unknown): Info => {
      if (!flag) return t;
      const r = transpose({ inputs: { x: t }, backend, attrs: { perm: swapLast(t.shape.length) } });
      temps.push(r);
      return r;
    };
    const out = original({
      inputs: { a: explicit(inputs.a, attrs.transposeA), b: explicit(inputs.b, attrs.transposeB) },
      backend,
      attrs: { ...attrs, transposeA: false, transposeB: false },
    });
    for (const t of temps) backend.disposeData(t.dataId);
    return out;
  };
}

/**
 * Sum over leading axes (a bias gradient: N, H, W of an NHWC tensor) as one pass over
 * the wasm heap, accumulating in float64; wasm's own Sum transposes first and was ~5x
 * slower here. Any other reduction keeps the original kernel.
 */
function makeLeadingSum(backendName: string): KernelFn {
  const original = kernelOf('Sum', backendName);
  return (args) => {
    const { inputs, backend, attrs = {} } = args;
    const x = inputs.x;
    const rank = x.shape.length;
    const axes = [attrs.axis as number | number[]]
      .flat()
      .map((a) => (a < 0 ? a + rank : a))
      .sort((a, b) => a - b);
    const k = axes.length;
    if (
      x.dtype !== 'float32' ||
      k === 0 ||
      k >= rank ||
      axes.some((a, i) => a !== i) ||
      !isHeapBackend(backend)
    )
      return original(args);
    const outer = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
    const inner = x.shape.slice(k).reduce((a, b) => a * b, 1);
    const outShape = attrs.keepDims
      ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)]
      : x.shape.slice(k);
    const acc = new Float64Array(inner);
    const xs = backend.typedArrayFromHeap(x);
    for (let r = 0, off = 0; r < outer; r++, off += inner)
      for (let j = 0; j < inner; j++) acc[j] += xs[off + j];
    return makeFloats(backend, outShape, (out) => out.set(acc));
  };
}

/**
 * Step (the relu gradient's mask: 1 where x > 0, else alpha; NaN stays NaN) as
 * relu(sign(x)), scaled and shifted for alpha ≠ 0: two native element-wise ops.
 * tfjs-node's own Step builds two full-size JS arrays (ones and alpha) on every call
 * (4-5 ms for 256k values), and a bool-to-float Cast is as slow.
 */
function makeNativeStep(backendName: string): KernelFn {
  const [sign, relu, mul, add] = ['Sign', 'Relu', 'Multiply', 'Add'].map((k) =>
    kernelOf(k, backendName),
  );
  return ({ inputs, backend, attrs = {} }) => {
    const alpha = (attrs.alpha as number | undefined) ?? 0;
    const s = sign({ inputs: { x: inputs.x }, backend });
    const positive = relu({ inputs: { x: s }, backend });
    release(backend, s);
    if (alpha === 0) return positive;
    const scalar = (v: number): Info => ({
      dataId: backend.write(Float32Array.of(v), [], 'float32'),
      shape: [],
      dtype: 'float32',
    });
    const [a, b] = [scalar(1 - alpha), scalar(alpha)];
    const scaled = mul({ inputs: { a: positive, b: a }, backend });
    const out = add({ inputs: { a: scaled, b }, backend });
    for (const t of [positive, a, b, scaled]) release(backend, t);
    return out;
  };
}

function replaceKernel(name: string, backendName: string, kernelFunc: KernelFn): void {
  if (tf.getKernel(name, backendName) != null) tf.unregisterKernel(name, backendName);
  tf.registerKernel({
    kernelName: name,
    backendName,
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  });
}

let gradientsRegistered = false;

/** Gradients of the backward kernels of conv2d and max pooling (backend-independent). */
export function registerSecondOrderGradients(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  tf.registerGradient({
    kernelName: 'Conv2DBackpropFilter',
    inputsToSave: ['x', 'dy'],
    gradFunc: (ddw, saved, attrs) => {
      const [x, dy] = saved as tf.Tensor4D[];
      const a = attrs as unknown as {
        strides: [number, number];
        pad: 'same' | 'valid';
        dimRoundingMode?: 'floor';
      };
      const w = ddw as tf.Tensor4D;
      return {
        x: () => tf.conv2dTranspose(dy, w, x.shape, a.strides, a.pad, a.dimRoundingMode),
        dy: () => tf.conv2d(x, w, a.strides, a.pad, 'NHWC', 1, a.dimRoundingMode),
      };
    },
  });
  tf.registerGradient({
    kernelName: 'MaxPoolGrad',
    inputsToSave: ['input', 'output'],
    gradFunc: (ddx, saved, attrs) => {
      const [input, output] = saved;
      return {
        dy: () =>
          tf
            .engine()
            .runKernel(
              MAX_POOL_GATHER,
              { w: ddx as tf.Tensor, x: input, y: output },
              attrs as unknown as tf.NamedAttrMap,
            ) as tf.Tensor,
        input: () => tf.zerosLike(input),
        output: () => tf.zerosLike(output),
      };
    },
  });
}

const kernelsDone = new Set<string>();

/**
 * Registers the missing and replacement kernels for one backend. Call after the
 * backend is initialised (`tf.setBackend` resolved): the originals' set-up must have run.
 */
export function registerNewtonKernels(backendName: string): void {
  registerSecondOrderGradients();
  if (kernelsDone.has(backendName)) return;
  kernelsDone.add(backendName);
  if (tf.getKernel(MAX_POOL_GATHER, backendName) == null) {
    const gather = backendName === 'tensorflow' ? nativeMaxPoolGatherKernel : maxPoolGatherKernel;
    tf.registerKernel({
      kernelName: MAX_POOL_GATHER,
      backendName,
      kernelFunc: gather as unknown as tf.KernelFunc,
    });
  }
  if (backendName === 'tensorflow')
    replaceKernel('Step', 'tensorflow', makeNativeStep('tensorflow'));
  if (backendName !== 'wasm') return;
  replaceKernel('Conv2DBackpropFilter', 'wasm', makeConv2DBackpropFilter('wasm'));
  replaceKernel('Conv2DBackpropInput', 'wasm', makeConv2DBackpropInput('wasm'));
  replaceKernel('BatchMatMul', 'wasm', makeBatchMatMul('wasm'));
  replaceKernel('MaxPoolGrad', 'wasm', maxPoolGradKernel);
  replaceKernel('Sum', 'wasm', makeLeadingSum('wasm'));
}
