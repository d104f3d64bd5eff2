/** `tfjs-newton bench scaling`: the worker-scaling benchmark. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { GV_METHODS, type GvMethod } from '../autodiff/evaluator.js';
import { initBackend, isBackendChoice, type BackendChoice } from '../backend/select.js';
import { OBJECTIVES, raceChart, raceTable, runRace } from '../bench/race.js';
import type { LossKind } from '../model/loss.js';
import { validateOptions, type TrainOptions } from '../run/options.js';
import { NEWTON_METHODS, type NewtonMethod } from '../solver/newton.js';
import { SOLVER_OPTION_KEYS, type SolverOptionKey } from '../solver/options.js';
import { lineChart } from '../charts/svg.js';
import { defaultWorkerCounts, runScaling, scalingTable } from '../bench/scaling.js';
import {
  costModelTable,
  fitReport,
  processScalingTable,
  runProcessScaling,
} from '../bench/processes.js';
import { parseLink } from '../bench/cost-model.js';
import { coresChart, coresTable, predictCores } from '../bench/race-model.js';
import { checkInputFile } from '../paths.js';
import { NATS_FLAGS, natsOptionsFromFlags } from '../transport/nats/connect.js';
import { UsageError } from '../errors.js';
import { num, runOptionRows } from './args.js';
import { flagsOf, optionsFromFlags } from './flags.js';

/** A comma-separated list of choices, each checked; undefined when the flag is absent. */
function choices<T extends string>(
  value: string | undefined,
  flag: string,
  allowed: readonly T[],
): T[] | undefined {
  return value?.split(',').map((v) => {
    if (!(allowed as readonly string[]).includes(v))
      throw new UsageError(`${flag} takes ${allowed.join(', ')}, got '${v}'`);
    return v as T;
  });
}

/** bench race --task: what the race trains (autoencoder: its defaults below). */
const TASKS = ['classification', 'autoencoder'] as const;

/**
 * The deep autoencoder of Hinton & Salakhutdinov (2006), the Hessian-free papers' benchmark
 * (Martens 2010): logistic units throughout (their 30-unit code layer is linear; ours is
 * logistic as well, the one activation an mlp preset takes).
 */
export const AUTOENCODER_MODEL = 'mlp:1000,500,250,30,250,500,1000@sigmoid';

/** The run options the race takes, as for train. */
const RACE_OPTIONS = runOptionRows([
  'data',
  'dataDir',
  'targets',
  'trainSamples',
  'model',
  'loss',
  'C',
  'gnRatio',
  'bsize',
  'seed',
  'init',
  'backend',
  'workers',
  'gv',
  // the solver's options (--methods is the race's grid)
  ...SOLVER_OPTION_KEYS.filter((k): k is Exclude<SolverOptionKey, 'method'> => k !== 'method'),
] as const);

