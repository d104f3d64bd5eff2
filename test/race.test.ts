/**
 * `bench race` on digits, briefly: each entry in a process of its own with its threads;
 * every entry's time to a target is the training time of its first report at or above it;
 * Adam's budget holds; the best entries per objective; JSONL logs and the SVG are written.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  entryEnv,
  NO_REGULARISATION_C,
  raceChart,
  raceEntries,
  raceTable,
  runRace,
} from '../src/bench/race.ts';
import { RunError } from '../src/errors.ts';

const common = {
  data: 'digits',
  model: 'mlp:16',
  C: 1,
  backend: 'wasm',
  bsize: 512,
} as const;

test('the entries: Newton over methods × subsets, Adam and plain tfjs at each rate, per objective, the same cores each', (t) => {
  const specs = raceEntries({
    common,
    budget: 10,
    targets: [0.9],
    lrs: [1e-2, 1e-3],
    methods: ['simplenn', 'hf'],
    gnRatios: [0.05, 0.1],
    objectives: ['regularised', 'none'],
    threads: 2,
  });
  // first-order entries at 1 and 2 TensorFlow threads each (their best is their own setting)
  t.deepEqual(
    specs.map((s) => [s.kind, s.objective, s.threads]),
    [
      ...Array(4).fill(['newton', 'regularised', 2]),
      ...Array(2).fill(['adam', 'regularised', 1]),
      ...Array(2).fill(['adam', 'regularised', 2]),
      ...Array(4).fill(['newton', 'none', 2]),
      ...Array(2).fill(['adam', 'none', 1]),
      ...Array(2).fill(['adam', 'none', 2]),
      ...Array(2).fill(['tfjs', 'none', 1]),
      ...Array(2).fill(['tfjs', 'none', 2]),
    ],
  );
  t.true(specs.every((s) => s.budget === 10));
  t.is(new Set(specs.map((s) => s.name)).size, specs.length, 'names are unique');
  t.deepEqual(
    specs.filter((s) => s.kind !== 'tfjs').map((s) => s.C),
    [...Array(8).fill(1), ...Array(8).fill(NO_REGULARISATION_C)],
  );
  // Newton's pool contexts one TensorFlow thread each; Adam's and plain tfjs's one context all of them
  const newton = specs.find((s) => s.kind === 'newton')!;
  const adam = specs.find((s) => s.kind === 'adam' && s.threads === 2)!;
  const plain = specs.find((s) => s.kind === 'tfjs' && s.threads === 2)!;
  t.is(newton.threads, 2);
  t.is(entryEnv(newton).TF_NUM_INTRAOP_THREADS, '1');
  t.is(entryEnv(adam).TF_NUM_INTRAOP_THREADS, '2');
  t.is(entryEnv(plain).TF_NUM_INTEROP_THREADS, '2');
});

test('a short race on digits, each entry in its own process: times to targets, the budget, the best entries, logs and plot', async (t) => {
  const logDir = mkdtempSync(join(tmpdir(), 'race-'));
  const targets = [0.8, 0.9];
  const r = await runRace({
    common,
    budget: 1.5,
    targets,
    lrs: [1e-2, 1e-4],
    threads: 1,
    logDir,
  });
  t.deepEqual(
    r.entries.map((e) => e.name),
    [
      'newton simplenn |S| 5% C 1',
      'adam lr 0.01 C 1',
      'adam lr 0.0001 C 1',
      'tfjs model.fit adam lr 0.01',
      'tfjs model.fit adam lr 0.0001',
    ],
  );
  t.deepEqual(
    r.entries.map((e) => e.threads),
    ['1 worker', '1 thread (wasm)', '1 thread (wasm)', '1 thread (wasm)', '1 thread (wasm)'],
  );
  for (const e of r.entries) {
    t.true(e.points.length > 0, e.name);
    for (const x of targets) {
      const first = e.points.find((p) => p.testAcc >= x);
      t.is(e.timeTo[String(x)], first?.t ?? null, `${e.name} to ${x}`);
    }
    t.is(e.bestAcc, Math.max(...e.points.map((p) => p.testAcc)));
    // times only grow
    t.true(
      e.points.every((p, i) => i === 0 || p.t >= e.points[i - 1].t),
      e.name,
    );
  }
  // Adam stops at its budget (the last minibatch may end just past it), evaluated within epochs
  for (const e of r.entries.filter((e) => e.kind !== 'newton')) {
    t.true(e.points.at(-1)!.t < 1.5 + 0.5, `${e.name}: ${e.points.at(-1)!.t}`);
    t.true(e.points.length >= 3, `${e.name}: ${e.points.length} evaluations`);
  }
  // lr 1e-2 gets to 90% on digits long before lr 1e-4 does (the regularised objective's best)
  t.deepEqual(r.best.regularised, {
    newton: 'newton simplenn |S| 5% C 1',
    firstOrder: 'adam lr 0.01 C 1',
  });
  t.regex(raceTable(r), /^race: digits, mlp:16, backend wasm, at most 1 cores for every entry/);
  t.regex(raceChart(r), /<svg[^>]*>[\s\S]*test accuracy[\s\S]*<\/svg>/);
  for (const f of ['newton-simplenn-S-5-C-1.jsonl', 'adam-lr-0.01-C-1.jsonl'])
    t.true(existsSync(join(logDir, f)), f);
  t.is(
    readFileSync(join(logDir, 'newton-simplenn-S-5-C-1.jsonl'), 'utf8').trim().split('\n').length,
    r.entries[0].points.length,
  );
});

test("the solver's options reach every Newton entry (a gradient sample here) and the table says so", async (t) => {
  const logDir = mkdtempSync(join(tmpdir(), 'tfjs-newton-race-opts-'));
  const r = await runRace({
    common: { ...common, gradSample: 'norm-test', gradSample0: 100 },
    budget: 0.3,
    targets: [0.5],
    lrs: [1e-2],
    kinds: ['newton'],
    threads: 1,
    logDir,
  });
  t.deepEqual(r.options.newtonOptions, { gradSample: 'norm-test', gradSample0: 100 });
  t.regex(raceTable(r), /; every Newton entry with --grad-sample norm-test --grad-sample0 100\n/);
  const lines = readFileSync(join(logDir, 'newton-simplenn-S-5-C-1.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  // the first iteration's f and ∇f on the sample of 100, not on all 1437 training digits
  t.is(lines[0].gradSampleSize, 100);
});

test('an entry stopped by bad input is a RunError in one line (the CLI prints no stack)', async (t) => {
  const dir = join(tmpdir(), 'tfjs-newton-no-such-folder');
  const e = await t.throwsAsync(
    runRace({
      common: { ...common, data: 'fashion-mnist', dataDir: dir },
      budget: 0.3,
      targets: [0.5],
      lrs: [1e-2],
      kinds: ['newton'],
      threads: 1,
    }),
    { instanceOf: RunError },
  );
  t.regex(e!.message, /^race entry 'newton [^\n]*' failed: Fashion-MNIST folder .*not found/);
});

test('an autoencoder race (real-valued targets, no test accuracy) is a race on the training loss: the first-order best f is the target', async (t) => {
  const r = await runRace({
    common: {
      ...common,
      targets: 'inputs',
      trainSamples: 300,
      loss: 'bce',
      model: 'mlp:16,4,16@sigmoid',
    },
    budget: 1,
    targets: [0.9],
    lrs: [1e-2],
    objectives: ['none'],
    threads: 1,
  });
  t.is(r.metric, 'loss');
  t.deepEqual(
    r.entries.map((e) => e.kind),
    ['newton', 'adam', 'tfjs'],
  );
  const firsts = r.entries.filter((e) => e.kind !== 'newton');
  const target = Math.min(...firsts.map((e) => e.bestF));
  t.is(r.lossTargets?.none, target);
  for (const e of r.entries) {
    t.true(e.points.length > 0 && e.points.every((p) => Number.isNaN(p.testAcc)), e.name);
    t.is(e.bestF, Math.min(...e.points.map((p) => p.f)));
    t.is(e.timeTo['first-order best f'], e.points.find((p) => p.f <= target)?.t ?? null);
  }
  // the best first-order entry reaches its own lowest f
  const best = r.entries.find((e) => e.name === r.best.none!.firstOrder)!;
  t.is(best.bestF, target);
  t.not(best.timeTo['first-order best f'], null);
  // plain tfjs's f is the same per-sample loss as the objective's (Σ over the 64 outputs)
  const plain = r.entries.find((e) => e.kind === 'tfjs')!;
  const adam = r.entries.find((e) => e.kind === 'adam')!;
  t.true(plain.points[0].f > 0.2 * adam.points[0].f && plain.points[0].f < 5 * adam.points[0].f);
  const table = raceTable(r);
  t.regex(table, /^race on the training loss \(no test accuracy: real-valued targets\)/);
  t.regex(table, /none, f ≤ [\d.e+-]+ \([^)]*'s lowest\): /);
  t.regex(raceChart(r), /<svg[^>]*>[\s\S]*objective f \(log10\)[\s\S]*<\/svg>/);
});

test("bench race's flags: the old --targets accuracies say their new name; --task is checked (one line, exit 2)", (t) => {
  for (const [args, msg] of [
    [
      ['--targets', '0.85,0.88'],
      /the test accuracies are --accuracy-targets 0.85,0.88; --targets says/,
    ],
    [['--task', 'cats'], /--task takes classification, autoencoder, got 'cats'/],
  ] as const) {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'bench', 'race', ...args],
      { encoding: 'utf8' },
    );
    t.is(r.status, 2, r.stderr);
    t.regex(r.stderr, msg);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
