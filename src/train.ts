/**
 * `train`: data + model + Newton-CG, with per-iteration reports, checkpoints, validation
 * and model export. The library entry point behind the CLI's `train` command.
 */
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GvMethod } from './autodiff/evaluator.js';
import type { BackendChoice, BackendName } from './backend/select.js';
import {
  checkCheckpoint,
  checkSameRun,
  loadCheckpoint,
  saveCheckpoint,
  type RunIdentity,
} from './checkpoint.js';
import { LocalProblem } from './transport/in-process.js';
import { PoolProblem } from './transport/threads.js';
import { faultsOf } from './transport/faults.js';
import { prepareRun, withDefaults } from './run.js';
import { NatsTransport, type NatsRunOptions } from './transport/nats/coordinator.js';
import { PassEngine } from './engine/engine.js';
import { evalSizesOf } from './engine/evaluation.js';
import { datasetDigest, type Preprocessing, type TrainTest } from './data/dataset.js';
import type { DataOptions } from './data/load.js';
import { AbortError, RunError, UsageError } from './errors.js';
import { initParams } from './model/init.js';
import { saveModel } from './model/keras.js';
import type { LossKind } from './model/loss.js';
import { Network } from './model/network.js';
import type { ModelSpec } from './model/spec.js';
import { defaultC, validateOptions } from './options.js';
import { checkRunPaths } from './paths.js';
import {
  LineSearchError,
  methodIdentity,
  NEWTON_DEFAULTS,
  NewtonCG,
  resolveNewtonOptions,
  type IterationReport,
  type MethodOptions,
  type NewtonMethod,
  type NewtonState,
} from './solver/newton.js';
import type { ProgressFn } from './solver/problem.js';

export interface TrainOptions extends Partial<Omit<DataOptions, 'data' | 'preprocessing'>> {
  /** 'digits', 'fashion-mnist', a folder of IDX files, a CSV/LIBSVM file, or data already loaded */
  data?: string | TrainTest;
  /** a preset name (`mlp:256,256`, `cnn4`, `cnn7`), a Keras/tfjs model.json file, or a spec */
  model?: string | ModelSpec;
  loss?: LossKind;
  C?: number;
  /** |S| = round(gnRatio · l) unless gnSize is given */
  gnRatio?: number;
  gnSize?: number;
  cgMax?: number;
  /** CG stops at ‖r‖ ≤ cgTolerance·‖∇f‖ (default 0.1, simpleNN's ξ_cg; formerly `xi`) */
  cgTolerance?: number;
  /**
   * 'simplenn' (default): simpleNN's algorithm exactly; 'hf': with the Hessian-free remedies
   * of HF_METHOD (src/solver/newton.ts). Each remedy below may also be set on its own,
   * overriding the method's value; see MethodOptions there for what each does and costs.
   */
  method?: NewtonMethod;
  /** CG's start: 'zero' (simplenn) or 'previous' (cgInitDecay × the last CG solution; one extra Gv product) */
  cgInit?: MethodOptions['cgInit'];
  /** the factor on the last CG solution with cgInit 'previous', in (0, 1] (0.95) */
  cgInitDecay?: number;
  /** 'residual' (simplenn) or 'quadratic': CG also stops when the quadratic model stalls (Martens's test) */
  cgStop?: MethodOptions['cgStop'];
  /** ε of cgStop 'quadratic' (5e-4) */
  cgQuadraticTolerance?: number;
  /** CG-backtracking over this many kept CG iterates (0, simplenn: off; costs f passes) */
  cgKeepBest?: number;
  /** 'none' (simplenn) or 'diagonal': CG preconditioned by (gradSquares + λ + 1/C̃)^α, from the f+∇f pass */
  preconditioner?: MethodOptions['preconditioner'];
  /** α of the diagonal preconditioner, in (0, 1] (0.75) */
  preconditionerExponent?: number;
  /** the subset size: 'fixed' (simplenn) or 'gradient' (grows as ‖∇f‖ falls, from |S₀| = gnSize) */
  gnGrowth?: MethodOptions['gnGrowth'];
  /** the exponent of gnGrowth 'gradient' (1) */
  gnGrowthPower?: number;
  eta?: number;
  lambda0?: number;
  /** total Newton iterations (a resumed run continues up to this count) */
  iters?: number;
  /** samples per chunk of every pass (bounds memory) */
  bsize?: number;
  seed?: number;
  backend?: BackendChoice;
  /** how Gauss-Newton products are computed: 'linearized' (default, faster) or 'double-vjp' (the reference) */
  gv?: GvMethod;
  /**
   * compute worker threads, each with its own backend; 0 computes in the calling thread.
   * Default: the machine's available parallelism.
   */
  workers?: number;
  /**
   * run folder: a checkpoint after every iteration, the model (`last/`, and `best/` by
   * validation accuracy) as tfjs model.json + weights.bin
   */
  out?: string;
  /** continue the run whose checkpoint is in this folder (same options) */
  resume?: string;
  /**
   * compute on worker processes reached through a NATS server (`tfjs-newton worker --nats
   * URL` on each machine) instead of local threads: the server, its credentials and TLS
   * files; `workers` is then ignored. The trajectory is the same bit for bit.
   */
  nats?: NatsRunOptions;
  /** JSONL file: one object per iteration (appended to when resuming) */
  log?: string;
  onIteration?: (r: TrainIteration) => void;
  /** called as chunks of a long pass complete (f and ∇f, the line search's f, one Gv) */
  onProgress?: ProgressFn;
  /**
   * Awaited at every iteration boundary: once before the first iteration (the initial or
   * resumed state), then after each iteration is committed (checkpointed, logged and given
   * to onIteration). Training waits while it is pending, which is how `startTraining`
   * pauses; time spent waiting is not counted in `elapsedSeconds`.
   */
  onBoundary?: (b: IterationBoundary) => void | Promise<void>;
  /**
   * Stops the run when aborted: the pass under way ends within about one chunk's compute,
   * the last completed iteration's checkpoint is written (with `out`), the workers are
   * stopped, and `train` resolves with `interrupted: true` (not an exception). `train`
   * itself never touches process signal handlers: map Ctrl-C onto an AbortController.
   */
  signal?: AbortSignal;
}

