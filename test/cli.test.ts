/** The `train` command end to end on the embedded digits set. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ITERATION_FIELDS, readJsonl } from './helpers/jsonl.ts';

const cli = (args: string[], node: string[] = []) =>
  spawnSync(process.execPath, [...node, '--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });
/** As on a machine where npm skipped the optional @tensorflow/tfjs-node. */
const withoutNative = ['--import', './test/helpers/hide-native.mjs'];
/** stderr without the start-up lines libtensorflow prints itself when it loads (not ours to silence) */
const ownLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter(
      (l) => l.trim() !== '' && !/^(WARNING: All log messages before absl|[IW]\d{4} )/.test(l),
    );

test('train on digits (the npm start settings) reaches ≥ 95% test accuracy and logs JSONL', (t) => {
  const log = join(mkdtempSync(join(tmpdir(), 'tn-')), 'run.jsonl');
  const r = cli([
    'train',
    '--data',
    'digits',
    '--model',
    'mlp:64,64',
    '--C',
    '1',
    '--iters',
    '30',
    '--backend',
    'wasm',
    '--log',
    log,
  ]);
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.regex(
    lines[0],
    /^iter {3}1 {2}f \S+ {2}\|g\| \S+ {2}α \S+ {2}λ \S+ {2}CG +\d+ {2}\S+s {2}test \S+%$/,
  );
  const acc = Number(/test accuracy ([\d.]+)%/.exec(lines.at(-1)!)?.[1]);
  t.true(acc >= 95, `accuracy ${acc}`);
  const recs = readJsonl(log);
  t.is(recs.length, 30);
  for (const k of ITERATION_FIELDS) t.true(k in recs[0], k);
  t.false('seconds' in recs[0], 'no field of the old name');
  t.true(recs[29].f < recs[0].f);
  t.true(
    recs.every((r, i) => i === 0 || r.elapsedSeconds >= recs[i - 1].elapsedSeconds),
    'elapsedSeconds is cumulative',
  );
  t.true(
    recs.every((r) => r.iterSeconds <= r.elapsedSeconds),
    "an iteration's time is within the time so far",
  );
});

test('the same seed gives the same trajectory; another seed another', (t) => {
  const run = (seed: string) => {
    const r = cli(['train', '--iters', '4', '--C', '1', '--seed', seed, '--backend', 'wasm']);
    t.is(r.status, 0, r.stderr);
    return r.stdout
      .split('\n')
      .filter((l) => l.startsWith('iter'))
      .map((l) => l.replace(/\s\S+s\s+test/, ' test'));
  };
  const a = run('3');
  t.deepEqual(a, run('3'));
  t.notDeepEqual(a, run('4'));
});

test('the bare command (every default, the embedded digits) shows the method at its best: ≥ 95%', (t) => {
  const r = cli(['train', '--backend', 'wasm', '--workers', '0']);
  t.is(r.status, 0, r.stderr);
  const acc = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)?.[1]);
  t.true(acc >= 95, r.stdout.split('\n').slice(-3).join('\n'));
});

test('bad options are one-line errors with exit code 2, no stack trace', (t) => {
  for (const [args, msg] of [
    [['train', '--iters', 'x'], /--iters expects an integer, got 'x'/],
    [['train', '--loss', 'hinge'], /--loss must be one of ce, mse, bce/],
    [
      ['train', '--workers', '-1'],
      /Option '--workers' argument is ambiguous\. .*use '--workers=-XYZ'/,
    ],
    [
      ['train', '--gv', 'forward'],
      /--gv must be one of linearized, double-vjp, got 'forward'|--gv must be linearized or double-vjp, got 'forward'/,
    ],
    [
      ['train', '--model', 'cnn4', '--data', 'digits', '--gn-size', '5000'],
      /--gn-size must be an integer in 1\.\.1438/,
    ],
    [
      ['train', '--data', 'fashion-mnist', '--data-dir', '/nonexistent'],
      /Fashion-MNIST folder \/nonexistent not found/,
    ],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['train', '--xi', '0.1'], /--xi was renamed --cg-tolerance; use --cg-tolerance instead$/m],
    [['train', '--xi=0.1'], /--xi was renamed --cg-tolerance; use --cg-tolerance instead$/m],
  ] as const) {
    const r = cli([...args]);
    t.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, msg);
    t.is(ownLines(r.stderr).length, 1, r.stderr);
  }
});

test('without tfjs-node: --backend tensorflow is one line saying how to install it; auto says it runs on wasm', (t) => {
  const r = cli(['train', '--backend', 'tensorflow'], withoutNative);
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, /install it with 'npm install @tensorflow\/tfjs-node', or use --backend wasm/);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  const auto = cli(['train', '--iters', '1', '--C', '1', '--workers', '0'], withoutNative);
  t.is(auto.status, 0, auto.stderr);
  t.regex(
    auto.stdout,
    /^backend wasm: @tensorflow\/tfjs-node did not load \(.*\); 'npm install @tensorflow\/tfjs-node' for the native backend$/m,
  );
  t.regex(auto.stdout, /\(backend wasm, in the main thread\)/);
});

test('eval reports the accuracy train ended with, and a confusion matrix of every test sample', (t) => {
  const out = mkdtempSync(join(tmpdir(), 'tn-'));
  const r = cli([
    'train',
    '--C',
    '1',
    '--iters',
    '5',
    '--workers',
    '0',
    '--out',
    out,
    '--backend',
    'wasm',
  ]);
  t.is(r.status, 0, r.stderr);
  const trained = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)?.[1]);
  const e = cli([
    'eval',
    '--model',
    join(out, 'last'),
    '--data',
    'digits',
    '--json',
    '--backend',
    'wasm',
  ]);
  t.is(e.status, 0, e.stderr);
  const rep = JSON.parse(e.stdout);
  t.is((100 * rep.accuracy).toFixed(2), trained.toFixed(2));
  t.is(
    rep.confusion.flat().reduce((a: number, b: number) => a + b, 0),
    rep.samples,
  );
  t.is(
    rep.confusion.reduce((a: number, row: number[], i: number) => a + row[i], 0),
    Math.round(rep.accuracy * rep.samples),
  );
  const missing = cli(['eval', '--model', join(out, 'nothing')]);
  t.is(missing.status, 2);
  t.regex(missing.stderr, /nothing\/model\.json: cannot read the model/);
});

test('the README example runs against the built package and reaches 95% on digits', (t) => {
  const r = spawnSync(process.execPath, ['examples/quickstart.mjs'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  t.is(r.status, 0, r.stderr);
  const acc = Number(/test accuracy ([\d.]+)%/.exec(r.stdout)?.[1]);
  t.true(acc >= 95, r.stdout);
});

test("the README's table of train options is the one the option tables write (npm run docs:options)", async (t) => {
  const { withOptionTable } = await import('../scripts/readme-options.ts');
  const readme = readFileSync('README.md', 'utf8');
  t.is(await withOptionTable(readme), readme, 'run npm run docs:options');
});
