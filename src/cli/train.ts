/** `tfjs-newton train`: options, one readable line per iteration, final accuracy. */
import { NATS_FLAGS, natsOptionsFromFlags } from '../transport/nats/connect.js';
import { parseArgs } from 'node:util';
import type { GvMethod } from '../autodiff/evaluator.js';
import { isBackendChoice, nativeUnavailable } from '../backend/select.js';
import { checkRenamedFlags, flagOf, validateOptions, workersWarning } from '../options.js';
import { UsageError } from '../errors.js';
import { LOSSES, lossList, type LossKind } from '../model/loss.js';
import { PRESET_HELP } from '../model/presets.js';
import {
  HF_METHOD,
  NEWTON_DEFAULTS,
  SIMPLENN_METHOD,
  type MethodOptions,
  type NewtonMethod,
} from '../solver/newton.js';
import { TRAIN_DEFAULTS } from '../run.js';
import { train, type TrainIteration } from '../train.js';
import { DATA_FLAGS, dataOptionsFromFlags, num } from './args.js';
import { ProgressBar } from './progress.js';
import { OPTIMS, trainFirstOrder, type Optim } from '../baseline.js';

export const TRAIN_HELP = `Usage: tfjs-newton train [options]

Trains a network with subsampled Gauss-Newton Newton-CG (simpleNN's method).

  --data NAME|PATH    digits (embedded, default), fashion-mnist, a folder of MNIST-style IDX files,
                      or a CSV / LIBSVM file (plain or .gz; the format from the name, else sniffed)
  --data-dir DIR      Fashion-MNIST folder (else $TFJS_NEWTON_DATA, else /usr/share/datasets/fashion-mnist)
  --test FILE         test set for file data (same format)
  --val FILE          validation set for file data; --val-split R holds out a fraction R of the
                      training samples instead. The best model by validation accuracy is kept.
  --label-col C       CSV label column: index from 0, negative from the end, or header name (default last)
  --shape H,W,C       sample shape for CNNs on flat file data
  --scale X           divide features by X before centring (default 255 for IDX, 16 for digits, 1 for files)
  --model NAME|FILE   ${PRESET_HELP}, or a Keras/tfjs model.json (Sequential) (default ${TRAIN_DEFAULTS.model})
  --loss ce|mse       softmax cross-entropy or squared error on one-hot targets (default ce)
  --C X               regularisation: f = ‖θ‖²/(2·C·l) + mean loss (default ${NEWTON_DEFAULTS.C}; 1 for the
                      embedded digits, whose 1,438 samples C = 0.01 over-regularises)
  --gn-ratio R        Gauss-Newton subset size as a fraction of l (default ${TRAIN_DEFAULTS.gnRatio})
  --gn-size N         Gauss-Newton subset size in samples (overrides --gn-ratio)
  --cg-max N          CG steps per iteration at most (default ${NEWTON_DEFAULTS.cgMax})
  --cg-tolerance X    CG stops at ‖r‖ ≤ X·‖∇f‖ (default ${NEWTON_DEFAULTS.cgTolerance}, simpleNN's ξ_cg; formerly --xi)
  --method M          simplenn (default: simpleNN's algorithm exactly) or hf, Martens's Hessian-free
                      remedies (HF_METHOD in src/solver/newton.ts):
                      ${hfSet()}
                      (each flag below overrides its method's value)
  --cg-init I         where CG starts: zero (simplenn) or previous: from the last iteration's CG
                      solution times --cg-init-decay (one extra Gv product per iteration)
  --cg-init-decay X   that factor, in (0, 1] (default ${SIMPLENN_METHOD.cgInitDecay})
  --cg-stop S         residual (simplenn) or quadratic: CG also stops when the quadratic model stalls
                      (Martens's test: progress over the last k steps below k·--cg-quadratic-tolerance)
  --cg-quadratic-tolerance X
                      that tolerance (default ${SIMPLENN_METHOD.cgQuadraticTolerance})
  --cg-keep-best K    keep K CG iterates (at steps 1, 2, 3, 4, 5, 7, 9, ...) and step along the one of
                      lowest f, searched back from the last (0 = off, simplenn; costs up to K f passes)
  --preconditioner P  none (simplenn) or diagonal: CG preconditioned by (Σ chunk gradient² / l + λ +
                      1/(C·l))^α, from the f+∇f pass (no extra pass)
  --preconditioner-exponent X
                      that α, in (0, 1] (default ${SIMPLENN_METHOD.preconditionerExponent})
  --gn-growth G       fixed (simplenn) or gradient: |S| = |S₀|·(‖∇f₀‖/‖∇f‖)^p, between |S₀|
                      (--gn-size/--gn-ratio) and l
  --gn-growth-power P that exponent p (default ${SIMPLENN_METHOD.gnGrowthPower})
  --iters N           Newton iterations (default ${TRAIN_DEFAULTS.iters})
  --bsize N           samples per chunk of every pass (default ${TRAIN_DEFAULTS.bsize})
  --gv M              how Gauss-Newton products are computed: linearized (default: the forward pass
                      once per CG solve, then per-layer sweeps) or double-vjp (the reference)
  --seed N            seed of the initial weights and the subsets (default ${TRAIN_DEFAULTS.seed})
  --backend B         auto|wasm|cpu|tensorflow (default auto: tensorflow if @tensorflow/tfjs-node loads, else wasm)
  --workers N         compute worker threads, each with its own backend (default: available
                      parallelism; 0 = in the main thread)
  --out DIR           run folder: a checkpoint (θ, λ, iteration, generator state, history) after every
                      iteration, written atomically; the model as tfjs model.json + weights.bin in
                      DIR/last (and DIR/best with validation). A failed run's last good state goes
                      here (else to a temporary folder, named in the error)
  --resume DIR        continue the run checkpointed in DIR (same options; --iters is the total)
                      Ctrl-C (SIGINT) or SIGTERM stops a run within about one chunk's compute, after
                      writing the last completed iteration's checkpoint to --out; exit code 130 or
                      143 (a second Ctrl-C exits at once)
  --optim O           newton (default), or a first-order baseline on the same objective: adam | sgd
  --lr X, --batch N, --epochs N, --momentum X
                      baseline settings (lr: adam 1e-3, sgd 1e-2; batch 128; epochs 10; momentum 0)
  --nats URL          compute on worker processes reached through this NATS server (start
                      'tfjs-newton worker --nats URL' on each machine) instead of local threads;
                      the same trajectory. --nats-token T | --nats-user U --nats-pass P |
                      --nats-creds FILE | --nats-nkey FILE authenticate (NATS_TOKEN, NATS_USER,
                      NATS_PASS from the environment too); --tls-ca, --tls-cert, --tls-key for TLS;
                      --nats-no-upload: the data stays here, workers load it themselves (worker --data)
  --log FILE          write one JSON object per iteration: iter, f, gradNorm, alpha, lambda, cgIters,
                      elapsedSeconds (wall time since training started, over resumes), testAcc,
                      valAcc, rho, iterSeconds (this iteration's wall time), gnSize, gvProducts,
                      lossPasses; with --optim one per epoch (iterSeconds: the epoch's, with
                      trainSeconds: the time in minibatch steps so far)
`;