/**
 * One iteration as `train` reports it: the solver's report (`iterSeconds`: the wall time of
 * this iteration's step) with the accuracies and `elapsedSeconds`.
 */
export interface TrainIteration extends IterationReport {
  /** accuracy on the test set (NaN without one) */
  testAcc: number;
  /** accuracy on the validation set (NaN without one) */
  valAcc: number;
  /**
   * wall-clock seconds since training started (cumulative over resumes, pauses not
   * counted), including the accuracy passes
   */
  elapsedSeconds: number;
}

/** The committed state at an iteration boundary, as `onBoundary` sees it. */
export interface IterationBoundary {
  /** completed iterations (cumulative over resumes) */
  iter: number;
  /** θ after iteration `iter` (a copy) */
  params: Float32Array;
  /** with `params`, what saveModel writes: the model, its loss, the data's preprocessing */
  spec: ModelSpec;
  loss: LossKind;
  preprocessing?: Preprocessing;
}

export interface TrainResult {
  network: Network;
  /** the last parameters */
  params: Float32Array;
  /** the parameters of the best iteration by validation accuracy (the last without validation) */
  bestParams: Float32Array;
  bestIter: number;
  history: TrainIteration[];
  testAcc: number;
  backend: BackendName;
  /** compute worker threads used (0: in-process) */
  workers: number;
  /** why training ended before `iters`, if it did ('interrupted after iteration k' on abort) */
  stopped?: string;
  /** true when `signal` stopped the run; `params`, `history` and the checkpoint are those of the last completed iteration */
  interrupted?: boolean;
}

