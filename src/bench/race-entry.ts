/**
 * One entry of the race, run for a budget of training seconds: Newton (train), Adam on the
 * same objective (trainFirstOrder), or plain tfjs, what a tfjs user runs: the same
 * architecture as a tf.LayersModel with a softmax output, compiled with Adam and
 * categorical cross-entropy, trained with `model.fit` on the same (centred) data, no
 * regularisation. Each reports points (training seconds, f, ‖∇f‖, test accuracy) as it
 * goes; evaluations are not counted as training.
 *
 * The race runs every entry in a process of its own (workers/race-entry.ts), with the
 * threads it is given: Newton's pool sets one TensorFlow thread per worker context, which
 * in a shared process would leave Adam's main-thread TensorFlow one thread too.
 */
import * as tf from '@tensorflow/tfjs';
import { sampleSize } from '../data/dataset.js';
import { kerasModel } from '../model/keras.js';
import { trainFirstOrder } from '../run/baseline.js';
import { withDefaults, type TrainOptions } from '../run/options.js';
import { prepareRun } from '../run/prepare.js';
import { train } from '../run/train.js';
import type { NewtonMethod, PhaseSeconds } from '../solver/options.js';
import { lossUnit, type LossKind } from '../model/losses/index.js';

/** What a progress line says of a point: its test accuracy, else (real-valued targets) its f. */
const progressOf = (f: number, testAcc: number) =>
  Number.isNaN(testAcc) ? `f ${f.toExponential(4)}` : `test ${(100 * testAcc).toFixed(2)}%`;

export type EntryKind = 'newton' | 'adam' | 'tfjs';

/** What an entry runs: plain data, so that it can cross to a child process as JSON. */
export interface EntrySpec {
  name: string;
  kind: EntryKind;
  /** data, model, backend, bsize, seed, ... as for train (strings and numbers only) */
  common: TrainOptions;
  /** training seconds */
  budget: number;
  /** Newton: worker threads; Adam and tfjs: TensorFlow's threads (set by the race's process) */
  threads: number;
  /** Newton's method, C and subset */
  method?: NewtonMethod;
  C?: number;
  gnRatio?: number;
  /** Adam's (both kinds) */
  lr?: number;
  batch?: number;
  /** Adam (both kinds): evaluate every this many training seconds (default: each epoch) */
  evalEvery?: number;
  /** JSONL of the entry's reports, as train --log writes (Newton, Adam) */
  log?: string;
}

export interface RacePoint {
  /** training seconds */
  t: number;
  /**
   * the objective f on all training samples (Newton, Adam; Newton with a gradient sample:
   * its fullF, measured after the iteration); plain tfjs: the mean training loss, no regulariser
   */
  f: number;
  /** ‖∇f‖ (NaN for plain tfjs) */
  gradNorm: number;
  testAcc: number;
  /** Newton: where the iteration's time went, its Gv products and f passes (for race-model.ts) */
  phases?: PhaseSeconds;
  gvProducts?: number;
  lossPasses?: number;
  /** Adam on the objective: minibatch steps so far */
  steps?: number;
}

/** Runs the entry in this process, calling `point` as it reports. */
export async function runEntry(
  e: EntrySpec,
  point: (p: RacePoint) => void,
  say: (line: string) => void = () => {},
): Promise<void> {
  if (e.kind === 'newton') return newton(e, point, say);
  if (e.kind === 'adam') return adam(e, point, say);
  return plainTfjs(e, point, say);
}

async function newton(e: EntrySpec, point: (p: RacePoint) => void, say: (l: string) => void) {
  const controller = new AbortController();
  let t = 0;
  await train({
    ...e.common,
    method: e.method,
    C: e.C ?? e.common.C,
    gnRatio: e.gnRatio ?? e.common.gnRatio,
    workers: e.threads,
    iters: 100_000,
    // f over a gradient sample is not the objective the other entries report: measure that
    fullObjective: true,
    signal: controller.signal,
    log: e.log,
    onIteration: (it, phases) => {
      t += it.iterSeconds;
      const { gvProducts, lossPasses } = it;
      const f = it.fullF ?? it.f;
      point({
        t,
        f,
        gradNorm: it.gradNorm,
        testAcc: it.testAcc,
        phases,
        gvProducts,
        lossPasses,
      });
      say(`${e.name} iter ${it.iter}: ${t.toFixed(1)} s, ${progressOf(f, it.testAcc)}`);
      if (t >= e.budget) controller.abort(new Error('budget'));
    },
  });
}

async function adam(e: EntrySpec, point: (p: RacePoint) => void, say: (l: string) => void) {
  await trainFirstOrder({
    ...e.common,
    optim: 'adam',
    C: e.C ?? e.common.C,
    lr: e.lr,
    batch: e.batch,
    epochs: 100_000,
    maxTrainSeconds: e.budget,
    evalEverySeconds: e.evalEvery,
    log: e.log,
    workers: 0,
    onEpoch: (r) => {
      point({
        t: r.trainSeconds,
        f: r.f,
        gradNorm: r.gradNorm,
        testAcc: r.testAcc,
        steps: r.steps,
      });
      say(
        `${e.name} epoch ${r.iter}: ${r.trainSeconds.toFixed(1)} s, ${progressOf(r.f, r.testAcc)}`,
      );
    },
  });
}

