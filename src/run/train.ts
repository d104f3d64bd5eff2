/**
 * `train`: data + model + Newton-CG, with per-iteration reports, checkpoints, validation
 * and model export. The library entry point behind the CLI's `train` command, in four
 * phases: prepare (options, data, model, the run's identity, the checkpoint to resume),
 * open the transport (the passes' engine), iterate (step, measure, commit, checkpoint, log),
 * finish (the last model and the final test accuracy, or with real-valued targets the
 * test RMSE and R²).
 */
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkCheckpoint,
  checkSameRun,
  loadCheckpoint,
  saveCheckpoint,
  type Checkpoint,
  type RunIdentity,
} from '../checkpoint.js';
import { datasetDigest } from '../data/dataset.js';
import type { BackendName } from '../backend/select.js';
import { ChunkEvaluator } from '../autodiff/evaluator.js';
import type { PassEngine } from '../engine/engine.js';
import {
  regressionMetrics,
  targetSpread,
  type EvalSetName,
  type TargetSpread,
} from '../engine/evaluation.js';
import { AbortError, RunError, UsageError } from '../errors.js';
import { initParams } from '../model/init.js';
import { saveModel } from '../model/keras.js';
import type { Network } from '../model/network.js';
import { checkRunPaths } from '../paths.js';
import {
  LineSearchError,
  methodIdentity,
  NewtonCG,
  resolveNewtonOptions,
  type NewtonSettings,
  type NewtonState,
} from '../solver/newton.js';
import { solverOptionsOf } from '../solver/options.js';
import { dot } from '../solver/vec.js';
import { faultsOf, FAULTS } from '../transport/faults.js';
import { openProblem } from '../transport/registry.js';
import {
  defaultC,
  validateOptions,
  withDefaults,
  type ResolvedOptions,
  type TfjsTrainOptions,
  type TrainIteration,
} from './options.js';
import { fromTfjs, prepareRun } from './prepare.js';
import { logRecord } from './records.js';
import { CallbackRunner, type RunHooks, type RunLogs } from './callbacks.js';
import { evaluate } from './evaluate.js';
import { checkTensorboardBackend, TensorboardWriter } from './tensorboard.js';

export type {
  IterationBoundary,
  TfjsTrainOptions,
  TrainIteration,
  TrainOptions,
} from './options.js';

export interface TrainResult {
  network: Network;
  /** the last parameters */
  params: Float32Array;
  /**
   * the parameters of the best iteration by validation accuracy (by validation RMSE with
   * real-valued targets; the last without validation)
   */
  bestParams: Float32Array;
  bestIter: number;
  history: TrainIteration[];
  /** the test accuracy at the last parameters (NaN without a test set, or with real-valued targets) */
  testAcc: number;
  /** with real-valued targets: the test RMSE and R² at the last parameters (else NaN) */
  testRmse: number;
  testR2: number;
  backend: BackendName;
  /** compute worker threads used (0: in-process) */
  workers: number;
  /** why training ended before `iters`, if it did ('interrupted after iteration k' on abort) */
  stopped?: string;
  /** true when `signal` stopped the run; `params`, `history` and the checkpoint are those of the last completed iteration */
  interrupted?: boolean;
}

export async function train(options: TfjsTrainOptions = {}): Promise<TrainResult> {
  return runTraining(options);
}

/** How a run starts besides its options (the training thread of startTraining gives these). */
export interface TrainStart {
  /** θ to start from instead of the seeded initialisation (the caller's model's weights) */
  initialParams?: Float32Array;
  /** the fit-style hooks, instead of a CallbackRunner of the `callbacks` option */
  hooks?: RunHooks;
}

