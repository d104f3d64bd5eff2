/**
 * The options of a run, described once: their types (TrainOptions, FirstOrderOptions), their
 * defaults, and one table per trainer (key → OptionSpec: kind and range, CLI flag, help)
 * from which the CLI derives its flags, parsing and help, and against which the options are
 * checked once, at the library's edge, before any data is loaded or anything is computed (as
 * piscina validates its options once in its constructor). The solver's options come from
 * its own table (src/solver/options.ts), one row each. This module imports none of the run
 * files (train, baseline, prepare), which import it.
 *
 * - an object that is not a plain object, or an unknown key (a typo: `itres`), is a
 *   TypeError, with the closest known key suggested; a renamed one (RENAMED_OPTIONS:
 *   `xi`) is a TypeError giving its new name;
 * - a value of the wrong type (`seed: 'x'`, `model: 42`, `log: 12345`, `onIteration: 'print'`)
 *   is a TypeError naming the option;
 * - a number out of range (`gnRatio: -1`) or a string not in its list (`loss: 'hinge'`) is a
 *   RangeError naming the option;
 * - `undefined` is always allowed: it means the default.
 *
 * Checks that need the data (gnSize ≤ l, the model against the data's shape) or the file
 * system (paths, checkpoints) stay where that is known (`train`, `checkRunPaths`).
 *
 * The errors carry Node's `code` convention: 'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE' /
 * 'ERR_INVALID_ARG_VALUE' for the library; with style 'cli', 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
 * / 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', which the CLI's main prints as one line (exit 2),
 * like node:util parseArgs's own errors. They also carry `option` (the camelCase key).
 */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { GV_METHODS, type GvMethod } from '../autodiff/evaluator.js';
import { BACKENDS, type BackendChoice } from '../backend/select.js';
import type { Preprocessing, TrainTest } from '../data/dataset.js';
import type { DataOptions } from '../data/load.js';
import { tensorDataProblem, type TensorData } from '../data/tensors.js';
import { INITS, type InitName } from '../model/init.js';
import { LOSSES, lossUnit, type LossKind } from '../model/loss.js';
import { PRESET_HELP } from '../model/presets.js';
import type { ModelSpec } from '../model/spec.js';
import {
  NEWTON_DEFAULTS,
  RENAMED_NEWTON_OPTIONS,
  SOLVER_DEFAULTS,
  SOLVER_OPTION_SPECS,
  type IterationReport,
  type PhaseSeconds,
  type SolverOptions,
} from '../solver/options.js';
import type { ProgressFn } from '../solver/problem.js';
import type { NatsRunOptions } from '../transport/nats/coordinator.js';
import { CALLBACK_KEYS, isCallbackInstance, type FitCallbacks } from './callbacks.js';
import {
  choiceList,
  closestKey,
  describe,
  describeRange,
  flagOf,
  inRange,
  int,
  num,
  oneOf,
  positive,
  type OptionSpec,
} from './schema.js';

/**
 * The options of `train`: the run's below, and the solver's (C, cgMax, cgTolerance, method,
 * each remedy's, eta, lambda0), one row each in src/solver/options.ts, where their meaning,
 * range and default are.
 */
