/**
 * Single-thread cost of the three passes Newton-CG is made of, on one chunk:
 * forward (loss), forward+gradient, and one Gauss-Newton product, by double VJP and/or
 * from a linearization (`--gv`). "prepare" is the once-per-CG-solve set-up of the chunk
 * (inputs and softmax; for `linearized` also the forward pass whose layer state the
 * products sweep over); "Gv" is one product, paid at every CG step.
 *
 *   npm run bench:kernels [-- --backend wasm|cpu|tensorflow --reps 7 --gv double-vjp|linearized|both]
 *
 * Models: MLP 784-256-256-10 at batch 1000 and cnn4 at batch 256, on random 28x28x1
 * inputs (timings do not depend on the values). Prints the median of --reps runs after
 * two warm-up runs, and Gv/gradient as a ratio (the price of curvature).
 */
import { parseArgs } from 'node:util';
import { ChunkEvaluator, GV_METHODS, type GvMethod } from '../src/autodiff/evaluator.ts';
import { initBackend, isBackendChoice } from '../src/backend/select.ts';
import { initParams } from '../src/model/init.ts';
import { Network } from '../src/model/network.ts';
import { presetModel } from '../src/model/presets.ts';
import { Rng } from '../src/rng.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    reps: { type: 'string', default: '7' },
    gv: { type: 'string', default: 'both' },
  },
});
if (!isBackendChoice(values.backend!)) throw new Error(`unknown backend ${values.backend}`);
const methods: GvMethod[] = values.gv === 'both' ? [...GV_METHODS] : [values.gv as GvMethod];
if (!methods.every((m) => (GV_METHODS as readonly string[]).includes(m)))
  throw new Error(`unknown --gv ${values.gv}: use ${GV_METHODS.join(', ')} or both`);
const backend = await initBackend(values.backend);
const reps = Number(values.reps);

function median(f: () => void): number {
  f();
  f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

const rows: string[][] = [];
for (const [model, batch] of [
  ['mlp:256,256', 1000],
  ['cnn4', 256],
] as const) {
  const net = new Network(presetModel(model, [28, 28, 1], 10));
  const rng = new Rng(1);
  const x = Float32Array.from({ length: batch * 784 }, () => rng.normal());
  const labels = Int32Array.from({ length: batch }, () => rng.int(10));
  const all = { x, labels, n: batch, inputShape: [28, 28, 1] }; // one chunk: all the samples
  const theta = initParams(net.layout, 1);
  const v = Float32Array.from({ length: net.numParams }, () => rng.normal());
  let fwd = 0;
  let grad = 0;
  for (const [i, gvMethod] of methods.entries()) {
    const ev = new ChunkEvaluator(net, 'ce', gvMethod);
    ev.setParams(theta);
    if (i === 0) {
      fwd = median(() => ev.lossSum(all));
      grad = median(() => ev.lossAndGradient(all));
    }
    const prep = median(() => ev.prepareGaussNewton([all]));
    const gv = median(() => ev.gaussNewton([0], v));
    ev.dispose();
    const first = i === 0;
    rows.push([
      first ? model : '',
      first ? String(batch) : '',
      first ? fwd.toFixed(1) : '',
      first ? grad.toFixed(1) : '',
      gvMethod,
      prep.toFixed(1),
      gv.toFixed(1),
      (gv / grad).toFixed(2),
    ]);
  }
}

const head = [
  'model',
  'batch',
  'forward ms',
  'fwd+grad ms',
  'Gv method',
  'prepare ms',
  'Gv ms',
  'Gv/grad',
];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => c.padStart(w[i])).join('  ');
console.log(`backend ${backend}, 1 thread, median of ${reps} (loss: softmax cross-entropy)`);
console.log(line(head));
for (const r of rows) console.log(line(r));