export async function train(options: TrainOptions = {}): Promise<TrainResult> {
  validateOptions(options, 'newton'); // names, types and ranges, before anything else
  const o = withDefaults(options);
  // every path (and the checkpoint to resume) checked before data loading and compute
  checkRunPaths(o, checkCheckpoint);
  const resumed = o.resume ? loadCheckpoint(o.resume) : null;
  // a resume preprocesses the data as the checkpointed run did (the same numbers on any machine)
  const { backend, sets, spec, net } = await prepareRun(o, resumed?.preprocessing);
  const l = sets.train.n;
  const gnSize = o.gnSize ?? Math.max(1, Math.round(o.gnRatio * l));
  if (!Number.isInteger(gnSize) || gnSize < 1 || gnSize > l) {
    throw new UsageError(
      `--gn-size must be an integer in 1..${l} (the training set size), got ${gnSize}`,
    );
  }
  const workers = o.workers ?? availableParallelism();
  const C = o.C ?? defaultC(o.data);
  const solverOptions = {
    ...NEWTON_DEFAULTS,
    ...pick(o, ['cgTolerance', 'cgMax', 'eta', 'lambda0', ...NEWTON_METHOD_KEYS]),
    C,
    gnSize,
    seed: o.seed + 1,
  };
  // everything besides model and loss that fixes the trajectory: a resume must match it
  const run: RunIdentity = {
    C,
    seed: o.seed,
    gnSize,
    bsize: o.bsize,
    gv: o.gv,
    data: datasetDigest(sets.train),
    ...methodIdentity(resolveNewtonOptions(solverOptions)),
  };
  if (resumed) {
    if (JSON.stringify(resumed.spec) !== JSON.stringify(spec)) {
      throw new UsageError(
        `${o.resume}: the checkpoint is of another model; resume with the same --model and data`,
      );
    }
    if (resumed.loss !== o.loss) {
      throw new UsageError(
        `${o.resume}: --loss differs from the checkpointed run (${resumed.loss} there, ${o.loss} now): resume with the same settings, or start a new run`,
      );
    }
    const pre = resumed.preprocessing;
    if (pre && o.scale !== undefined && o.scale !== pre.scale) {
      throw new UsageError(
        `${o.resume}: --scale differs from the checkpointed run (${pre.scale} there, ${o.scale} now): resume with the same settings, or start a new run`,
      );
    }
    checkSameRun(o.resume!, resumed.run, run);
  }
  const out = o.out ?? o.resume;

  let solver: NewtonCG;
  // test and validation accuracy are passes of the same engine (in-process or the pool)
  const evalSets = { test: sets.test, val: sets.val };
  const problem = o.nats
    ? new PassEngine(
        await NatsTransport.open(net, sets.train, o.loss, {
          ...o.nats,
          bsize: o.bsize,
          backend,
          gv: o.gv,
          evalSets,
        }),
        {
          dim: net.numParams,
          numSamples: l,
          bsize: o.bsize,
          evalSizes: evalSizesOf(evalSets, sets.train),
        },
      )
    : workers === 0
      ? new LocalProblem(net, sets.train, o.loss, o.bsize, evalSets, o.gv)
      : new PoolProblem(net, sets.train, o.loss, {
          workers,
          bsize: o.bsize,
          backend,
          gv: o.gv,
          faults: faultsOf(options),
          evalSets,
        });
  problem.onProgress = o.onProgress;
  const history: TrainIteration[] =
    (resumed?.history as unknown as TrainIteration[] | undefined) ?? [];
  let best = resumed?.best ?? { iter: 0, valAcc: -1 };
  let bestParams: Float32Array | null = null;
  /**
   * the solver state that goes with `history` and `best`: that of the last iteration whose
   * report is in the history (the solver's own state is one iteration ahead while that
   * iteration's accuracy passes run)
   */
  let committed: NewtonState;
  const checkpoint = (dir: string) =>
    saveCheckpoint(dir, {
      spec,
      loss: o.loss,
      state: committed,
      history: history as unknown as Record<string, unknown>[],
      best,
      run,
      preprocessing: sets.preprocessing,
    });
  /** writes the last good state; returns the folder */
  const saveLastGood = (dir = out ?? mkdtempSync(join(tmpdir(), 'tfjs-newton-'))): string => {
    checkpoint(dir);
    return dir;
  };
  /** a failed pass (a pool chunk failing 3 times): the last good state is written first */
  const failed = (e: unknown) => {
    const dir = saveLastGood();
    return new RunError(
      `${(e as Error).message}; the last good parameters (after iteration ${committed.iter}) are in ${dir}`,
      { cause: e },
    );
  };
  const signal = o.signal;
  const isAbort = (e: unknown) => e instanceof AbortError && signal?.aborted === true;
  const onAbort = () => problem.abort?.(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      solver = new NewtonCG(
        problem,
        Float64Array.from(initParams(net.layout, o.seed)),
        solverOptions,
      );
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
    if (resumed) solver.restore(resumed.state);
    committed = solver.state;
    if (signal?.aborted) onAbort();
    // the log holds exactly the checkpointed history (a run killed between its checkpoint
    // and its log line loses nothing)
    if (o.log)
      writeFileSync(o.log, history.map((h) => JSON.stringify(logRecord(h)) + '\n').join(''));
    const elapsedSeconds0 = history.at(-1)?.elapsedSeconds ?? 0;
    const start = performance.now();
    /** ms spent waiting in onBoundary (a pause): not training time */
    let waitedMs = 0;
    const boundary = async () => {
      if (!o.onBoundary) return;
      const t0 = performance.now();
      await o.onBoundary({
        iter: committed.iter,
        params: Float32Array.from(committed.theta),
        spec,
        loss: o.loss,
        preprocessing: sets.preprocessing,
      });
      waitedMs += performance.now() - t0;
    };
    await boundary();
    let stopped: string | undefined;
    let interrupted = false;
    while (committed.iter < o.iters) {
      if (signal?.aborted) {
        interrupted = true;
        break;
      }
      let it: TrainIteration;
      try {
        const rep = await solver.step();
        it = {
          ...rep,
          testAcc: await problem.accuracy(solver.params, 'test'),
          valAcc: await problem.accuracy(solver.params, 'val'),
          elapsedSeconds: elapsedSeconds0 + (performance.now() - start - waitedMs) / 1000,
        };
      } catch (e) {
        if (e instanceof LineSearchError) {
          stopped = e.message;
          break;
        }
        if (isAbort(e)) {
          interrupted = true;
          break;
        }
        throw failed(e);
      }
      const params = Float32Array.from(solver.params);
      history.push(it);
      const better = sets.val !== undefined && it.valAcc > best.valAcc;
      if (better) {
        best = { iter: it.iter, valAcc: it.valAcc };
        bestParams = params;
      }
      committed = solver.state;
      if (better && out)
        await saveModel(join(out, 'best'), {
          spec,
          theta: params,
          loss: o.loss,
          preprocessing: sets.preprocessing,
        });
      if (out) checkpoint(out);
      if (o.log) appendFileSync(o.log, JSON.stringify(logRecord(it)) + '\n');
      o.onIteration?.(it);
      await boundary();
    }
    if (interrupted) {
      stopped = `interrupted after iteration ${committed.iter}`;
      // the last completed iteration's state (also when none completed in this run)
      if (out) checkpoint(out);
    }
    const params = Float32Array.from(committed.theta);
    const bad = params.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0)
      throw failed(
        new Error(
          `θ[${bad}] is ${params[bad]} after iteration ${committed.iter}: the model is not finite`,
        ),
      );
    if (out)
      await saveModel(join(out, 'last'), {
        spec,
        theta: params,
        loss: o.loss,
        preprocessing: sets.preprocessing,
      });
    // the test accuracy at the last iterate: computed after it, unless the run was interrupted
    const lastTestAcc = history.at(-1)?.testAcc ?? NaN;
    let testAcc: number;
    if (interrupted) testAcc = lastTestAcc;
    else {
      try {
        testAcc = await problem.accuracy(committed.theta, 'test');
      } catch (e) {
        if (!isAbort(e)) throw failed(e);
        testAcc = lastTestAcc;
      }
    }
    return {
      network: net,
      params,
      bestParams: bestParams ?? params,
      bestIter: sets.val ? best.iter : committed.iter,
      history,
      testAcc,
      backend,
      workers: problem.workers,
      stopped,
      interrupted,
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await problem.close();
  }
}

