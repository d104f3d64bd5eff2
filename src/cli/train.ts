/** `tfjs-newton train`: options, one readable line per iteration, final accuracy. */
import { parseArgs } from 'node:util';
import { isBackendChoice } from '../backend/select.js';
import { UsageError } from '../errors.js';
import { LOSSES, type LossKind } from '../model/loss.js';
import { PRESET_HELP } from '../model/presets.js';
import { NEWTON_DEFAULTS } from '../solver/newton.js';
import { TRAIN_DEFAULTS, train, type TrainIteration } from '../train.js';
import { num } from './args.js';

export const TRAIN_HELP = `Usage: tfjs-newton train [options]

Trains a network with subsampled Gauss-Newton Newton-CG (simpleNN's method).

  --data NAME|DIR     digits (embedded, default), fashion-mnist, or a folder of MNIST-style IDX files
  --data-dir DIR      Fashion-MNIST folder (else $TFJS_NEWTON_DATA, else /usr/share/datasets/fashion-mnist)
  --model NAME        ${PRESET_HELP} (default ${TRAIN_DEFAULTS.model})
  --loss ce|mse       softmax cross-entropy or squared error on one-hot targets (default ce)
  --C X               regularisation: f = ‖θ‖²/(2·C·l) + mean loss (default ${NEWTON_DEFAULTS.C})
  --gn-ratio R        Gauss-Newton subset size as a fraction of l (default ${TRAIN_DEFAULTS.gnRatio})
  --gn-size N         Gauss-Newton subset size in samples (overrides --gn-ratio)
  --cg-max N          CG steps per iteration at most (default ${NEWTON_DEFAULTS.cgMax})
  --xi X              CG stops at ‖r‖ ≤ xi·‖∇f‖ (default ${NEWTON_DEFAULTS.xi})
  --iters N           Newton iterations (default ${TRAIN_DEFAULTS.iters})
  --bsize N           samples per chunk of every pass (default ${TRAIN_DEFAULTS.bsize})
  --seed N            seed of the initial weights and the subsets (default ${TRAIN_DEFAULTS.seed})
  --backend B         auto|wasm|cpu|tensorflow (default auto: tensorflow if @tensorflow/tfjs-node loads, else wasm)
  --workers N         compute worker threads (default: available parallelism; 0 = in the main thread;
                      always 1 with the tensorflow backend)
  --out DIR           write a checkpoint (θ, λ, iteration, generator state) after every iteration;
                      if a run fails, its last good state goes here (else to a temporary folder, named)
  --log FILE          write one JSON object per iteration
                      (iter, f, gradNorm, alpha, lambda, cgIters, seconds [cumulative], testAcc, rho, iterSeconds)
`;

export function formatIteration(it: TrainIteration): string {
  return (
    `iter ${String(it.iter).padStart(3)}  f ${it.f.toExponential(6)}  |g| ${it.gradNorm.toExponential(2)}  ` +
    `α ${it.alpha.toPrecision(3)}  λ ${it.lambda.toPrecision(3)}  CG ${String(it.cgIters).padStart(3)}  ` +
    `${it.seconds.toFixed(1)}s  test ${(100 * it.testAcc).toFixed(2)}%`
  );
}

export async function trainCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      data: { type: 'string' },
      'data-dir': { type: 'string' },
      model: { type: 'string' },
      loss: { type: 'string' },
      C: { type: 'string' },
      'gn-ratio': { type: 'string' },
      'gn-size': { type: 'string' },
      'cg-max': { type: 'string' },
      xi: { type: 'string' },
      iters: { type: 'string' },
      bsize: { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      workers: { type: 'string' },
      out: { type: 'string' },
      log: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(TRAIN_HELP);
    return;
  }
  const loss = values.loss ?? 'ce';
  if (!(LOSSES as readonly string[]).includes(loss)) throw new UsageError(`--loss must be ce or mse, got '${loss}'`);
  const backend = values.backend ?? 'auto';
  if (!isBackendChoice(backend)) throw new UsageError(`--backend must be auto, wasm, cpu or tensorflow, got '${backend}'`);
  const started = performance.now();
  const r = await train({
    data: values.data,
    dataDir: values['data-dir'],
    model: values.model,
    loss: loss as LossKind,
    C: num(values.C, '--C', { min: Number.MIN_VALUE }),
    gnRatio: num(values['gn-ratio'], '--gn-ratio', { min: Number.MIN_VALUE, max: 1 }),
    gnSize: num(values['gn-size'], '--gn-size', { int: true, min: 1 }),
    cgMax: num(values['cg-max'], '--cg-max', { int: true, min: 1 }),
    xi: num(values.xi, '--xi', { min: Number.MIN_VALUE }),
    iters: num(values.iters, '--iters', { int: true, min: 0 }),
    bsize: num(values.bsize, '--bsize', { int: true, min: 1 }),
    seed: num(values.seed, '--seed', { int: true }),
    backend,
    workers: num(values.workers, '--workers', { int: true, min: 0 }),
    out: values.out,
    log: values.log,
    onIteration: (it) => console.log(formatIteration(it)),
  });
  if (r.stopped) console.log(`stopped: ${r.stopped}`);
  const secs = (performance.now() - started) / 1000;
  console.log(`test accuracy ${(100 * r.testAcc).toFixed(2)}% after ${r.history.length} iterations, ${secs.toFixed(1)} s (backend ${r.backend}, ${r.workers} workers)`);
}