/** `train`, and the training thread's entry: the run's four phases. */
export async function runTraining(
  options: TfjsTrainOptions,
  start: TrainStart = {},
): Promise<TrainResult> {
  const run = await prepare(options, start);
  try {
    const problem = await openRunProblem(run, options);
    const signal = run.o.signal;
    const onAbort = () => problem.abort?.(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const state = startState(run, problem);
      if (signal?.aborted) onAbort();
      const ended = await iterate(run, problem, state);
      const result = await finish(run, problem, state, ended);
      run.tensorboard?.flush();
      await run.hooks?.trainEnd(state.logs ?? undefined, result.params);
      return result;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await problem.close();
    }
  } finally {
    run.hooks?.dispose();
    run.valEvaluator?.dispose();
  }
}

/** A run's options, data, model and identity, checked before anything computes. */
type Prepared = Awaited<ReturnType<typeof prepare>>;

/**
 * Phase 1: the options checked (names, types and ranges, then paths and the checkpoint to
 * resume), the data loaded (preprocessed as the checkpointed run was, on a resume), the
 * model resolved, the solver's options and the run's identity, which a resume must match.
 */
async function prepare(options: TfjsTrainOptions, start: TrainStart) {
  validateOptions(options, 'newton'); // names, types and ranges, before anything else
  checkTensorboardBackend(options.tensorboard, options.backend ?? 'auto');
  // the caller's tfjs model and tensors as a spec, θ and loaded data
  const given = fromTfjs(options);
  const o = withDefaults(given.options);
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
  const C = o.C ?? defaultC(o.data);
  const solverOptions: NewtonSettings = { ...solverOptionsOf(o), C, gnSize, seed: o.seed + 1 };
  // everything besides model and loss that fixes the trajectory: a resume must match it
  const identity: RunIdentity = {
    C,
    seed: o.seed,
    gnSize,
    bsize: o.bsize,
    gv: o.gv,
    data: datasetDigest(sets.train),
    ...methodIdentity(resolveNewtonOptions(solverOptions)),
  };
  if (resumed) checkResume(o, resumed, spec, identity);
  const initialParams = given.initialParams ?? start.initialParams;
  if (initialParams && initialParams.length !== net.numParams)
    throw new UsageError(
      `the initial parameters have ${initialParams.length} values, the model ${net.numParams}`,
    );
  const tensorboard = o.tensorboard ? await TensorboardWriter.open(o.tensorboard, backend) : null;
  const hooks =
    start.hooks ??
    (o.callbacks !== undefined || given.model
      ? new CallbackRunner(o.callbacks, given.model)
      : null);
  return {
    o,
    initialParams,
    hooks,
    /** the validation loss, for the hooks' logs: computed in this thread */
    valEvaluator: hooks && sets.val ? new ChunkEvaluator(net, o.loss) : null,
    tensorboard,
    resumed,
    backend,
    sets,
    /** the held-out sets' target spreads, for R² (null for class labels or no set) */
    spreads: { test: targetSpread(sets.test), val: targetSpread(sets.val) } as Record<
      EvalSetName,
      TargetSpread | null
    >,
    spec,
    net,
    solverOptions,
    identity,
    /** where checkpoints and models go */
    out: o.out ?? o.resume,
  };
}

/** A resume must be of the same model, loss, preprocessing and identity. */
function checkResume(
  o: ResolvedOptions,
  resumed: Checkpoint,
  spec: Prepared['spec'],
  identity: RunIdentity,
): void {
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
  checkSameRun(o.resume!, resumed.run, identity);
}

/**
 * Phase 2: the engine of the run's passes over its transport, chosen by name (the
 * `transport` option, else nats with `nats`, in-process with `workers: 0`, else threads).
 * Test and validation accuracy are passes of the same engine.
 */
async function openRunProblem(run: Prepared, options: TfjsTrainOptions): Promise<PassEngine> {
  const { o, sets } = run;
  const workers = o.workers ?? availableParallelism();
  const name = o.transport ?? (o.nats ? 'nats' : workers === 0 ? 'in-process' : 'threads');
  const problem = await openProblem(
    name,
    {
      net: run.net,
      data: sets.train,
      loss: o.loss,
      bsize: o.bsize,
      chunksPerResult: o.chunksPerResult,
      backend: run.backend,
      gv: o.gv,
      evalSets: { test: sets.test, val: sets.val },
    },
    { workers, nats: o.nats, [FAULTS]: faultsOf(options) },
  );
  problem.onProgress = o.onProgress;
  return problem;
}

