/**
 * Every kernel and gradient that tfjs-newton registers or replaces, against the cpu
 * backend (or, for gradients, against the adjoint identity ⟨∇ₓ⟨w, K(x)⟩, e⟩ = ⟨w, K(e)⟩
 * of a linear kernel K) on random inputs, for every configuration it claims, on wasm and
 * (where tfjs-node loads; see test/helpers/native.ts) tensorflow.
 * Tolerance: max |backend − cpu| ≤ 1e-4 · max |cpu| (float32, different summation orders).
 */
import * as tf from '@tensorflow/tfjs';
import test, { type ExecutionContext } from 'ava';
import { MAX_POOL_GATHER } from '../src/backend/kernels.ts';
import { initBackend } from '../src/backend/select.ts';
import { Rng } from '../src/rng.ts';
import { COMPUTE_BACKENDS } from './helpers/native.ts';

await initBackend('cpu');
for (const b of COMPUTE_BACKENDS) await initBackend(b);

function rand(
  shape: number[],
  seed: number,
  opts: { relu?: boolean; quantise?: boolean } = {},
): Float32Array {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => {
    let v = rng.normal();
    if (opts.quantise) v = Math.round(v * 2) / 2; // many exact ties
    return opts.relu ? Math.max(0, v) : v;
  });
}

/** Runs f on a backend; returns its output values. */
async function on(backend: string, f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const v = (await out.data()) as Float32Array;
  out.dispose();
  return v;
}

function close(t: ExecutionContext, got: Float32Array, want: Float32Array, what: string): void {
  t.is(got.length, want.length, `${what}: length`);
  let scale = 0,
    err = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i]) || Number.isNaN(got[i])) {
      if (!(Number.isNaN(want[i]) && Number.isNaN(got[i]))) err = Infinity; // NaN where the other is not
      continue;
    }
    scale = Math.max(scale, Math.abs(want[i]));
    err = Math.max(err, Math.abs(got[i] - want[i]));
  }
  t.true(err <= 1e-4 * Math.max(scale, 1e-6), `${what}: max error ${err} at scale ${scale}`);
}

/** f on every compute backend against cpu; no tensor left behind on any. */
async function sameOnAllBackends(
  t: ExecutionContext,
  what: string,
  f: () => tf.Tensor,
): Promise<void> {
  const before = tf.memory().numTensors;
  const want = await on('cpu', f);
  t.is(tf.memory().numTensors, before, `${what} on cpu: tensors leaked`);
  for (const b of COMPUTE_BACKENDS) {
    close(t, await on(b, f), want, `${what} on ${b}`);
    t.is(tf.memory().numTensors, before, `${what} on ${b}: tensors leaked`);
  }
}

/** The value of a scalar computed in a tidy (on the current backend). */
async function scalarOf(f: () => tf.Tensor): Promise<number> {
  const v = tf.tidy(f);
  const out = (await v.data())[0];
  v.dispose();
  return out;
}

const t4 = (v: Float32Array, s: number[]) => tf.tensor4d(v, s as [number, number, number, number]);

for (const [ta, tb] of [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
]) {
  for (const batch of [0, 3]) {
    test.serial(
      `BatchMatMul transposeA=${ta} transposeB=${tb}${batch ? ', batched' : ''}`,
      async (t) => {
        const [m, k, n] = [7, 13, 5];
        const sa = ta ? [k, m] : [m, k];
        const sb = tb ? [n, k] : [k, n];
        const A = batch ? [batch, ...sa] : sa;
        const B = batch ? [batch, ...sb] : sb;
        const a = rand(A, 1),
          b = rand(B, 2);
        await sameOnAllBackends(t, 'matMul', () =>
          tf.matMul(tf.tensor(a, A), tf.tensor(b, B), ta, tb),
        );
      },
    );
  }
}

for (const [shape, axis, keepDims] of [
  [[6, 5, 4, 3], [0, 1, 2], false],
  [[6, 5, 4, 3], [2, 0, 1], true],
  [[40, 7], 0, false],
  [[40, 7], -2, true],
  [[6, 5, 4, 3], [1, 2], false], // not leading: the original kernel
  [[6, 5, 4, 3], 3, false],
] as [number[], number | number[], boolean][]) {
  test.serial(
    `Sum over axes ${JSON.stringify(axis)} of [${shape}]${keepDims ? ', keepDims' : ''}`,
    async (t) => {
      const x = rand(shape, 40);
      await sameOnAllBackends(t, 'sum', () => tf.sum(tf.tensor(x, shape), axis, keepDims));
      const before = tf.memory().numTensors;
      const shapeOn = async (b: string) => {
        await tf.setBackend(b);
        const s = tf.tidy(() => tf.sum(tf.tensor(x, shape), axis, keepDims));
        s.dispose();
        return s.shape;
      };
      t.deepEqual(await shapeOn('wasm'), await shapeOn('cpu'));
      t.is(tf.memory().numTensors, before, 'tensors leaked');
    },
  );
}

