/**
 * `train`: data + model + Newton-CG, with per-iteration reports. The library entry point
 * behind the CLI's `train` command.
 */
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveCheckpoint } from './checkpoint.js';
import type { FaultPlan } from './coordinator/protocol.js';
import { ChunkEvaluator, rangeChunks } from './autodiff/evaluator.js';
import { initBackend, type BackendChoice, type BackendName } from './backend/select.js';
import { LocalProblem } from './coordinator/local.js';
import { PoolProblem } from './coordinator/pool.js';
import type { Dataset, TrainTest } from './data/dataset.js';
import { loadData } from './data/load.js';
import { RunError, UsageError } from './errors.js';
import { initParams } from './model/init.js';
import { LOSSES, type LossKind } from './model/loss.js';
import { Network } from './model/network.js';
import { presetModel } from './model/presets.js';
import type { ModelSpec } from './model/spec.js';
import { LineSearchError, NEWTON_DEFAULTS, NewtonCG, type IterationReport } from './solver/newton.js';

export interface TrainOptions {
  /** 'digits', 'fashion-mnist', a folder of IDX files, or data already loaded */
  data?: string | TrainTest;
  /** folder of the Fashion-MNIST files (else $TFJS_NEWTON_DATA, else Debian's) */
  dataDir?: string;
  /** a preset name (`mlp:256,256`, `cnn4`, `cnn7`) or a spec */
  model?: string | ModelSpec;
  loss?: LossKind;
  C?: number;
  /** |S| = round(gnRatio · l) unless gnSize is given */
  gnRatio?: number;
  gnSize?: number;
  cgMax?: number;
  xi?: number;
  eta?: number;
  lambda0?: number;
  iters?: number;
  /** samples per chunk of every pass (bounds memory) */
  bsize?: number;
  seed?: number;
  backend?: BackendChoice;
  /**
   * compute worker threads; 0 computes in the calling thread. Default: the machine's
   * available parallelism (1 with the tensorflow backend, which is process-global).
   */
  workers?: number;
  /** folder for a checkpoint after every iteration (see checkpoint.ts) */
  out?: string;
  /** testing hook: make pool workers fail on a chunk */
  faults?: FaultPlan;
  /** JSONL file: one object per iteration */
  log?: string;
  onIteration?: (r: TrainIteration) => void;
}

export interface TrainIteration extends IterationReport {
  testAcc: number;
  /** seconds since training started (cumulative), including the accuracy pass */
  elapsed: number;
}

export interface TrainResult {
  network: Network;
  params: Float32Array;
  history: TrainIteration[];
  testAcc: number;
  backend: BackendName;
  /** compute worker threads used (0: in-process) */
  workers: number;
  /** why training ended before `iters`, if it did */
  stopped?: string;
}

export const TRAIN_DEFAULTS = {
  data: 'digits',
  model: 'mlp:64,64',
  loss: 'ce' as LossKind,
  gnRatio: 0.05,
  iters: 30,
  bsize: 1024,
  seed: 1,
  backend: 'auto' as BackendChoice,
};

/** Fraction of correctly classified samples, by chunks of `bsize`. */
export function accuracy(ev: ChunkEvaluator, data: Dataset, bsize: number): number {
  let correct = 0;
  for (const rows of rangeChunks(data.n, bsize)) {
    const pred = ev.predict(rows);
    if ('start' in rows) for (let i = 0; i < pred.length; i++) if (pred[i] === data.labels[rows.start + i]) correct++;
  }
  return correct / data.n;
}

export async function train(options: TrainOptions = {}): Promise<TrainResult> {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as TrainOptions;
  const o = { ...TRAIN_DEFAULTS, ...given };
  if (!(LOSSES as readonly string[]).includes(o.loss)) throw new UsageError(`unknown loss '${o.loss}': use ce or mse`);
  const backend = await initBackend(o.backend);
  const sets = typeof o.data === 'string' ? loadData(o.data, o.dataDir) : o.data;
  const spec = typeof o.model === 'string' ? presetModel(o.model, sets.train.inputShape, sets.train.numClasses) : o.model;
  const net = new Network(spec);
  const l = sets.train.n;
  const gnSize = o.gnSize ?? Math.max(1, Math.round(o.gnRatio * l));
  if (!Number.isInteger(gnSize) || gnSize < 1 || gnSize > l) {
    throw new UsageError(`--gn-size must be an integer in 1..${l} (the training set size), got ${gnSize}`);
  }
  if (!Number.isInteger(o.bsize) || o.bsize < 1) throw new UsageError(`--bsize must be a positive integer, got ${o.bsize}`);
  if (!Number.isInteger(o.iters) || o.iters < 0) throw new UsageError(`--iters must be a non-negative integer, got ${o.iters}`);

  const workers = o.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 0) throw new UsageError(`--workers must be a non-negative integer, got ${workers}`);
  let solver: NewtonCG;
  const theta0 = Float64Array.from(initParams(net.layout, o.seed));
  const solverOptions = { ...NEWTON_DEFAULTS, ...pick(o, ['C', 'xi', 'cgMax', 'eta', 'lambda0']), gnSize, seed: o.seed + 1 };
  const problem =
    workers === 0
      ? new LocalProblem(net, sets.train, o.loss, o.bsize)
      : new PoolProblem(net, sets.train, o.loss, { workers, bsize: o.bsize, backend, faults: o.faults });
  const testEval = new ChunkEvaluator(net, sets.test, o.loss);
  /** writes the last good state; returns the folder */
  const saveLastGood = (dir = o.out ?? mkdtempSync(join(tmpdir(), 'tfjs-newton-'))): string => {
    saveCheckpoint(dir, { spec, loss: o.loss, state: solver.state });
    return dir;
  };
  const stopOnSignal = () => {
    if (o.out && solver) saveLastGood();
    void problem.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  try {
    try {
      solver = new NewtonCG(problem, theta0, solverOptions);
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
    if (o.log) writeFileSync(o.log, '');
    const history: TrainIteration[] = [];
    const start = performance.now();
    let stopped: string | undefined;
    for (let k = 0; k < o.iters; k++) {
      let rep: IterationReport;
      try {
        rep = await solver.step();
      } catch (e) {
        if (e instanceof LineSearchError) {
          stopped = e.message;
          break;
        }
        const dir = saveLastGood();
        throw new RunError(`${(e as Error).message}; the last good parameters (after iteration ${solver.state.iter}) are in ${dir}`, { cause: e });
      }
      if (o.out) saveLastGood();
      testEval.setParams(solver.params);
      const it: TrainIteration = { ...rep, testAcc: accuracy(testEval, sets.test, o.bsize), elapsed: (performance.now() - start) / 1000 };
      history.push(it);
      if (o.log) appendFileSync(o.log, JSON.stringify(logRecord(it)) + '\n');
      o.onIteration?.(it);
    }
    const params = Float32Array.from(solver.params);
    testEval.setParams(params);
    return { network: net, params, history, testAcc: accuracy(testEval, sets.test, o.bsize), backend, workers: problem instanceof PoolProblem ? problem.workers : 0, stopped };
  } finally {
    process.off('SIGINT', stopOnSignal);
    await problem.close();
    testEval.dispose();
  }
}

/** The JSONL record of one iteration: `seconds` is cumulative wall time. */
export function logRecord(it: TrainIteration) {
  return {
    iter: it.iter,
    f: it.f,
    gradNorm: it.gradNorm,
    alpha: it.alpha,
    lambda: it.lambda,
    cgIters: it.cgIters,
    seconds: it.elapsed,
    testAcc: it.testAcc,
    rho: it.rho,
    iterSeconds: it.seconds,
  };
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
