/**
 * First-order baselines on the same objective, f = ‖θ‖²/(2Cl) + (1/l) Σ ξᵢ, with tfjs's
 * own optimisers (Adam, SGD with optional momentum), logged in the same JSONL shape as
 * Newton (one record per epoch), so that both can be plotted on one figure (simpleNN
 * compares them the same way). Runs in the calling thread.
 */
import * as tf from '@tensorflow/tfjs';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkEvaluator } from './autodiff/evaluator.js';
import { LocalProblem } from './transport/in-process.js';
import { sampleSize } from './data/dataset.js';
import { initParams } from './model/init.js';
import { saveModel } from './model/keras.js';
import { lossSum } from './model/loss.js';
import { Rng } from './rng.js';
import { defaultC, validateOptions } from './options.js';
import { checkRunPaths } from './paths.js';
import { accuracy, prepareRun, withDefaults } from './run.js';
import type { TrainOptions } from './train.js';

export const OPTIMS = ['adam', 'sgd'] as const;
export type Optim = (typeof OPTIMS)[number];

export interface FirstOrderOptions extends TrainOptions {
  optim: Optim;
  /** learning rate (default: adam 1e-3, sgd 1e-2) */
  lr?: number;
  /** minibatch size (default 128) */
  batch?: number;
  epochs?: number;
  /** SGD momentum (default 0) */
  momentum?: number;
  /**
   * stop once this many seconds were spent in minibatch steps (evaluation not counted),
   * after evaluating the partial epoch: a time budget for races against Newton
   */
  maxTrainSeconds?: number;
  onEpoch?: (e: EpochReport) => void;
}

export interface EpochReport {
  /** the epoch, 1-based */
  iter: number;
  f: number;
  gradNorm: number;
  /** the learning rate */
  alpha: number;
  /** wall-clock seconds since training started, the evaluations after each epoch included */
  elapsedSeconds: number;
  /** wall-clock seconds of this epoch: its minibatch steps and the evaluation after them */
  iterSeconds: number;
  /** seconds spent in minibatch steps so far (wall time less the evaluation after each epoch) */
  trainSeconds: number;
  testAcc: number;
}

export interface FirstOrderResult {
  params: Float32Array;
  history: EpochReport[];
  testAcc: number;
}

export async function trainFirstOrder(options: FirstOrderOptions): Promise<FirstOrderResult> {
  validateOptions(options, 'first-order'); // names, types and ranges, before anything else
  const o = withDefaults(options) as ReturnType<typeof withDefaults> & FirstOrderOptions;
  const lr = o.lr ?? (o.optim === 'adam' ? 1e-3 : 1e-2);
  const batch = o.batch ?? 128;
  const epochs = o.epochs ?? 10;
  checkRunPaths(o); // every path, before data loading and compute
  const { sets, spec, net } = await prepareRun(o);
  const train = sets.train;
  const l = train.n;
  const regC = (o.C ?? defaultC(o.data)) * l;
  const m = sampleSize(train);
  const vars = net.unflatten(initParams(net.layout, o.seed)).map((t) => {
    const v = tf.variable(t);
    t.dispose();
    return v;
  });
  const optimizer =
    o.optim === 'adam'
      ? tf.train.adam(lr)
      : o.momentum
        ? tf.train.momentum(lr, o.momentum)
        : tf.train.sgd(lr);
  const rng = new Rng(o.seed + 1);
  const full = new LocalProblem(net, train, o.loss, o.bsize);
  const testEval = new ChunkEvaluator(net, o.loss);
  const flat = () => {
    const out = new Float32Array(net.numParams);
    vars.forEach((v, k) => out.set(v.dataSync() as Float32Array, net.layout.params[k].offset));
    return out;
  };
  /** f and ‖∇f‖ on all the training data, as Newton reports them */
  const fullObjective = async (theta: Float32Array) => {
    const th = Float64Array.from(theta);
    const data = await full.lossAndGradient(th);
    let reg = 0,
      g2 = 0;
    for (let i = 0; i < th.length; i++) {
      reg += th[i] * th[i];
      g2 += (data.grad[i] + th[i] / regC) ** 2;
    }
    return { f: reg / (2 * regC) + data.loss, gradNorm: Math.sqrt(g2) };
  };
  if (o.log) writeFileSync(o.log, '');
  const history: EpochReport[] = [];
  const start = performance.now();
  let trainMs = 0;
  const budgetMs = (o.maxTrainSeconds ?? Infinity) * 1000;
  try {
    for (let epoch = 1; epoch <= epochs && trainMs < budgetMs; epoch++) {
      const epochStart = performance.now();
      const perm = rng.permutation(l);
      const t0 = performance.now();
      for (let s = 0; s < l && trainMs + performance.now() - t0 < budgetMs; s += batch) {
        const rows = perm.subarray(s, Math.min(l, s + batch));
        const xb = new Float32Array(rows.length * m);
        rows.forEach((r, i) => xb.set(train.x.subarray(r * m, (r + 1) * m), i * m));
        const yb = Int32Array.from(rows, (r) => train.labels[r]);
        tf.tidy(() => {
          const x = tf.tensor(xb, [rows.length, ...train.inputShape]);
          const y = tf.oneHot(tf.tensor1d(yb, 'int32'), train.numClasses).toFloat() as tf.Tensor2D;
          optimizer.minimize(
            () => {
              const reg = tf.mul(tf.addN(vars.map((v) => tf.sum(tf.square(v)))), 1 / (2 * regC));
              return tf.add(
                reg,
                tf.div(lossSum(o.loss, net.forward(vars, x), y), rows.length),
              ) as tf.Scalar;
            },
            false,
            vars,
          );
        });
      }
      trainMs += performance.now() - t0;
      const theta = flat();
      const { f, gradNorm } = await fullObjective(theta);
      testEval.setParams(theta);
      const testAcc = accuracy(testEval, sets.test, o.bsize);
      const now = performance.now();
      const rep: EpochReport = {
        iter: epoch,
        f,
        gradNorm,
        alpha: lr,
        elapsedSeconds: (now - start) / 1000,
        iterSeconds: (now - epochStart) / 1000,
        trainSeconds: trainMs / 1000,
        testAcc,
      };
      history.push(rep);
      if (o.log) {
        appendFileSync(
          o.log,
          JSON.stringify({
            ...rep,
            testAcc: Number.isNaN(rep.testAcc) ? null : rep.testAcc,
            lambda: null,
            cgIters: 0,
            optim: o.optim,
            batch,
          }) + '\n',
        );
      }
      o.onEpoch?.(rep);
    }
    const params = flat();
    if (o.out)
      await saveModel(join(o.out, 'last'), {
        spec,
        theta: params,
        loss: o.loss,
        preprocessing: sets.preprocessing,
      });
    return { params, history, testAcc: history.at(-1)?.testAcc ?? NaN };
  } finally {
    tf.dispose(vars);
    optimizer.dispose();
    await full.close();
    testEval.dispose();
  }
}