export interface TrainOptions
  extends Partial<Omit<DataOptions, 'data' | 'preprocessing'>>, Partial<SolverOptions> {
  /** 'digits', 'fashion-mnist', a folder of IDX files, a CSV/LIBSVM file, or data already loaded */
  data?: string | TrainTest;
  /** a preset name (`mlp:256,256`, `cnn4`, `cnn7`), a Keras/tfjs model.json file, or a spec */
  model?: string | ModelSpec;
  loss?: LossKind;
  /** |S| = round(gnRatio · l) unless gnSize is given */
  gnRatio?: number;
  gnSize?: number;
  /** total Newton iterations (a resumed run continues up to this count) */
  iters?: number;
  /** samples per chunk of every pass (bounds memory) */
  bsize?: number;
  /**
   * chunks each task sums before it sends one result (f+∇f, f and Gv passes): fewer bytes
   * over NATS; the groups belong to the plan, so a run is the same for any number of
   * workers given the same value (1: chunk by chunk, the default)
   */
  chunksPerResult?: number;
  seed?: number;
  /** the initial weights: 'he' (N(0, 2/fan_in), simpleNN's; the default) or 'sparse' (Martens 2010: 15 N(0, 1) weights per unit) */
  init?: InitName;
  /**
   * when f and ∇f are on a gradient sample (gradSample 'norm-test'): also measure the
   * objective on all l training samples after each iteration, reported as `fullF` (a
   * measurement like the test accuracy: one f pass, not in iterSeconds)
   */
  fullObjective?: boolean;
  backend?: BackendChoice;
  /** how Gauss-Newton products are computed: 'linearized' (default, faster) or 'double-vjp' (the reference) */
  gv?: GvMethod;
  /**
   * compute worker threads, each with its own backend; 0 computes in the calling thread.
   * Default: the machine's available parallelism.
   */
  workers?: number;
  /**
   * what carries the passes' chunks to compute, by name (src/transport/registry.ts):
   * 'in-process', 'threads', 'nats', or one registered with `registerTransport`. Default:
   * 'nats' with `nats`, 'in-process' with `workers: 0`, else 'threads'.
   */
  transport?: string;
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
  /**
   * TensorBoard folder: f, gradNorm, lambda, cgIters, testAcc, valAcc per iteration
   * (needs the native backend, @tensorflow/tfjs-node)
   */
  tensorboard?: string;
  /**
   * tfjs fit-style callbacks (`tf.node.tensorBoard(dir)`, `tf.callbacks.earlyStopping()`,
   * `{ onEpochEnd(epoch, logs) {...} }`): one Newton iteration is one epoch; see
   * src/run/callbacks.ts for the logs. `model.stopTraining = true` stops the run.
   */
  callbacks?: FitCallbacks;
  /**
   * called after each iteration is committed, with where its time went (`phases`: the
   * f+∇f pass, CG, choosing the direction, the line search; also in the log's lines)
   */
  onIteration?: (r: TrainIteration, phases: PhaseSeconds) => void;
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
 * The options of `train`: TrainOptions, with the caller's tfjs objects allowed as data and
 * model (what the first-order baselines do not take).
 */
export interface TfjsTrainOptions extends Omit<TrainOptions, 'data' | 'model'> {
  /**
   * as TrainOptions's, or tensors `{ x, y, testX?, testY?, valX?, valY? }`: y one-hot rows
   * or class labels; the samples are taken as they are (not preprocessed); the tensors are
   * copied, never disposed
   */
  data?: TrainOptions['data'] | TensorData;
  /**
   * as TrainOptions's, or a tf.LayersModel: trained in place from its current weights (set
   * after every iteration and at the end); a final Dense 'softmax' is taken, with loss
   * 'ce', as the softmax of the loss (Newton trains its logits; the model keeps its softmax)
   */
  model?: TrainOptions['model'] | tf.LayersModel;
}

/**
 * One iteration as `train` reports it: the solver's report (`iterSeconds`: the wall time of
 * this iteration's step) with the accuracies and `elapsedSeconds`.
 */
export interface TrainIteration extends IterationReport {
  /** accuracy on the test set (NaN without one, or with real-valued targets) */
  testAcc: number;
  /** accuracy on the validation set (NaN without one, or with real-valued targets) */
  valAcc: number;
  /**
   * with real-valued targets: the root mean squared error of the predictions (z through
   * the loss's output activation: identity for mse, sigmoid for bce) on the test set,
   * over all its values (NaN without one, or for class labels)
   */
  testRmse: number;
  /** with real-valued targets: R² = 1 − SSE/SST on the test set, SST about its own target means (else NaN) */
  testR2: number;
  /** the same on the validation set */
  valRmse: number;
  valR2: number;
  /**
   * with `fullObjective`, when this iteration's f is over a gradient sample X (|X| < l):
   * the objective on all l training samples at the iteration's θ (f itself is X's)
   */
  fullF?: number;
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
  /**
   * also evaluate (f, ‖∇f‖, test accuracy: an EpochReport) whenever this many seconds of
   * minibatch steps have passed since the last evaluation, within an epoch: finer
   * time-to-accuracy measurements for races (default: once per epoch)
   */
  evalEverySeconds?: number;
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
  /** with evalEverySeconds: minibatch steps so far (several reports may share an epoch) */
  steps?: number;
}

/** The run's defaults (the solver's are its own: SOLVER_DEFAULTS, resolved by the solver). */
export const TRAIN_DEFAULTS = {
  data: 'digits' as string | TrainTest,
  model: 'mlp:64,64' as string | ModelSpec,
  loss: 'ce' as LossKind,
  gnRatio: 0.05,
  iters: 30,
  bsize: 1024,
  chunksPerResult: 1,
  seed: 1,
  init: 'he' as InitName,
  backend: 'auto' as BackendChoice,
  gv: 'linearized' as GvMethod,
};

/** The first-order baselines' defaults (lr depends on the optimiser: FIRST_ORDER_LR). */
export const FIRST_ORDER_DEFAULTS = { batch: 128, epochs: 10, momentum: 0 };
export const FIRST_ORDER_LR: Readonly<Record<Optim, number>> = { adam: 1e-3, sgd: 1e-2 };

/**
 * Every default an option table may show (the help's "(default X)"): the run's, the
 * solver's, the baselines'. Options with no single default (C, lr, workers) say theirs in
 * their help.
 */
export const DEFAULTS: Readonly<Record<string, unknown>> = {
  ...SOLVER_DEFAULTS,
  ...TRAIN_DEFAULTS,
  ...FIRST_ORDER_DEFAULTS,
  C: undefined,
};

const path = (flag: string, help: string, value = 'DIR'): OptionSpec => ({
  type: { kind: 'path' },
  flag,
  value,
  help,
});
const fn: OptionSpec = { type: { kind: 'function' } };

/**
 * Every key of TrainOptions, in the order the CLI's help lists them (the mapped type makes
 * tsc fail when a key is added there and not here); the solver's rows come from its table.
 */
export const NEWTON_OPTIONS: { readonly [K in keyof Required<TfjsTrainOptions>]: OptionSpec } = {
  data: {
    type: { kind: 'data' },
    flag: '--data',
    value: 'NAME|PATH',
    help:
      'digits (embedded: 1,797 8x8 images, a fixed 80/20 split), fashion-mnist,\n' +
      'friedman1 (regression: 10 features, y = Friedman 1991 + N(0, 1) noise;\n' +
      '5,000 training and 1,000 test samples from a fixed seed), a folder of\n' +
      'MNIST-style IDX files, or a CSV / LIBSVM file (plain or .gz; the format from\n' +
      'the name, else sniffed)',
  },
  dataDir: path(
    '--data-dir',
    'Fashion-MNIST folder (else $TFJS_NEWTON_DATA, else /usr/share/datasets/fashion-mnist,\n' +
      "where Debian's dataset-fashion-mnist puts it)",
  ),
  test: path('--test', 'test set for file data (same format)', 'FILE'),
  val: path(
    '--val',
    'validation set for file data; --val-split R holds out a fraction R of the\n' +
      'training samples instead. The best model by validation accuracy (RMSE\n' +
      'with real-valued targets) is kept.',
    'FILE',
  ),
  valSplit: {
    type: num({ min: 0, max: 1 }),
    flag: '--val-split',
    value: 'R',
    help: 'the fraction of the training samples held out for validation (seeded)',
  },
  labelCol: {
    type: { kind: 'string' },
    flag: '--label-col',
    value: 'C',
    help: 'CSV label column: index from 0, negative from the end, or header name (default last)',
  },
  targets: {
    type: { kind: 'string' },
    flag: '--targets',
    value: 'WHAT',
    help:
      'what the model learns to output: labels (classes; the default), inputs\n' +
      '(the samples themselves, scaled but not centred: an autoencoder, e.g. with\n' +
      '--loss bce), or CSV columns of real-valued targets, by header name or index\n' +
      'from 0, negative from the end (y1,y2 or --targets=-2,-1): the other columns\n' +
      "are the features (no --label-col). friedman1's targets are its y",
  },
  trainSamples: {
    type: int(1),
    flag: '--train-samples',
    value: 'N',
    help: 'train on the first N training samples only',
  },
  shape: {
    type: { kind: 'intArray', range: { min: 1 } },
    flag: '--shape',
    value: 'H,W,C',
    help: 'sample shape for CNNs on flat file data',
  },
  scale: {
    type: num(positive),
    flag: '--scale',
    value: 'X',
    help: 'divide features by X before centring (default 255 for IDX, 16 for digits, 1 for files)',
  },
  model: {
    type: { kind: 'model' },
    flag: '--model',
    value: 'NAME|FILE',
    help:
      `${PRESET_HELP}, or a Keras/tfjs model.json (a Sequential of\n` +
      'Dense, Conv2D, MaxPooling2D, AveragePooling2D, Flatten)',
  },
  loss: {
    type: oneOf(LOSSES),
    flag: '--loss',
    value: LOSSES.join('|'),
    help:
      LOSSES.map((name) => `${name}: ${lossUnit(name).summary}`).join('\n') +
      ' (on one-hot targets)',
  },
  gnRatio: {
    type: num({ min: 0, minOpen: true, max: 1 }),
    flag: '--gn-ratio',
    value: 'R',
    help: 'Gauss-Newton subset size as a fraction of l',
  },
  gnSize: {
    type: int(1),
    flag: '--gn-size',
    value: 'N',
    help: 'Gauss-Newton subset size in samples (overrides --gn-ratio)',
  },
  ...SOLVER_OPTION_SPECS,
  iters: {
    type: int(0),
    flag: '--iters',
    value: 'N',
    help: 'Newton iterations (a resumed run continues up to this total)',
  },
  bsize: {
    type: int(1),
    flag: '--bsize',
    value: 'N',
    help: 'samples per chunk of every pass (bounds memory; fixes the reduction order)',
  },
  chunksPerResult: {
    type: int(1),
    flag: '--chunks-per-result',
    value: 'N',
    help:
      'chunks a worker sums (in order) before it sends one result: N times fewer\n' +
      'result bytes over NATS, N times fewer tasks to spread; part of the reduction\n' +
      'order, the same for any number of workers (default 1: chunk by chunk)',
  },
  gv: {
    type: oneOf(GV_METHODS),
    flag: '--gv',
    value: 'M',
    help:
      'how Gauss-Newton products are computed: linearized (the forward pass once per\n' +
      'CG solve, then per-layer sweeps) or double-vjp (the reference)',
  },
  seed: {
    type: int(),
    flag: '--seed',
    value: 'N',
    help: 'seed of the initial weights and the subsets',
  },
  fullObjective: {
    type: { kind: 'boolean' },
    flag: '--full-objective',
    help:
      'with --grad-sample norm-test: also measure f on all training samples after each\n' +
      'iteration (fullF in the log; one f pass, not counted in iterSeconds)',
  },
  init: {
    type: oneOf(INITS),
    flag: '--init',
    value: 'I',
    help:
      "the initial weights, biases 0: he (N(0, 2/fan_in), simpleNN's) or sparse\n" +
      '(Martens 2010: 15 nonzero N(0, 1) incoming weights per unit, for sigmoid and\n' +
      'tanh units, as in the Hessian-free autoencoders)',
  },
  backend: {
    type: oneOf(BACKENDS),
    flag: '--backend',
    value: 'B',
    help: `${BACKENDS.join('|')} (auto: tensorflow if @tensorflow/tfjs-node loads, else wasm)`,
  },
  workers: {
    type: int(0),
    flag: '--workers',
    value: 'N',
    help:
      'compute worker threads, each with its own backend (default: available\n' +
      'parallelism; 0 = in the main thread)',
  },
  transport: {
    type: { kind: 'string' },
    flag: '--transport',
    value: 'T',
    help:
      'what carries the chunks: in-process, threads or nats (default: nats with --nats,\n' +
      'in-process with --workers 0, else threads)',
  },
  out: path(
    '--out',
    'run folder: a checkpoint (θ, λ, iteration, generator state, history) after every\n' +
      'iteration, written atomically; the model as tfjs model.json + weights.bin in\n' +
      "DIR/last (and DIR/best with validation). A failed run's last good state goes\n" +
      'here (else to a temporary folder, named in the error)',
  ),
  resume: path(
    '--resume',
    'continue the run checkpointed in DIR (same options; --iters is the total): the\n' +
      'same trajectory as a run that never stopped',
  ),
  nats: {
    type: { kind: 'nats' },
    flag: '--nats',
    value: 'URL',
    help:
      'compute on worker processes reached through this NATS server (start\n' +
      "'tfjs-newton worker --nats URL' on each machine) instead of local threads;\n" +
      'the same trajectory. --nats-token T | --nats-user U --nats-pass P |\n' +
      '--nats-creds FILE | --nats-nkey FILE authenticate (NATS_TOKEN, NATS_USER,\n' +
      'NATS_PASS from the environment too); --tls-ca, --tls-cert, --tls-key for TLS;\n' +
      '--nats-no-upload: the data stays here, workers load it themselves (worker --data)',
  },
  log: path(
    '--log',
    'write one JSON object per iteration: iter, f, gradNorm, alpha, lambda, cgIters,\n' +
      'elapsedSeconds (wall time since training started, over resumes), testAcc,\n' +
      "valAcc, rho, iterSeconds (this iteration's wall time), gnSize, gvProducts,\n" +
      'lossPasses; with real-valued targets also testRmse, testR2, valRmse, valR2;\n' +
      "with --optim one per epoch (iterSeconds: the epoch's, with trainSeconds: the\n" +
      'time in minibatch steps so far)',
    'FILE',
  ),
  tensorboard: path(
    '--tensorboard',
    'write TensorBoard scalars per iteration into DIR: f, gradNorm, lambda, cgIters,\n' +
      'testAcc, valAcc (needs the native backend, @tensorflow/tfjs-node)',
  ),
  callbacks: { type: { kind: 'callbacks' } },
  onIteration: fn,
  onProgress: fn,
  onBoundary: fn,
  signal: { type: { kind: 'signal' } },
};

/**
 * The keys FirstOrderOptions adds. `trainFirstOrder` also takes every Newton key: the CLI
 * passes the same options to both, and Newton-only ones (gv, cgMax, gnRatio, workers, ...)
 * are harmless there (ignored).
 */
export const FIRST_ORDER_OPTIONS: {
  readonly [K in Exclude<keyof FirstOrderOptions, keyof TrainOptions>]-?: OptionSpec;
} = {
  optim: {
    type: oneOf(OPTIMS),
    flag: '--optim',
    value: 'O',
    required: true,
    help: 'newton (default), or a first-order baseline on the same objective: adam | sgd',
  },
  lr: {
    type: num(positive),
    flag: '--lr',
    value: 'X',
    help: `the baseline's learning rate (default: adam ${FIRST_ORDER_LR.adam}, sgd ${FIRST_ORDER_LR.sgd})`,
  },
  batch: { type: int(1), flag: '--batch', value: 'N', help: "the baseline's minibatch size" },
  epochs: { type: int(1), flag: '--epochs', value: 'N', help: "the baseline's epochs" },
  momentum: {
    type: num({ min: 0, max: 1 }),
    flag: '--momentum',
    value: 'X',
    help: "SGD's momentum",
  },
  maxTrainSeconds: { type: num(positive) },
  evalEverySeconds: { type: num(positive) },
  onEpoch: fn,
};

/**
 * Options renamed since they were released, old key → new key: the old one is refused with
 * the new name (`option 'xi' was renamed 'cgTolerance'`; the CLI's `--xi` likewise, see
 * checkRenamedFlags), never silently ignored.
 */
export const RENAMED_OPTIONS: Readonly<Record<string, keyof TrainOptions>> = {
  ...RENAMED_NEWTON_OPTIONS,
};

/** How the CLI says a flag was renamed: `--xi was renamed --cg-tolerance; use --cg-tolerance instead`. */
function renamedFlagMessage(old: string): string {
  const now = RENAMED_OPTIONS[old];
  const to = NEWTON_OPTIONS[now].flag ?? flagOf(now);
  return `${flagOf(old)} was renamed ${to}; use ${to} instead`;
}

/**
 * Throws the CLI's one-line error (code ERR_PARSE_ARGS_UNKNOWN_OPTION: exit 2) if the
 * arguments hold a renamed flag (`--xi X` or `--xi=X`, before any `--`), which node:util
 * parseArgs would only call unknown. Run it before parseArgs.
 */
export function checkRenamedFlags(argv: readonly string[]): void {
  for (const arg of argv) {
    if (arg === '--') return;
    const flag = arg.split('=', 1)[0];
    const old = Object.keys(RENAMED_OPTIONS).find((k) => flagOf(k) === flag);
    if (old !== undefined)
      fail(TypeError, renamedFlagMessage(old), old, 'ERR_PARSE_ARGS_UNKNOWN_OPTION');
  }
}

export type Trainer = 'newton' | 'first-order';
export type MessageStyle = 'library' | 'cli';

/** The options schema of a trainer: key → spec. */
export function optionSchema(which: Trainer): Readonly<Record<string, OptionSpec>> {
  return which === 'newton' ? NEWTON_OPTIONS : { ...NEWTON_OPTIONS, ...FIRST_ORDER_OPTIONS };
}

/** An option error: a TypeError or RangeError with the option's key and a Node-style code. */
export interface OptionError extends Error {
  code: string;
  /** the option's key, camelCase */
  option: string;
}

function fail(
  Cls: TypeErrorConstructor | RangeErrorConstructor,
  message: string,
  option: string,
  code: string,
): never {
  const e = new Cls(message) as OptionError;
  e.code = code;
  e.option = option;
  throw e;
}

/** How an error names an option: `option 'gnRatio'` or, for the CLI, `--gn-ratio`. */
function nameOf(key: string, spec: OptionSpec | undefined, style: MessageStyle): string {
  if (style === 'cli' && spec?.flag) return spec.flag;
  return `option '${key}'`;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/** Any non-array object (loaded data and specs may be class instances). */
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isIntArray = (v: unknown): v is number[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x));

/** A loaded data set, as far as can be told without reading it: n, inputShape, x, labels. */
const isDataset = (d: unknown): boolean => {
  if (typeof d !== 'object' || d === null) return false;
  const s = d as Record<string, unknown>;
  return (
    typeof s.n === 'number' &&
    isIntArray(s.inputShape) &&
    ArrayBuffer.isView(s.x) &&
    ArrayBuffer.isView(s.labels) &&
    typeof s.numClasses === 'number'
  );
};

/** The first-order baselines take data and models by name, file or as loaded, not tfjs objects. */
function notForBaselines(name: string, key: string, what: string): never {
  fail(
    TypeError,
    `${name}: trainFirstOrder does not take ${what} (use the model's own fit() for first-order training)`,
    key,
    'ERR_INVALID_ARG_TYPE',
  );
}

/**
 * Throws a TypeError or RangeError if `options` is not valid for `which` trainer; returns
 * otherwise. `style` chooses how the messages name options: the library's camelCase keys
 * (`option 'gnRatio' must be in (0, 1], got -1`) or the CLI's flags (`--gn-ratio must be
 * in (0, 1], got -1`). Run it once, first, before any data loading or compute.
 */
export function validateOptions(
  options: unknown,
  which: Trainer,
  style: MessageStyle = 'library',
): void {
  const cli = style === 'cli';
  const typeCode = cli ? 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' : 'ERR_INVALID_ARG_TYPE';
  const rangeCode = cli ? 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' : 'ERR_OUT_OF_RANGE';
  const valueCode = cli ? 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' : 'ERR_INVALID_ARG_VALUE';
  const what = which === 'newton' ? 'train' : 'trainFirstOrder';
  if (options === undefined && which === 'newton') return; // train() = train({})
  if (!isPlainObject(options))
    fail(
      TypeError,
      `the options of ${what} must be an object, got ${describe(options)}`,
      '',
      typeCode,
    );
  const schema = optionSchema(which);
  const known = Object.keys(schema);
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(schema, key)) continue;
    if (Object.hasOwn(RENAMED_OPTIONS, key)) {
      fail(
        TypeError,
        cli ? renamedFlagMessage(key) : `option '${key}' was renamed '${RENAMED_OPTIONS[key]}'`,
        key,
        cli ? 'ERR_PARSE_ARGS_UNKNOWN_OPTION' : 'ERR_INVALID_ARG_VALUE',
      );
    }
    const near = closestKey(
      key,
      known.filter((k) => !cli || schema[k].flag),
    );
    const show = (k: string) => (cli ? (schema[k]?.flag ?? flagOf(k)) : `'${k}'`);
    const hint = near === undefined ? '' : ` (did you mean ${show(near)}?)`;
    fail(
      TypeError,
      `unknown option ${cli ? flagOf(key) : `'${key}'`}${hint}`,
      key,
      cli ? 'ERR_PARSE_ARGS_UNKNOWN_OPTION' : 'ERR_INVALID_ARG_VALUE',
    );
  }
  for (const [key, spec] of Object.entries(schema)) {
    const v = options[key];
    const name = nameOf(key, spec, style);
    if (v === undefined) {
      if (spec.required) fail(TypeError, `${name} is required`, key, typeCode);
      continue;
    }
    const t = spec.type;
    const wrongType = (expected: string): never =>
      fail(TypeError, `${name} must be ${expected}, got ${describe(v)}`, key, typeCode);
    switch (t.kind) {
      case 'string':
        if (typeof v !== 'string') wrongType('a string');
        break;
      case 'boolean':
        if (typeof v !== 'boolean') wrongType('true or false');
        break;
      case 'path':
        if (typeof v !== 'string') wrongType('a path (a string)');
        if (v === '')
          fail(TypeError, `${name} must be a path, got an empty string`, key, valueCode);
        break;
      case 'number':
      case 'integer': {
        const isInt = t.kind === 'integer';
        const range = describeRange(t.range);
        const expected = isInt
          ? range
            ? `an integer ${range}`
            : 'an integer'
          : range
            ? `a number ${range}`
            : 'a number';
        if (typeof v !== 'number' || Number.isNaN(v)) wrongType(expected);
        const n = v as number;
        if (isInt && Number.isFinite(n) && !Number.isInteger(n)) wrongType(expected);
        if (!inRange(n, t.range))
          fail(
            RangeError,
            `${name} must be ${isInt ? `an integer ${range}` : range || 'finite'}, got ${n}`,
            key,
            rangeCode,
          );
        break;
      }
      case 'oneOf': {
        const list = choiceList(t.values);
        if (typeof v !== 'string') wrongType(list);
        if (!t.values.includes(v as string))
          fail(RangeError, `${name} must be ${list}, got ${describe(v)}`, key, valueCode);
        break;
      }
      case 'function':
        if (typeof v !== 'function') wrongType('a function');
        break;
      case 'signal':
        if (!(v instanceof AbortSignal)) wrongType('an AbortSignal');
        break;
      case 'object':
        if (!isPlainObject(v)) wrongType('an object');
        break;
      case 'nats':
        if (!isPlainObject(v) || typeof (v as { url?: unknown }).url !== 'string')
          wrongType(
            'NATS options ({ url, and optionally token, user, pass, credsFile, nkeySeedFile, tlsCa, tlsCert, tlsKey })',
          );
        if ((v as { url: string }).url === '')
          fail(
            TypeError,
            `${name} must name a server (nats://host:port), got an empty url`,
            key,
            valueCode,
          );
        break;
      case 'intArray': {
        const range = describeRange(t.range);
        if (!isIntArray(v) || v.length === 0)
          wrongType(`a non-empty array of integers${range ? ` ${range}` : ''}`);
        const bad = (v as number[]).find((x) => !inRange(x, t.range));
        if (bad !== undefined)
          fail(RangeError, `${name} must hold integers ${range}, got ${bad}`, key, rangeCode);
        break;
      }
      case 'data': {
        const expected =
          'a data set name or path (a string), loaded data ({ train, test } Datasets, as loadData returns) or tensors ({ x, y, testX?, testY?, valX?, valY? })';
        if (typeof v === 'string') {
          if (v === '')
            fail(
              TypeError,
              `${name} must be a data set name or path, got an empty string`,
              key,
              valueCode,
            );
        } else if (isObject(v) && 'x' in v && !('train' in v)) {
          const problem = tensorDataProblem(v, (t) => t instanceof tf.Tensor);
          if (problem)
            wrongType(`tensors ({ x, y, testX?, testY?, valX?, valY? }), got ${problem}`);
          if (which !== 'newton') notForBaselines(name, key, 'tensors');
        } else if (!isObject(v) || !isDataset(v.train) || !isDataset(v.test)) wrongType(expected);
        break;
      }
      case 'model': {
        const expected =
          'a preset name, a model.json path (a string) or a ModelSpec ({ inputShape, layers } arrays)';
        if (typeof v === 'string') {
          if (v === '')
            fail(
              TypeError,
              `${name} must be a preset name or a model.json path, got an empty string`,
              key,
              valueCode,
            );
        } else if (v instanceof tf.LayersModel) {
          if (which !== 'newton') notForBaselines(name, key, 'a tf.LayersModel');
        } else if (isObject(v) && typeof v.toJSON === 'function' && Array.isArray(v.layers))
          wrongType(
            "a tf.LayersModel of this library's @tensorflow/tfjs (this one is of another copy: deduplicate @tensorflow/tfjs, e.g. npm dedupe)",
          );
        else if (!isObject(v) || !isIntArray(v.inputShape) || !Array.isArray(v.layers))
          wrongType(`${expected} or a tf.LayersModel`);
        break;
      }
      case 'callbacks': {
        const expected =
          'tfjs callbacks: a callback (tf.callbacks.earlyStopping(), tf.node.tensorBoard()), an object of callback functions ({ onEpochEnd, ... }), or a list of them';
        const list: unknown[] = Array.isArray(v) ? (v as unknown[]) : [v];
        for (const c of list) {
          if (!isObject(c)) return wrongType(expected);
          if (isCallbackInstance(c)) continue;
          for (const [k, f] of Object.entries(c)) {
            if (!CALLBACK_KEYS.includes(k)) {
              const near = closestKey(k, CALLBACK_KEYS);
              fail(
                TypeError,
                `${name}: unknown callback '${k}'${near ? ` (did you mean '${near}'?)` : ''}`,
                key,
                valueCode,
              );
            }
            if (typeof f !== 'function')
              fail(
                TypeError,
                `${name}: ${k} must be a function, got ${describe(f)}`,
                key,
                typeCode,
              );
          }
        }
        break;
      }
    }
  }
}