const CONVS = [
  { k: 1, pad: 'same', s: 1 },
  { k: 3, pad: 'same', s: 1 },
  { k: 5, pad: 'same', s: 1 },
  { k: 1, pad: 'valid', s: 1 },
  { k: 3, pad: 'valid', s: 1 },
  { k: 5, pad: 'valid', s: 1 },
  // strided: odd and even sizes, so 'same' pads unevenly and 'valid' leaves rows unread
  { k: 3, pad: 'same', s: 2 },
  { k: 5, pad: 'same', s: 2 },
  { k: 1, pad: 'same', s: 3 },
  { k: 3, pad: 'valid', s: 2 },
  { k: 1, pad: 'valid', s: 2 },
  { k: 3, pad: 'valid', s: 3 },
] as const;

for (const { k, pad, s } of CONVS) {
  const xs = [3, 9, 8, 4];
  const out = (n: number) => (pad === 'same' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1);
  const dys = [3, out(9), out(8), 5];
  const ws = [k, k, 4, 5];
  const attrs = {
    strides: s,
    pad,
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    filterShape: ws,
  } as unknown as tf.NamedAttrMap;

  test.serial(`Conv2DBackpropInput ${k}x${k} ${pad} stride ${s}`, async (t) => {
    const dy = rand(dys, 3),
      w = rand(ws, 4);
    await sameOnAllBackends(t, 'conv2dTranspose', () =>
      tf.conv2dTranspose(t4(dy, dys), t4(w, ws), xs as [number, number, number, number], s, pad),
    );
  });

  test.serial(`Conv2DBackpropFilter ${k}x${k} ${pad} stride ${s}`, async (t) => {
    const x = rand(xs, 5),
      dy = rand(dys, 6);
    await sameOnAllBackends(
      t,
      'filter gradient',
      () =>
        tf
          .engine()
          .runKernel('Conv2DBackpropFilter', { x: t4(x, xs), dy: t4(dy, dys) }, attrs) as tf.Tensor,
    );
  });

  for (const backend of ['cpu', ...COMPUTE_BACKENDS]) {
    test.serial(
      `gradient of Conv2DBackpropFilter (adjoint identity) ${k}x${k} ${pad}${s > 1 ? ` stride ${s}` : ''}, ${backend}`,
      async (t) => {
        const before = tf.memory().numTensors;
        const x = rand(xs, 7),
          dy = rand(dys, 8),
          w = rand(ws, 9),
          ex = rand(xs, 10),
          edy = rand(dys, 11);
        const bpf = (a: tf.Tensor, b: tf.Tensor) =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: a, dy: b }, attrs) as tf.Tensor;
        const W = () => t4(w, ws);
        const gx = await on(backend, () =>
          tf.grad((a: tf.Tensor) => tf.sum(tf.mul(bpf(a, t4(dy, dys)), W())))(t4(x, xs)),
        );
        const gdy = await on(backend, () =>
          tf.grad((b: tf.Tensor) => tf.sum(tf.mul(bpf(t4(x, xs), b), W())))(t4(dy, dys)),
        );
        const lhsX = gx.reduce((s, g, i) => s + g * ex[i], 0);
        const rhsX = (
          await on(backend, () => tf.sum(tf.mul(bpf(t4(ex, xs), t4(dy, dys)), W())))
        )[0];
        const lhsDy = gdy.reduce((s, g, i) => s + g * edy[i], 0);
        const rhsDy = (
          await on(backend, () => tf.sum(tf.mul(bpf(t4(x, xs), t4(edy, dys)), W())))
        )[0];
        t.true(
          Math.abs(lhsX - rhsX) <= 1e-4 * Math.max(1, Math.abs(rhsX)),
          `x: ${lhsX} vs ${rhsX}`,
        );
        t.true(
          Math.abs(lhsDy - rhsDy) <= 1e-4 * Math.max(1, Math.abs(rhsDy)),
          `dy: ${lhsDy} vs ${rhsDy}`,
        );
        t.is(tf.memory().numTensors, before, 'tensors leaked');
      },
    );
  }
}

test.serial('Conv2DBackpropInput stride 2 keeps the original wasm kernel', async (t) => {
  const xs = [2, 8, 8, 3],
    ws = [3, 3, 3, 4],
    dys = [2, 4, 4, 4];
  const dy = rand(dys, 12),
    w = rand(ws, 13);
  await sameOnAllBackends(t, 'stride 2', () =>
    tf.conv2dTranspose(t4(dy, dys), t4(w, ws), xs as [number, number, number, number], 2, 'same'),
  );
});