export const RACE_HELP = `Usage: tfjs-newton bench race [options]

Newton against Adam, on the same data, model, backend and cores, each entry for the same
budget of training seconds (accuracy and objective evaluations are not counted), each in a
process of its own with the same cores' worth of compute: Newton --threads pool workers,
Adam --threads TensorFlow threads (on wasm, one thread: wasm does not thread in Node).
Entries: Newton over --methods × --gn-ratios, Adam on the same objective (tfjs's
optimiser) and plain tfjs (a tf.LayersModel with a softmax output, model.fit with Adam and
categorical cross-entropy, as tfjs documents it) at each --lr; for each --objectives. Reports
the training time each first reaches the target test accuracies, the best accuracy, and
the best Newton against the best first-order entry per objective. With real-valued targets
(--targets inputs, a regression) there is no test accuracy: the race compares the time each
entry takes to reach the lowest training objective f of the best first-order entry.

  --data NAME|PATH, --data-dir DIR, --targets WHAT, --train-samples N, --model M,
  --loss L, --C X, --bsize N, --seed N, --init I, --backend B, --gv M
                    as for train (default: fashion-mnist, mlp:256,256, backend auto)
  --task T          classification (the default) or autoencoder: the deep autoencoder of
                    the Hessian-free literature, the defaults --targets inputs --loss bce
                    --model ${AUTOENCODER_MODEL}
                    --init sparse --objectives none (each may be given)
  --cg-max N, --grad-sample S, --preconditioner P, ... every solver option train takes
                    (but --method), given to every Newton entry (see 'tfjs-newton train --help')
  --threads N       cores each entry may use (default --workers, else all: ${availableParallelism()})
  --first-order-threads LIST
                    TensorFlow threads of the Adam and plain tfjs entries, one entry each
                    (default 1 and --threads: the best is Adam's own setting)
  --methods LIST    Newton's methods: simplenn, hf (default simplenn)
  --gn-ratios LIST  Newton's subset fractions |S|/l (default --gn-ratio, else 0.05)
  --objectives LIST regularised (simpleNN's C, or --C), none (C = 1e12) (default regularised;
                    plain tfjs is always unregularised)
  --kinds LIST      newton, adam (on the objective), tfjs (plain model.fit) (default all three)
  --budget S        training seconds per entry (default 150)
  --accuracy-targets LIST
                    test accuracies (default 0.85,0.88,0.89)
  --lr LIST         Adam's learning rates, both kinds (default 1e-3,3e-4,1e-4)
  --batch N         Adam's minibatch (default 128)
  --eval-every S    Adam's test accuracy every S training seconds (default budget/40)
  --log-dir DIR     one JSONL per Newton and Adam entry, as train --log writes
  --plot FILE       the four-panel SVG (accuracy and objective against training time)
  --json            print JSON instead of the table
`;

export const RACE_MODEL_HELP = `Usage: tfjs-newton bench race-model ONE.json TWO.json [options]

Time to a target accuracy against cores, Newton and Adam, from a race on 1 core and one on
2 ('bench race --threads 1 --json', '--threads 2'): Newton's iterations are the same for any
number of workers, each pass ⌈K/P⌉ chunks plus a serial part fitted per phase; Adam's
steps are the same, each step's time Amdahl's law fitted from the two runs (one machine's
cores; no data-parallel Adam). See src/bench/race-model.ts.

  --target X        the test accuracy (default 0.89)
  --objective O     regularised or none: the entries of that objective (default: any)
  --newton NAME, --adam NAME
                    the entries (default: the soonest to the target on 2 cores)
  --samples N       l, the training samples (default 60000)
  --gn-size N       |S| of the Newton entry (default 3000)
  --bsize N         samples per chunk (default 1024)
  --max-cores N     predict up to N cores (default 64)
  --plot FILE       time to target against cores, both methods, measured points beside
  --json            print JSON instead of the table
`;

export const BENCH_HELP = `Usage: tfjs-newton bench scaling [options]
       tfjs-newton bench race [options]    (see 'tfjs-newton bench race --help')
       tfjs-newton bench race-model ONE.json TWO.json    (see '... race-model --help')

Times one CG step (a Gv over |S| samples on the pool, plus the CG vector updates in the
main thread) and one f+∇f pass over l samples, for several worker counts. Reports the
speed-up and efficiency against the first count, the share of the time during which no
worker computes (messaging, reduction, CG), and the share of worker time spent idle.

  --models LIST     comma-separated presets (default mlp:256,256;cnn4 — separate with ';')
  --workers LIST    worker counts, e.g. 1,2,4 (default 1, 2, 4, ... up to the available parallelism)
  --gn-size N       |S| for the Gv pass (default 4096)
  --samples N       l for the f+∇f pass (default 60000)
  --reps N          timed runs per point, median reported (default 3)
  --bsize N         samples per chunk (default 1024)
  --backend B       wasm|cpu|tensorflow (default wasm)
  --gv M            linearized (default) or double-vjp: how Gauss-Newton products are computed
  --data-dir DIR    Fashion-MNIST folder (synthetic data of the same shape when absent)
  --nats URL        time worker processes over this NATS server instead of threads: for each
                    count of --processes, that many 'tfjs-newton worker' processes (one thread
                    each) are started here, and each run is paired with a run of the Piscina pool
                    of as many threads; bytes per worker are reported (--nats-token etc. as for train)
  --processes LIST  worker process counts with --nats (default 1,2)
  --chunks-per-result N
                    with --nats: chunks a worker sums before it sends one result, on both
                    sides (default 1; see 'tfjs-newton train --help')
  --netns           with --nats: each worker process in a network namespace of its own (a
                    "machine"), joined by a veth link to this one, where the server must
                    listen on all addresses; made and removed here (root and iproute2)
  --netns-delay MS  with --netns: tc netem delay on both ends of each link (where the
                    kernel has netem; the table says when it does not)
  --link RATE,LAT   with --nats: the link the cost model predicts 1..64 machines for
                    (default 10gbit,0.2ms); --plot draws the prediction beside the measurements
  --json            print JSON instead of the table
  --plot FILE       write an SVG plot of speed-up against workers, with the ideal line
`;

