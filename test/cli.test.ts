/** The `train` command end to end on the embedded digits set. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';

const cli = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 300_000 });

test('train on digits (the npm start settings) reaches ≥ 95% test accuracy and logs JSONL', (t) => {
  const log = join(mkdtempSync(join(tmpdir(), 'tn-')), 'run.jsonl');
  const r = cli(['train', '--data', 'digits', '--model', 'mlp:64,64', '--C', '1', '--iters', '30', '--backend', 'wasm', '--log', log]);
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[0], /^iter {3}1 {2}f \S+ {2}\|g\| \S+ {2}α \S+ {2}λ \S+ {2}CG +\d+ {2}\S+s {2}test \S+%$/);
  const acc = Number(/test accuracy ([\d.]+)%/.exec(lines.at(-1)!)?.[1]);
  t.true(acc >= 95, `accuracy ${acc}`);
  const recs = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.is(recs.length, 30);
  for (const k of ['iter', 'f', 'gradNorm', 'alpha', 'lambda', 'cgIters', 'seconds', 'testAcc']) t.true(k in recs[0], k);
  t.true(recs[29].f < recs[0].f);
  t.true(recs.every((r, i) => i === 0 || r.seconds >= recs[i - 1].seconds), 'seconds is cumulative');
});

test('the same seed gives the same trajectory; another seed another', (t) => {
  const run = (seed: string) => {
    const r = cli(['train', '--iters', '4', '--C', '1', '--seed', seed, '--backend', 'wasm']);
    t.is(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l.startsWith('iter')).map((l) => l.replace(/\s\S+s\s+test/, ' test'));
  };
  const a = run('3');
  t.deepEqual(a, run('3'));
  t.notDeepEqual(a, run('4'));
});

test('bad options are one-line errors with exit code 2, no stack trace', (t) => {
  for (const [args, msg] of [
    [['train', '--iters', 'x'], /--iters expects an integer, got 'x'/],
    [['train', '--loss', 'hinge'], /--loss must be ce or mse/],
    [['train', '--backend', 'tensorflow'], /install it with 'npm install @tensorflow\/tfjs-node', or use --backend wasm/],
    [['train', '--model', 'cnn4', '--data', 'digits', '--gn-size', '5000'], /--gn-size must be an integer in 1\.\.1438/],
    [['train', '--data', 'fashion-mnist', '--data-dir', '/nonexistent'], /Fashion-MNIST folder \/nonexistent not found/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ] as const) {
    const r = cli([...args]);
    t.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, msg);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
