/**
 * First-order baselines on the same objective, f = ‖θ‖²/(2Cl) + (1/l) Σ ξᵢ, with tfjs's
 * own optimisers (Adam, SGD with optional momentum), logged in the same JSONL record as
 * Newton (one per epoch, src/run/records.ts), so that both can be plotted on one figure
 * (simpleNN compares them the same way). Runs in the calling thread; f, ∇f and the test
 * accuracy after each epoch are passes of the same in-process engine as Newton's.
 */
import * as tf from '@tensorflow/tfjs';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { batchTargets, sampleSize } from '../data/dataset.js';
import { initParams } from '../model/init.js';
import { saveModel } from '../model/keras.js';
import { lossSum } from '../model/loss.js';
import { checkRunPaths } from '../paths.js';
import { Rng } from '../rng.js';
import { LocalProblem } from '../transport/in-process.js';
import {
  defaultC,
  FIRST_ORDER_DEFAULTS,
  FIRST_ORDER_LR,
  validateOptions,
  withDefaults,
  type EpochReport,
  type FirstOrderOptions,
} from './options.js';
import { prepareRun } from './prepare.js';
import { epochRecord } from './records.js';

export { OPTIMS, type EpochReport, type FirstOrderOptions, type Optim } from './options.js';

export interface FirstOrderResult {
  params: Float32Array;
  history: EpochReport[];
  testAcc: number;
}

export async function trainFirstOrder(options: FirstOrderOptions): Promise<FirstOrderResult> {
  validateOptions(options, 'first-order'); // names, types and ranges, before anything else
  const o = withDefaults(options);
  const lr = o.lr ?? FIRST_ORDER_LR[o.optim];
  const batch = o.batch ?? FIRST_ORDER_DEFAULTS.batch;
  const epochs = o.epochs ?? FIRST_ORDER_DEFAULTS.epochs;
  checkRunPaths(o); // every path, before data loading and compute
  const { sets, spec, net } = await prepareRun(o);
  const train = sets.train;
  const l = train.n;
  const regC = (o.C ?? defaultC(o.data)) * l;
  const m = sampleSize(train);
  const k = train.numClasses;
  const vars = net.unflatten(initParams(net.layout, o.seed, o.init)).map((t) => {
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
  const full = new LocalProblem(net, train, o.loss, o.bsize, { test: sets.test });
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
  const evalMs = (o.evalEverySeconds ?? Infinity) * 1000;
  /** the next minibatch's first position in the epoch's permutation, and minibatches so far */
  let s = 0;
  let steps = 0;
  let epoch = 1;
  let perm: Int32Array = new Int32Array(0);
  let since = performance.now();
  try {
    while (epoch <= epochs && trainMs < budgetMs) {
      if (s === 0) perm = rng.permutation(l);
      // minibatches until the epoch ends, the budget is spent or an evaluation is due
      const t0 = performance.now();
      const dueBy = Math.min(budgetMs - trainMs, evalMs);
      for (; s < l && performance.now() - t0 < dueBy; s += batch) {
        const rows = perm.subarray(s, Math.min(l, s + batch));
        const xb = new Float32Array(rows.length * m);
        rows.forEach((r, i) => xb.set(train.x.subarray(r * m, (r + 1) * m), i * m));
        const yb = batchTargets(train, rows);
        tf.tidy(() => {
          const x = tf.tensor(xb, [rows.length, ...train.inputShape]);
          const y =
            yb instanceof Float32Array
              ? tf.tensor2d(yb, [rows.length, k])
              : (tf.oneHot(tf.tensor1d(yb, 'int32'), k).toFloat() as tf.Tensor2D);
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
        steps++;
      }
      trainMs += performance.now() - t0;
      const theta = flat();
      const { f, gradNorm } = await fullObjective(theta);
      const testAcc = await full.accuracy(Float64Array.from(theta), 'test');
      const now = performance.now();
      const rep: EpochReport = {
        iter: epoch,
        f,
        gradNorm,
        alpha: lr,
        elapsedSeconds: (now - start) / 1000,
        iterSeconds: (now - since) / 1000,
        trainSeconds: trainMs / 1000,
        testAcc,
      };
      if (o.evalEverySeconds !== undefined) rep.steps = steps;
      since = now;
      history.push(rep);
      if (o.log) appendFileSync(o.log, JSON.stringify(epochRecord(rep, o.optim, batch)) + '\n');
      o.onEpoch?.(rep);
      if (s >= l) {
        epoch++;
        s = 0;
      }
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
  }
}