/** What the iterations change: the solver, the history and the best iteration so far. */
interface RunState {
  solver: NewtonCG;
  history: TrainIteration[];
  /** with real-valued targets, by valRmse (lowest), else by valAcc (highest) */
  best: { iter: number; valAcc: number; valRmse?: number };
  bestParams: Float32Array | null;
  /**
   * the solver state that goes with `history` and `best`: that of the last iteration whose
   * report is in the history (the solver's own state is one iteration ahead while that
   * iteration's accuracy passes run)
   */
  committed: NewtonState;
  /** the hooks' logs of the last iteration of this run */
  logs: RunLogs | null;
}

/** The solver at the initial (or resumed) state. */
function startState(run: Prepared, problem: PassEngine): RunState {
  const { o, net, resumed } = run;
  let solver: NewtonCG;
  try {
    solver = new NewtonCG(
      problem,
      Float64Array.from(run.initialParams ?? initParams(net.layout, o.seed, o.init)),
      run.solverOptions,
    );
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  if (resumed) solver.restore(resumed.state);
  return {
    solver,
    history: (resumed?.history ?? []).map(
      // a checkpoint written before RMSE and R² existed has none: NaN, as a class run reports them
      (h) => ({ ...NO_REGRESSION, ...h }) as unknown as TrainIteration,
    ),
    best: resumed?.best ?? { iter: 0, valAcc: -1 },
    bestParams: null,
    committed: solver.state,
    logs: null,
  };
}

/**
 * The held-out metrics of θ on the test and validation sets: accuracies (class labels), or
 * RMSE and R² (real-valued targets), NaN where they do not apply; passes in the order test,
 * validation (one pass per set: `accuracy` or `squaredError` of a set of the other kind is
 * NaN without computing).
 */
async function heldOutMetrics(run: Prepared, problem: PassEngine, theta: Float64Array) {
  const of = async (set: EvalSetName) => {
    const acc = await problem.accuracy(theta, set);
    const { rmse, r2 } = regressionMetrics(
      await problem.squaredError(theta, set),
      run.spreads[set],
    );
    return { acc, rmse, r2 };
  };
  const test = await of('test');
  const val = await of('val');
  return {
    testAcc: test.acc,
    valAcc: val.acc,
    testRmse: test.rmse,
    testR2: test.r2,
    valRmse: val.rmse,
    valR2: val.r2,
  };
}

/** Whether iteration `it` is better than the best so far (by validation RMSE with targets). */
function isBetter(run: Prepared, s: RunState, it: TrainIteration): boolean {
  if (run.sets.val === undefined) return false;
  if (run.sets.val.targets) return it.valRmse < (s.best.valRmse ?? Infinity);
  return it.valAcc > s.best.valAcc;
}

/** The RMSE and R² of an iteration from a checkpoint written before they existed (NaN). */
const NO_REGRESSION = { testRmse: NaN, testR2: NaN, valRmse: NaN, valR2: NaN };

/** Writes the committed state into `dir`. */
function checkpoint(run: Prepared, s: RunState, dir: string): void {
  saveCheckpoint(dir, {
    spec: run.spec,
    loss: run.o.loss,
    state: s.committed,
    history: s.history as unknown as Record<string, unknown>[],
    best: s.best,
    run: run.identity,
    preprocessing: run.sets.preprocessing,
  });
}

/** A failed pass (a chunk failing 3 times): the last good state is written first, and named. */
function failed(run: Prepared, s: RunState, e: unknown): RunError {
  const dir = run.out ?? mkdtempSync(join(tmpdir(), 'tfjs-newton-'));
  checkpoint(run, s, dir);
  return new RunError(
    `${(e as Error).message}; the last good parameters (after iteration ${s.committed.iter}) are in ${dir}`,
    { cause: e },
  );
}

const isAbort = (run: Prepared, e: unknown) =>
  e instanceof AbortError && run.o.signal?.aborted === true;

/** How the iterations ended: all done, a failed line search, or the signal. */
interface Ended {
  stopped?: string;
  interrupted: boolean;
}

/**
 * Phase 3: iterations until `iters`: a step, its accuracies, then the commit (best model,
 * checkpoint, log line, onIteration) and the boundary (onBoundary, awaited: a pause).
 */
async function iterate(run: Prepared, problem: PassEngine, s: RunState): Promise<Ended> {
  const { o, spec, sets, out } = run;
  const signal = o.signal;
  // the log holds exactly the checkpointed history (a run killed between its checkpoint
  // and its log line loses nothing)
  if (o.log)
    writeFileSync(o.log, s.history.map((h) => JSON.stringify(logRecord(h)) + '\n').join(''));
  const elapsedSeconds0 = s.history.at(-1)?.elapsedSeconds ?? 0;
  const start = performance.now();
  /** ms spent waiting in onBoundary (a pause): not training time */
  let waitedMs = 0;
  const boundary = async () => {
    if (!o.onBoundary) return;
    const t0 = performance.now();
    await o.onBoundary({
      iter: s.committed.iter,
      params: Float32Array.from(s.committed.theta),
      spec,
      loss: o.loss,
      preprocessing: sets.preprocessing,
    });
    waitedMs += performance.now() - t0;
  };
  await run.hooks?.trainBegin(
    {
      epochs: o.iters,
      initialEpoch: s.committed.iter,
      samples: sets.train.n,
      steps: 1,
      batchSize: sets.train.n,
      verbose: 0,
      doValidation: sets.val !== undefined,
      metrics: [
        'loss',
        ...(sets.val
          ? ['val_loss', ...(sets.val.targets ? ['val_rmse', 'val_r2'] : ['val_acc'])]
          : []),
      ],
    },
    { spec, theta: Float32Array.from(s.committed.theta) },
  );
  await boundary();
  while (s.committed.iter < o.iters) {
    if (signal?.aborted) return interrupted(run, s);
    await run.hooks?.epochBegin(s.committed.iter);
    let it: TrainIteration;
    try {
      const rep = await s.solver.step();
      it = {
        ...rep,
        ...(await heldOutMetrics(run, problem, s.solver.params)),
        ...(o.fullObjective &&
          rep.gradSampleSize !== undefined &&
          rep.gradSampleSize < problem.numSamples && {
            fullF: s.solver.objective(s.solver.params, await problem.loss(s.solver.params)),
          }),
        elapsedSeconds: elapsedSeconds0 + (performance.now() - start - waitedMs) / 1000,
      };
    } catch (e) {
      if (e instanceof LineSearchError) return { stopped: e.message, interrupted: false };
      if (isAbort(run, e)) return interrupted(run, s);
      throw failed(run, s, e);
    }
    const params = Float32Array.from(s.solver.params);
    s.history.push(it);
    const better = isBetter(run, s, it);
    if (better) {
      // (a checkpoint's best holds valAcc -1 with targets: JSON has no NaN)
      s.best = sets.val?.targets
        ? { iter: it.iter, valAcc: -1, valRmse: it.valRmse }
        : { iter: it.iter, valAcc: it.valAcc };
      s.bestParams = params;
    }
    s.committed = s.solver.state;
    if (better && out)
      await saveModel(join(out, 'best'), {
        spec,
        theta: params,
        loss: o.loss,
        preprocessing: sets.preprocessing,
      });
    if (out) checkpoint(run, s, out);
    const phases = s.solver.phases;
    if (o.log) appendFileSync(o.log, JSON.stringify(logRecord(it, phases)) + '\n');
    o.onIteration?.(it, phases);
    run.tensorboard?.write(it);
    let stop = false;
    if (run.hooks) {
      s.logs = epochLogs(run, s, it);
      stop = await run.hooks.epochEnd(it.iter - 1, s.logs, params);
    }
    await boundary();
    if (stop)
      return {
        stopped: `stopped by a callback (model.stopTraining) after iteration ${it.iter}`,
        interrupted: false,
      };
  }
  return { interrupted: false };
}

/**
 * The logs of an iteration as tfjs's callbacks read them (see RunLogs): `loss` is the
 * mean training loss ξ at the new θ, f less the regulariser ‖θ‖²/(2Cl) (as the solver adds
 * it); `val_loss` is computed in this thread.
 */
function epochLogs(run: Prepared, s: RunState, it: TrainIteration): RunLogs {
  const { sets } = run;
  const theta = s.committed.theta;
  const regulariser = dot(theta, theta) / (2 * run.identity.C * sets.train.n);
  const logs: RunLogs = {
    loss: it.f - regulariser,
    f: it.f,
    gradNorm: it.gradNorm,
    lambda: it.lambda,
    cgIters: it.cgIters,
  };
  if (sets.val && run.valEvaluator) {
    run.valEvaluator.setParams(theta);
    logs.val_loss = evaluate(run.valEvaluator, sets.val, run.o.bsize).loss;
    if (sets.val.targets) {
      logs.val_rmse = it.valRmse;
      logs.val_r2 = it.valR2;
    } else logs.val_acc = it.valAcc;
  }
  if (sets.test.n > 0 && sets.test.targets) {
    logs.test_rmse = it.testRmse;
    logs.test_r2 = it.testR2;
  } else if (sets.test.n > 0) logs.test_acc = it.testAcc;
  return logs;
}

/** The signal stopped the run: the last completed iteration's state is written (also when none completed in this run). */
function interrupted(run: Prepared, s: RunState): Ended {
  if (run.out) checkpoint(run, s, run.out);
  return { stopped: `interrupted after iteration ${s.committed.iter}`, interrupted: true };
}

/**
 * Phase 4: the last parameters checked finite and saved (`last/`), and the test accuracy
 * (or RMSE and R²) at the last iterate: computed after it, unless the run was interrupted.
 */
async function finish(
  run: Prepared,
  problem: PassEngine,
  s: RunState,
  ended: Ended,
): Promise<TrainResult> {
  const { o, spec, sets, out } = run;
  const params = Float32Array.from(s.committed.theta);
  const bad = params.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0)
    throw failed(
      run,
      s,
      new Error(
        `θ[${bad}] is ${params[bad]} after iteration ${s.committed.iter}: the model is not finite`,
      ),
    );
  if (out)
    await saveModel(join(out, 'last'), {
      spec,
      theta: params,
      loss: o.loss,
      preprocessing: sets.preprocessing,
    });
  const last = s.history.at(-1);
  const lastTest = {
    testAcc: last?.testAcc ?? NaN,
    testRmse: last?.testRmse ?? NaN,
    testR2: last?.testR2 ?? NaN,
  };
  let test: typeof lastTest;
  if (ended.interrupted) test = lastTest;
  else {
    try {
      const theta = s.committed.theta;
      const { rmse, r2 } = regressionMetrics(
        await problem.squaredError(theta, 'test'),
        run.spreads.test,
      );
      test = { testAcc: await problem.accuracy(theta, 'test'), testRmse: rmse, testR2: r2 };
    } catch (e) {
      if (!isAbort(run, e)) throw failed(run, s, e);
      test = lastTest;
    }
  }
  return {
    network: run.net,
    params,
    bestParams: s.bestParams ?? params,
    bestIter: sets.val ? s.best.iter : s.committed.iter,
    history: s.history,
    ...test,
    backend: run.backend,
    workers: problem.workers,
    stopped: ended.stopped,
    interrupted: ended.interrupted,
  };
}