test.serial('Conv2DBackpropFilter in NCHW on wasm is refused by name', async (t) => {
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const x = t4(rand([1, 2, 8, 8], 1), [1, 2, 8, 8]),
    dy = t4(rand([1, 3, 8, 8], 2), [1, 3, 8, 8]);
  t.throws(
    () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NCHW',
        filterShape: [3, 3, 2, 3],
      } as unknown as tf.NamedAttrMap),
    {
      message: /Conv2DBackpropFilter on wasm supports NHWC only/,
    },
  );
  tf.dispose([x, dy]);
  t.is(tf.memory().numTensors, before, 'tensors leaked');
});

const POOLS = [
  { name: '2x2 stride 2 valid, even', xs: [2, 8, 6, 3], f: 2, s: 2, pad: 'valid' },
  { name: '2x2 stride 2 valid, odd (floor)', xs: [2, 7, 9, 3], f: 2, s: 2, pad: 'valid' },
  { name: '3x3 stride 2 same', xs: [2, 7, 8, 2], f: 3, s: 2, pad: 'same' },
] as const;

for (const p of POOLS) {
  for (const ties of [false, true]) {
    const label = `${p.name}${ties ? ', with ties' : ''}`;
    test.serial(`MaxPoolGrad ${label}`, async (t) => {
      const x = rand([...p.xs], 20, { relu: ties, quantise: ties });
      await sameOnAllBackends(t, 'maxPool gradient', () =>
        tf.grad((a: tf.Tensor) =>
          tf.sum(
            tf.mul(
              tf.maxPool(a as tf.Tensor4D, p.f, p.s, p.pad),
              tf.randomNormal(
                tf.maxPool(a as tf.Tensor4D, p.f, p.s, p.pad).shape,
                0,
                1,
                'float32',
                21,
              ),
            ),
          ),
        )(t4(x, [...p.xs])),
      );
    });

    for (const backend of ['cpu', ...COMPUTE_BACKENDS]) {
      test.serial(
        `${MAX_POOL_GATHER} is the adjoint of MaxPoolGrad, and the gradient of MaxPoolGrad: ${label}, ${backend}`,
        async (t) => {
          await tf.setBackend(backend);
          const before = tf.memory().numTensors;
          const xs = [...p.xs] as number[];
          const x = t4(rand(xs, 30, { relu: ties, quantise: ties }), xs);
          const y = tf.maxPool(x as tf.Tensor4D, p.f, p.s, p.pad);
          const attrs = {
            filterSize: p.f,
            strides: p.s,
            pad: p.pad,
            dimRoundingMode: undefined,
          } as unknown as tf.NamedAttrMap;
          const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 31);
          const w = tf.randomNormal(x.shape, 0, 1, 'float32', 32);
          const grad = (d: tf.Tensor) =>
            tf
              .engine()
              .runKernel('MaxPoolGrad', { dy: d, input: x, output: y }, attrs) as tf.Tensor;
          const gathered = tf.engine().runKernel(MAX_POOL_GATHER, { w, x }, attrs) as tf.Tensor;
          const lhs = await scalarOf(() => tf.sum(tf.mul(grad(dy), w)));
          const rhs = await scalarOf(() => tf.sum(tf.mul(dy, gathered)));
          t.true(
            Math.abs(lhs - rhs) <= 1e-4 * Math.max(1, Math.abs(rhs)),
            `⟨MaxPoolGrad(dy), w⟩ ${lhs} vs ⟨dy, gather(w)⟩ ${rhs}`,
          );
          const viaTape = tf.grad((d: tf.Tensor) => tf.sum(tf.mul(grad(d), w)))(dy);
          close(
            t,
            (await viaTape.data()) as Float32Array,
            (await gathered.data()) as Float32Array,
            'gradient of MaxPoolGrad',
          );
          tf.dispose([x, y, dy, w, gathered, viaTape]);
          t.is(tf.memory().numTensors, before, 'tensors leaked');
        },
      );
    }
  }
}

for (const alpha of [0, 0.3]) {
  test.serial(`Step (the relu gradient's mask), alpha ${alpha}, with zeros and NaN`, async (t) => {
    const x = rand([5, 7], 50, { quantise: true }); // exact zeros among them
    x[3] = NaN;
    await sameOnAllBackends(t, 'step', () => tf.step(tf.tensor(x, [5, 7]), alpha));
    const before = tf.memory().numTensors;
    const wNaN = await on('cpu', () => tf.step(tf.tensor(x, [5, 7]), alpha));
    t.is(tf.memory().numTensors, before, 'tensors leaked');
    t.true(Number.isNaN(wNaN[3]), 'the cpu reference keeps NaN'); // so the comparison above checked NaN too
  });
}

test.serial('relu gradient', async (t) => {
  const x = rand([6, 9], 51, { quantise: true });
  const dy = rand([6, 9], 52);
  await sameOnAllBackends(t, 'relu gradient', () =>
    tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), tf.tensor(dy, [6, 9]))))(
      tf.tensor(x, [6, 9]),
    ),
  );
});