/**
 * A one-line warning when `workers` exceeds the machine's available parallelism (threads
 * then compete for cores: 64 workers on 2 cores took 80 s for one digits iteration), else
 * null. `cores` is for tests.
 */
export function workersWarning(
  workers: number | undefined,
  cores: number = availableParallelism(),
): string | null {
  if (workers === undefined || !(workers > cores)) return null;
  return `--workers ${workers} is more than the ${cores} core${cores === 1 ? '' : 's'} here: threads will compete for them`;
}

/**
 * The default regularisation constant C for `data`. The embedded digits set is small
 * (l = 1,438 training samples): simpleNN's C = 0.01 weighs ‖θ‖²/(2Cl) so heavily there that
 * it over-regularises (79.7% test accuracy against 97% with C = 1), so digits gets C = 1.
 * Everything else keeps simpleNN's default, NEWTON_DEFAULTS.C. `undefined` is the default
 * data (TRAIN_DEFAULTS.data, digits); loaded data counts as digits by its name.
 */
export function defaultC(data: unknown): number {
  const d = data === undefined ? TRAIN_DEFAULTS.data : data;
  const name =
    typeof d === 'string' ? d : isObject(d) && typeof d.name === 'string' ? d.name : undefined;
  return name === 'digits' ? 1 : NEWTON_DEFAULTS.C;
}

/** The options with the run's defaults filled in (undefined ones are not given). */
export function withDefaults<T extends TrainOptions>(options: T) {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
  return { ...TRAIN_DEFAULTS, ...given };
}

export type ResolvedOptions = ReturnType<typeof withDefaults<TrainOptions>>;