export async function benchCommand(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  if (what === '--help' || what === '-h' || what === undefined) {
    process.stdout.write(BENCH_HELP);
    return;
  }
  if (what === 'race') return raceCommand(rest);
  if (what === 'race-model') return raceModelCommand(rest);
  if (what !== 'scaling')
    throw new UsageError(
      `unknown benchmark '${what}': use 'bench scaling', 'bench race' or 'bench race-model'`,
    );
  const { values } = parseArgs({
    args: rest,
    options: {
      models: { type: 'string' },
      workers: { type: 'string' },
      'gn-size': { type: 'string' },
      samples: { type: 'string' },
      reps: { type: 'string' },
      bsize: { type: 'string' },
      backend: { type: 'string' },
      gv: { type: 'string' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
      plot: { type: 'string' },
      processes: { type: 'string' },
      link: { type: 'string' },
      'chunks-per-result': { type: 'string' },
      netns: { type: 'boolean' },
      'netns-delay': { type: 'string' },
      ...NATS_FLAGS,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(BENCH_HELP);
    return;
  }
  const backend = values.backend ?? 'wasm';
  if (!isBackendChoice(backend) || backend === 'auto')
    throw new UsageError(`--backend must be wasm, cpu or tensorflow, got '${backend}'`);
  const workers = values.workers
    ? values.workers.split(',').map((w) => num(w, '--workers', { int: true, min: 1 })!)
    : defaultWorkerCounts();
  const gv = values.gv ?? 'linearized';
  if (!(GV_METHODS as readonly string[]).includes(gv))
    throw new UsageError(`--gv must be ${GV_METHODS.join(' or ')}, got '${gv}'`);
  await initBackend(backend);
  const nats = natsOptionsFromFlags(values);
  // the worker-process flags mean nothing to the threads benchmark: say so, not ignore them
  for (const flag of ['processes', 'link', 'chunks-per-result', 'netns', 'netns-delay'] as const)
    if (!nats && values[flag] !== undefined)
      throw new UsageError(`bench scaling --${flag} needs --nats URL (worker processes)`);
  if (nats) {
    const processes = (values.processes ?? '1,2')
      .split(',')
      .map((w) => num(w, '--processes', { int: true, min: 1 })!);
    const report = await runProcessScaling({
      models: (values.models ?? 'mlp:256,256').split(';'),
      processes,
      gnSize: num(values['gn-size'], '--gn-size', { int: true, min: 1 }) ?? 4096,
      samples: num(values.samples, '--samples', { int: true, min: 1 }) ?? 60000,
      reps: num(values.reps, '--reps', { int: true, min: 1 }) ?? 5,
      bsize: num(values.bsize, '--bsize', { int: true, min: 1 }) ?? 1024,
      chunksPerResult: num(values['chunks-per-result'], '--chunks-per-result', {
        int: true,
        min: 1,
      }),
      backend,
      gv: gv as GvMethod,
      dataDir: values['data-dir'],
      nats,
      ...(values.netns || values['netns-delay'] !== undefined
        ? { netns: { delayMs: num(values['netns-delay'], '--netns-delay', { min: 0 }) ?? 0 } }
        : {}),
      log: values.json ? undefined : (s) => process.stderr.write(s + '\n'),
    });
    const linkText = values.link ?? '10gbit,0.2ms';
    let link;
    try {
      link = parseLink(linkText);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const fits = fitReport(report, link);
    console.log(
      values.json
        ? JSON.stringify({ ...report, costModel: { link: linkText, fits } }, null, 2)
        : `${processScalingTable(report)}\n\n${costModelTable(fits, linkText)}`,
    );
    if (values.plot) {
      const series = fits.flatMap((f) => [
        { name: `${f.model} ${f.pass} measured (loopback)`, points: f.measured },
        {
          name: `${f.model} ${f.pass} model, loopback`,
          points: f.loopback.slice(0, Math.max(...f.measured.map((p) => p[0]))),
          dashed: true,
        },
        { name: `${f.model} ${f.pass} model, ${linkText}`, points: f.atLink, dashed: true },
      ]);
      series.push({
        name: 'ideal',
        points: [
          [1, 1],
          [64, 64],
        ],
        dashed: true,
      });
      writeFileSync(
        values.plot,
        lineChart(
          `tfjs-newton over NATS: measured and predicted (${report.data.split(' ')[0]})`,
          'worker processes (machines)',
          'speed-up vs 1 process',
          series,
        ),
      );
    }
    return;
  }
  const report = await runScaling({
    models: (values.models ?? 'mlp:256,256;cnn4').split(';'),
    workers,
    gnSize: num(values['gn-size'], '--gn-size', { int: true, min: 1 }) ?? 4096,
    samples: num(values.samples, '--samples', { int: true, min: 1 }) ?? 60000,
    reps: num(values.reps, '--reps', { int: true, min: 1 }) ?? 3,
    bsize: num(values.bsize, '--bsize', { int: true, min: 1 }) ?? 1024,
    backend,
    gv: gv as GvMethod,
    dataDir: values['data-dir'],
    log: values.json ? undefined : (s) => process.stderr.write(s + '\n'),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : scalingTable(report));
  if (values.plot) {
    const series = [...new Set(report.rows.map((r) => `${r.model} ${r.pass}`))].map((name) => ({
      name,
      points: report.rows
        .filter((r) => `${r.model} ${r.pass}` === name)
        .map((r) => [r.workers, r.speedup] as [number, number]),
    }));
    const xs = [...new Set(report.rows.map((r) => r.workers))].sort((a, b) => a - b);
    series.push({
      name: 'ideal',
      points: xs.map((x) => [x, x]),
      dashed: true,
    } as (typeof series)[number] & { dashed: boolean });
    writeFileSync(
      values.plot,
      lineChart(
        `tfjs-newton scaling (${report.data.split(' ')[0]})`,
        'workers',
        'speed-up vs 1 worker',
        series,
      ),
    );
  }
}

async function raceCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...flagsOf(RACE_OPTIONS),
      methods: { type: 'string' },
      threads: { type: 'string' },
      'gn-ratios': { type: 'string' },
      objectives: { type: 'string' },
      kinds: { type: 'string' },
      'eval-every': { type: 'string' },
      'first-order-threads': { type: 'string' },
      budget: { type: 'string' },
      'accuracy-targets': { type: 'string' },
      task: { type: 'string' },
      lr: { type: 'string' },
      batch: { type: 'string' },
      'log-dir': { type: 'string' },
      plot: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(RACE_HELP);
    return;
  }
  const list = (s: string, flag: string, min: number, max?: number) =>
    s.split(',').map((x) => num(x, flag, { min, max })!);
  const task = choices(values.task, '--task', TASKS)?.[0] ?? 'classification';
  if (values.task?.includes(',')) throw new UsageError('--task takes one task');
  const autoencoder = task === 'autoencoder';
  // the race's test accuracies were --targets before --targets said what the model outputs
  const given = optionsFromFlags(values, RACE_OPTIONS);
  const outputs = typeof given.targets === 'string' ? given.targets : '';
  if (/^0?\.\d+(,0?\.\d+)*$/.test(outputs))
    throw new UsageError(
      `bench race: the test accuracies are --accuracy-targets ${outputs}; --targets says what the model outputs (labels, inputs), as for train`,
    );
  const common: TrainOptions = {
    data: 'fashion-mnist',
    model: autoencoder ? AUTOENCODER_MODEL : 'mlp:256,256',
    // Martens's sparse initialisation: it took both Newton and Adam far lower (README)
    ...(autoencoder && { targets: 'inputs', loss: 'bce' as const, init: 'sparse' as const }),
    ...given,
  };
  validateOptions(common, 'newton', 'cli');
  if (values['log-dir']) mkdirSync(values['log-dir'], { recursive: true });
  const report = await runRace({
    common,
    budget: num(values.budget, '--budget', { min: Number.MIN_VALUE }) ?? 150,
    targets: list(values['accuracy-targets'] ?? '0.85,0.88,0.89', '--accuracy-targets', 0, 1),
    lrs: list(values.lr ?? '1e-3,3e-4,1e-4', '--lr', Number.MIN_VALUE),
    methods: (values.methods ?? 'simplenn').split(',').map((m) => {
      if (!(NEWTON_METHODS as readonly string[]).includes(m))
        throw new UsageError(`--methods takes ${NEWTON_METHODS.join(', ')}, got '${m}'`);
      return m as NewtonMethod;
    }),
    gnRatios:
      values['gn-ratios'] === undefined
        ? undefined
        : list(values['gn-ratios'], '--gn-ratios', Number.MIN_VALUE, 1),
    objectives:
      choices(values.objectives, '--objectives', OBJECTIVES) ??
      (autoencoder ? ['none'] : undefined),
    kinds: choices(values.kinds, '--kinds', ['newton', 'adam', 'tfjs'] as const),
    threads: num(values.threads, '--threads', { int: true, min: 1 }),
    firstOrderThreads:
      values['first-order-threads'] === undefined
        ? undefined
        : list(values['first-order-threads'], '--first-order-threads', 1).map((n) => {
            if (!Number.isInteger(n))
              throw new UsageError(`--first-order-threads takes integers, got ${n}`);
            return n;
          }),
    evalEvery: num(values['eval-every'], '--eval-every', { min: Number.MIN_VALUE }),
    batch: num(values.batch, '--batch', { int: true, min: 1 }),
    logDir: values['log-dir'],
    log: values.json ? undefined : (s) => process.stderr.write(s + '\n'),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : raceTable(report));
  if (values.plot) writeFileSync(values.plot, raceChart(report));
}

async function raceModelCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      target: { type: 'string' },
      objective: { type: 'string' },
      newton: { type: 'string' },
      adam: { type: 'string' },
      samples: { type: 'string' },
      'gn-size': { type: 'string' },
      bsize: { type: 'string' },
      'max-cores': { type: 'string' },
      plot: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(RACE_MODEL_HELP);
    return;
  }
  if (positionals.length !== 2)
    throw new UsageError('bench race-model takes two race reports: ONE.json (1 core) TWO.json (2)');
  const [one, two] = positionals.map((file) => {
    checkInputFile(file, 'race report');
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new UsageError(
        `${file}: not a race report (bench race --json): ${(e as Error).message}`,
      );
    }
  });
  const bsize = num(values.bsize, '--bsize', { int: true, min: 1 }) ?? 1024;
  const samples = num(values.samples, '--samples', { int: true, min: 1 }) ?? 60_000;
  const gnSize = num(values['gn-size'], '--gn-size', { int: true, min: 1 }) ?? 3000;
  let p;
  try {
    p = predictCores(
      one,
      two,
      num(values.target, '--target', { min: 0, max: 1 }) ?? 0.89,
      { gradient: Math.ceil(samples / bsize), gv: Math.ceil(gnSize / bsize) },
      {
        objective: values.objective,
        newton: values.newton,
        adam: values.adam,
        maxCores: num(values['max-cores'], '--max-cores', { int: true, min: 2 }),
      },
    );
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  console.log(values.json ? JSON.stringify(p, null, 2) : coresTable(p));
  if (values.plot) writeFileSync(values.plot, coresChart(p));
}
