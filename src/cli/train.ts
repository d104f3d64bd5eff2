/** `tfjs-newton train`: options, one readable line per iteration, final accuracy. */
import { parseArgs } from 'node:util';
import { nativeFallbackLine } from '../backend/select.js';
import { UsageError } from '../errors.js';
import { trainFirstOrder } from '../run/baseline.js';
import {
  checkRenamedFlags,
  DEFAULTS,
  FIRST_ORDER_OPTIONS,
  NEWTON_OPTIONS,
  TRAIN_DEFAULTS,
  validateOptions,
  workersWarning,
  OPTIMS,
  type Optim,
  type TrainIteration,
  type TrainOptions,
} from '../run/options.js';
import { train } from '../run/train.js';
import { NATS_FLAGS, natsOptionsFromFlags } from '../transport/nats/connect.js';
import { flagHelp, flagsOf, flagTable, optionsFromFlags } from './flags.js';
import { formatRegression, ProgressBar } from './progress.js';

/** The options `train` takes on the command line: Newton's and the baselines', one table. */
const TRAIN_FLAGS = { ...NEWTON_OPTIONS, ...FIRST_ORDER_OPTIONS };

/** The same flags as the README's markdown table (scripts/readme-options.ts writes it there). */
export const TRAIN_OPTION_TABLE = flagTable(TRAIN_FLAGS, DEFAULTS);

export const TRAIN_HELP = `Usage: tfjs-newton train [options]

Trains a network with subsampled Gauss-Newton Newton-CG (simpleNN's method).

${flagHelp(TRAIN_FLAGS, DEFAULTS)}
Ctrl-C (SIGINT) or SIGTERM stops a run within about one chunk's compute, after writing the
last completed iteration's checkpoint to --out; exit code 130 or 143 (a second Ctrl-C exits
at once).
`;

/** The entries of `options` whose keys are in `table`. */
function pickKeys(options: Record<string, unknown>, table: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([k]) => Object.hasOwn(table, k)));
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

/** A held-out set's metric: its accuracy, or RMSE and R² with real-valued targets. */
const heldOut = (acc: number, rmse: number | undefined, r2: number | undefined) =>
  rmse !== undefined && !Number.isNaN(rmse) ? formatRegression(rmse, r2 ?? NaN) : pct(acc);

export function formatIteration(it: TrainIteration): string {
  return (
    `iter ${String(it.iter).padStart(3)}  f ${it.f.toExponential(6)}  |g| ${it.gradNorm.toExponential(2)}  ` +
    `α ${it.alpha.toPrecision(3)}  λ ${it.lambda.toPrecision(3)}  CG ${String(it.cgIters).padStart(3)}  ` +
    `${it.iterSeconds.toFixed(1)}s  test ${heldOut(it.testAcc, it.testRmse, it.testR2)}` +
    (Number.isNaN(it.valAcc) && !(it.valRmse >= 0)
      ? ''
      : `  val ${heldOut(it.valAcc, it.valRmse, it.valR2)}`)
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
      ...flagsOf(TRAIN_FLAGS),
      ...NATS_FLAGS,
      'nats-no-upload': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(TRAIN_HELP);
    return;
  }
  const given = optionsFromFlags(values, TRAIN_FLAGS);
  const common: TrainOptions = { ...pickKeys(given, NEWTON_OPTIONS), nats: natsRun(values) };
  // the library's own checks, reported with the flags' names
  validateOptions(common, 'newton', 'cli');
  const optim = (given.optim as string | undefined) ?? 'newton';
  if (optim !== 'newton' && !(OPTIMS as readonly string[]).includes(optim))
    throw new UsageError(`--optim must be newton, ${OPTIMS.join(' or ')}, got '${optim}'`);
  const started = performance.now();
  if ((common.backend ?? TRAIN_DEFAULTS.backend) === 'auto') {
    const line = await nativeFallbackLine();
    if (line !== null) console.log(line);
  }
  const crowded = common.nats ? null : workersWarning(common.workers);
  if (crowded) console.log(`warning: ${crowded}`);
  if (optim !== 'newton') {
    // the baselines' own flags (--lr, --batch, ...) count only here; Newton ignores them
    const firstOrder = {
      ...common,
      ...pickKeys(given, FIRST_ORDER_OPTIONS),
      optim: optim as Optim,
    };
    validateOptions(firstOrder, 'first-order', 'cli');
    const fo = await trainFirstOrder({
      ...firstOrder,
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
    const dir = common.out ?? common.resume;
    console.log(
      dir === undefined
        ? `interrupted after iteration ${iter} (no --out: nothing was saved)`
        : `interrupted after iteration ${iter}; continue with --resume ${dir}`,
    );
    return SIGNAL_EXIT[caught ?? 'SIGINT'];
  }
  if (r.stopped) console.log(`stopped: ${r.stopped}`);
  const secs = (performance.now() - started) / 1000;
  if (r.bestIter !== r.history.at(-1)?.iter) {
    if (r.history.some((h) => !Number.isNaN(h.valAcc)))
      console.log(`best validation accuracy at iteration ${r.bestIter}`);
    else if (r.history.some((h) => h.valRmse >= 0))
      console.log(`best validation RMSE at iteration ${r.bestIter}`);
  }
  // real-valued targets: RMSE and R² (n/a without a test set), else the accuracy
  const regression = r.testRmse >= 0 || r.history.some((h) => h.valRmse >= 0);
  const testLine = !regression
    ? `accuracy ${pct(r.testAcc)}`
    : Number.isNaN(r.testRmse)
      ? 'RMSE n/a'
      : formatRegression(r.testRmse, r.testR2);
  console.log(
    `test ${testLine} after ${r.history.length} iterations, ${secs.toFixed(1)} s (backend ${r.backend}, ${common.nats ? `${r.workers} worker processes over NATS` : r.workers === 0 ? 'in the main thread' : r.workers === 1 ? '1 worker' : `${r.workers} workers`})`,
  );
}