/**
 * The fraction of `x`'s rows whose predicted class is their label (NaN for real-valued
 * targets), and the mean per-sample loss, as Newton's objective counts it: categorical
 * cross-entropy of the softmax output (what model.fit minimises), for targets the sum over
 * the outputs of the binary cross-entropy (bce) or the squared error (mse).
 */
function measure(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  labels: Int32Array | null,
  loss: LossKind,
) {
  const n = x.shape[0];
  let correct = 0;
  let sum = 0;
  const chunk = 2048;
  for (let s = 0; s < n; s += chunk) {
    const size = Math.min(chunk, n - s);
    const [pred, l] = tf.tidy(() => {
      const xs = x.slice(s, size);
      const p = model.predict(xs) as tf.Tensor2D;
      const ys = y.slice(s, size);
      const eps = 1e-7;
      const l =
        labels !== null
          ? tf.neg(tf.sum(tf.mul(ys, tf.log(tf.add(p, eps)))))
          : loss === 'bce'
            ? tf.neg(
                tf.sum(
                  tf.add(
                    tf.mul(ys, tf.log(tf.add(p, eps))),
                    tf.mul(tf.sub(1, ys), tf.log(tf.add(tf.sub(1, p), eps))),
                  ),
                ),
              )
            : tf.sum(tf.square(tf.sub(p, ys)));
      return [p.argMax(1), l];
    });
    const classes = pred.dataSync();
    if (labels !== null) for (let i = 0; i < size; i++) if (classes[i] === labels[s + i]) correct++;
    sum += l.dataSync()[0];
    tf.dispose([pred, l]);
  }
  return { acc: labels === null ? NaN : correct / n, loss: sum / n };
}

/**
 * Plain tfjs: class labels as above; real-valued targets with the loss's output activation
 * (sigmoid for bce) and Keras's own loss of that kind ('binaryCrossentropy',
 * 'meanSquaredError': means over the outputs, as a tfjs user compiles them).
 */
async function plainTfjs(e: EntrySpec, point: (p: RacePoint) => void, say: (l: string) => void) {
  const o = withDefaults(e.common);
  const { sets, spec } = await prepareRun(o);
  const model = kerasModel(spec);
  const real = sets.train.targets !== undefined;
  const activation = real ? lossUnit(o.loss).outputActivation : 'softmax';
  if (activation) model.add(tf.layers.activation({ activation: activation as 'softmax' }));
  const kerasLoss = !real
    ? 'categoricalCrossentropy'
    : o.loss === 'bce'
      ? 'binaryCrossentropy'
      : 'meanSquaredError';
  model.compile({ optimizer: tf.train.adam(e.lr ?? 1e-3), loss: kerasLoss });
  const tensors = (d: typeof sets.train) => {
    const x = tf.tensor(d.x.subarray(0, d.n * sampleSize(d)), [d.n, ...d.inputShape]);
    const y = d.targets
      ? tf.tensor2d(d.targets.subarray(0, d.n * d.numClasses), [d.n, d.numClasses])
      : tf.tidy(() => tf.oneHot(tf.tensor1d(d.labels, 'int32'), d.numClasses).toFloat());
    return { x, y };
  };
  const tr = tensors(sets.train);
  const te = tensors(sets.test);
  const evalEveryMs = (e.evalEvery ?? Infinity) * 1000;
  const start = performance.now();
  let evalMs = 0;
  let lastEval = 0;
  let epoch = 0;
  const trainMs = () => performance.now() - start - evalMs;
  const evaluate = () => {
    const t0 = performance.now();
    const t = trainMs() / 1000;
    const train = measure(model, tr.x, tr.y, real ? null : sets.train.labels, o.loss);
    const test =
      sets.test.n === 0 || real
        ? { acc: NaN }
        : measure(model, te.x, te.y, sets.test.labels, o.loss);
    point({ t, f: train.loss, gradNorm: NaN, testAcc: test.acc });
    say(`${e.name} epoch ${epoch}: ${t.toFixed(1)} s, ${progressOf(train.loss, test.acc)}`);
    lastEval = trainMs();
    evalMs += performance.now() - t0;
  };
  try {
    await model.fit(tr.x, tr.y, {
      batchSize: e.batch ?? 128,
      epochs: 100_000,
      shuffle: true,
      verbose: 0,
      callbacks: {
        onEpochBegin: async (k) => {
          epoch = k + 1;
        },
        onBatchEnd: async () => {
          const over = trainMs() >= e.budget * 1000;
          if (over || trainMs() - lastEval >= evalEveryMs) evaluate();
          if (over) model.stopTraining = true;
        },
        onEpochEnd: async () => {
          if (!model.stopTraining && trainMs() > lastEval) evaluate();
        },
      },
    });
  } finally {
    tf.dispose([tr.x, tr.y, te.x, te.y]);
    model.dispose();
  }
}