/** The TrainOptions keys that go to the solver as they are: the method and its options. */
const NEWTON_METHOD_KEYS = [
  'method',
  'cgInit',
  'cgInitDecay',
  'cgStop',
  'cgQuadraticTolerance',
  'cgKeepBest',
  'preconditioner',
  'preconditionerExponent',
  'gnGrowth',
  'gnGrowthPower',
] as const satisfies readonly ((keyof TrainOptions & keyof MethodOptions) | 'method')[];

const num = (x: number) => (Number.isFinite(x) ? x : null);

/**
 * The JSONL record of one iteration: `elapsedSeconds` is the wall time since training
 * started (cumulative over resumes), `iterSeconds` that of this iteration's step.
 */
export function logRecord(it: TrainIteration) {
  return {
    iter: it.iter,
    f: it.f,
    gradNorm: it.gradNorm,
    alpha: it.alpha,
    lambda: it.lambda,
    cgIters: it.cgIters,
    elapsedSeconds: it.elapsedSeconds,
    testAcc: num(it.testAcc),
    valAcc: num(it.valAcc),
    rho: it.rho,
    iterSeconds: it.iterSeconds,
    gnSize: it.gnSize,
    gvProducts: it.gvProducts,
    lossPasses: it.lossPasses,
  };
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