/** What --method hf changes, as flags: `--cg-init previous, ...`. */
function hfSet(): string {
  return (Object.keys(HF_METHOD) as (keyof MethodOptions)[])
    .filter((k) => HF_METHOD[k] !== SIMPLENN_METHOD[k])
    .map((k) => `${flagOf(k)} ${HF_METHOD[k]}`)
    .reduce(
      (lines, flag, i) =>
        i % 2 === 0 ? [...lines, flag] : [...lines.slice(0, -1), `${lines.at(-1)}, ${flag}`],
      [] as string[],
    )
    .join(',\n' + ' '.repeat(22));
}

/** The NATS options of the command line, if any. */
function natsRun(values: Record<string, string | boolean | undefined>) {
  const nats = natsOptionsFromFlags(values);
  if (!nats) {
    if (values['nats-no-upload']) throw new UsageError('--nats-no-upload needs --nats URL');
    return undefined;
  }
  return values['nats-no-upload'] ? { ...nats, upload: false } : nats;
}

const pct = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(2)}%`);

export function formatIteration(it: TrainIteration): string {
  return (
    `iter ${String(it.iter).padStart(3)}  f ${it.f.toExponential(6)}  |g| ${it.gradNorm.toExponential(2)}  ` +
    `α ${it.alpha.toPrecision(3)}  λ ${it.lambda.toPrecision(3)}  CG ${String(it.cgIters).padStart(3)}  ` +
    `${it.iterSeconds.toFixed(1)}s  test ${pct(it.testAcc)}` +
    (Number.isNaN(it.valAcc) ? '' : `  val ${pct(it.valAcc)}`)
  );
}

/** Exit codes of a run stopped by a signal: 128 + the signal's number. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

export async function trainCommand(argv: string[]): Promise<number | void> {
  checkRenamedFlags(argv); // `--xi`: its new name, not parseArgs's "unknown option"
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      ...DATA_FLAGS,
      resume: { type: 'string' },
      model: { type: 'string' },
      loss: { type: 'string' },
      C: { type: 'string' },
      'gn-ratio': { type: 'string' },
      'gn-size': { type: 'string' },
      'cg-max': { type: 'string' },
      'cg-tolerance': { type: 'string' },
      method: { type: 'string' },
      'cg-init': { type: 'string' },
      'cg-init-decay': { type: 'string' },
      'cg-stop': { type: 'string' },
      'cg-quadratic-tolerance': { type: 'string' },
      'cg-keep-best': { type: 'string' },
      preconditioner: { type: 'string' },
      'preconditioner-exponent': { type: 'string' },
      'gn-growth': { type: 'string' },
      'gn-growth-power': { type: 'string' },
      iters: { type: 'string' },
      bsize: { type: 'string' },
      gv: { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      workers: { type: 'string' },
      out: { type: 'string' },
      log: { type: 'string' },
      optim: { type: 'string' },
      lr: { type: 'string' },
      batch: { type: 'string' },
      epochs: { type: 'string' },
      momentum: { type: 'string' },
      ...NATS_FLAGS,
      'nats-no-upload': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(TRAIN_HELP);
    return;
  }
  const loss = values.loss ?? 'ce';
  if (!(LOSSES as readonly string[]).includes(loss))
    throw new UsageError(`--loss must be ${lossList()}, got '${loss}'`);
  const backend = values.backend ?? 'auto';
  if (!isBackendChoice(backend))
    throw new UsageError(`--backend must be auto, wasm, cpu or tensorflow, got '${backend}'`);
  const started = performance.now();
  if (backend === 'auto') {
    const why = await nativeUnavailable();
    if (why !== null)
      console.log(
        `backend wasm: @tensorflow/tfjs-node did not load (${why}); 'npm install @tensorflow/tfjs-node' for the native backend`,
      );
  }
  const common = {
    ...dataOptionsFromFlags(values),
    resume: values.resume,
    model: values.model,
    loss: loss as LossKind,
    C: num(values.C, '--C', { min: Number.MIN_VALUE }),
    gnRatio: num(values['gn-ratio'], '--gn-ratio', { min: Number.MIN_VALUE, max: 1 }),
    gnSize: num(values['gn-size'], '--gn-size', { int: true, min: 1 }),
    cgMax: num(values['cg-max'], '--cg-max', { int: true, min: 1 }),
    cgTolerance: num(values['cg-tolerance'], '--cg-tolerance', { min: Number.MIN_VALUE }),
    // the choices are checked by validateOptions below, in the flags' words
    method: values.method as NewtonMethod | undefined,
    cgInit: values['cg-init'] as MethodOptions['cgInit'] | undefined,
    cgInitDecay: num(values['cg-init-decay'], '--cg-init-decay'),
    cgStop: values['cg-stop'] as MethodOptions['cgStop'] | undefined,
    cgQuadraticTolerance: num(values['cg-quadratic-tolerance'], '--cg-quadratic-tolerance'),
    cgKeepBest: num(values['cg-keep-best'], '--cg-keep-best', { int: true, min: 0 }),
    preconditioner: values.preconditioner as MethodOptions['preconditioner'] | undefined,
    preconditionerExponent: num(values['preconditioner-exponent'], '--preconditioner-exponent'),
    gnGrowth: values['gn-growth'] as MethodOptions['gnGrowth'] | undefined,
    gnGrowthPower: num(values['gn-growth-power'], '--gn-growth-power'),
    iters: num(values.iters, '--iters', { int: true, min: 0 }),
    bsize: num(values.bsize, '--bsize', { int: true, min: 1 }),
    gv: values.gv as GvMethod | undefined,
    seed: num(values.seed, '--seed', { int: true }),
    backend,
    workers: num(values.workers, '--workers', { int: true, min: 0 }),
    out: values.out,
    log: values.log,
    nats: natsRun(values),
  };
  // the library's own checks, reported with the flags' names
  validateOptions(common, 'newton', 'cli');
  const crowded = common.nats ? null : workersWarning(common.workers);
  if (crowded) console.log(`warning: ${crowded}`);
  const optim = values.optim ?? 'newton';
  if (optim !== 'newton') {
    if (!(OPTIMS as readonly string[]).includes(optim))
      throw new UsageError(`--optim must be newton, adam or sgd, got '${optim}'`);
    const fo = await trainFirstOrder({
      ...common,
      optim: optim as Optim,
      lr: num(values.lr, '--lr', { min: Number.MIN_VALUE }),
      batch: num(values.batch, '--batch', { int: true, min: 1 }),
      epochs: num(values.epochs, '--epochs', { int: true, min: 1 }),
      momentum: num(values.momentum, '--momentum', { min: 0, max: 1 }),
      onEpoch: (e) =>
        console.log(
          `epoch ${String(e.iter).padStart(3)}  f ${e.f.toExponential(6)}  |g| ${e.gradNorm.toExponential(2)}  ${e.elapsedSeconds.toFixed(1)}s  test ${pct(e.testAcc)}`,
        ),
    });
    console.log(
      `test accuracy ${pct(fo.testAcc)} after ${fo.history.length} epochs of ${optim}, ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    return;
  }
  const bar = new ProgressBar();
  // SIGINT and SIGTERM abort the run (it saves its last completed iteration and stops its
  // workers); a second signal exits at once
  const controller = new AbortController();
  let caught: keyof typeof SIGNAL_EXIT | null = null;
  const onSignal = (sig: keyof typeof SIGNAL_EXIT) => {
    if (caught !== null) process.exit(SIGNAL_EXIT[sig]);
    caught = sig;
    controller.abort(new Error(`${sig} received`));
  };
  const handlers = (['SIGINT', 'SIGTERM'] as const).map(
    (sig) => [sig, () => onSignal(sig)] as const,
  );
  for (const [sig, h] of handlers) process.on(sig, h);
  let r;
  try {
    r = await train({
      ...common,
      signal: controller.signal,
      onProgress: bar.enabled ? bar.update : undefined,
      onIteration: (it) => {
        bar.clear();
        console.log(formatIteration(it));
      },
    });
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
  bar.clear();
  if (r.interrupted) {
    const iter = r.history.at(-1)?.iter ?? 0; // the history is the last completed iteration's
    const dir = values.out ?? values.resume;
    console.log(
      dir === undefined
        ? `interrupted after iteration ${iter} (no --out: nothing was saved)`
        : `interrupted after iteration ${iter}; continue with --resume ${dir}`,
    );
    return SIGNAL_EXIT[caught ?? 'SIGINT'];
  }
  if (r.stopped) console.log(`stopped: ${r.stopped}`);
  const secs = (performance.now() - started) / 1000;
  if (r.bestIter !== r.history.at(-1)?.iter && r.history.some((h) => !Number.isNaN(h.valAcc))) {
    console.log(`best validation accuracy at iteration ${r.bestIter}`);
  }
  console.log(
    `test accuracy ${pct(r.testAcc)} after ${r.history.length} iterations, ${secs.toFixed(1)} s (backend ${r.backend}, ${common.nats ? `${r.workers} worker processes over NATS` : r.workers === 0 ? 'in the main thread' : r.workers === 1 ? '1 worker' : `${r.workers} workers`})`,
  );
}
