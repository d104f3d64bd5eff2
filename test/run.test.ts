/** Runs end to end: kill and resume, validation and the best model, model files in. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { initBackend } from '../src/backend/select.ts';
import { kerasModel } from '../src/model/keras.ts';
import { presetModel } from '../src/model/presets.ts';
import { train } from '../src/run/train.ts';

const CLI = ['--import', 'tsx', 'src/cli/main.ts'];
const base = [
  'train',
  '--data',
  'digits',
  '--model',
  'mlp:256,256',
  '--C',
  '1',
  '--iters',
  '8',
  '--seed',
  '3',
  '--workers',
  '0',
  '--backend',
  'wasm',
];
const records = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      // the times, which differ from run to run (a resumed run's earlier lines, rewritten
      // from its checkpoint, have no phase times: see LogRecord)
      const {
        elapsedSeconds: _s,
        iterSeconds: _i,
        gradSeconds: _g,
        cgSeconds: _c,
        directionSeconds: _d,
        lineSearchSeconds: _l,
        ...r
      } = JSON.parse(l);
      return r;
    });

test('a run killed after iteration 3 and resumed gives the trajectory of one that never stopped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'run-'));
  const full = spawnSync(process.execPath, [...CLI, ...base, '--log', join(dir, 'full.jsonl')], {
    encoding: 'utf8',
  });
  t.is(full.status, 0, full.stderr);
  const out = join(dir, 'out');
  const part = join(dir, 'part.jsonl');
  const child = spawn(process.execPath, [...CLI, ...base, '--out', out, '--log', part], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve) => {
    let seen = '';
    child.stdout.on('data', (b: Buffer) => {
      seen += b.toString();
      if (/^iter {3}3 /m.test(seen)) child.kill('SIGKILL');
    });
    child.on('exit', () => resolve());
  });
  t.is(child.signalCode, 'SIGKILL', 'the run was killed before it finished');
  const killedAt = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')).iter;
  t.true(killedAt >= 3 && killedAt < 8, `checkpoint at iteration ${killedAt}`);
  const resumed = spawnSync(process.execPath, [...CLI, ...base, '--resume', out, '--log', part], {
    encoding: 'utf8',
  });
  t.is(resumed.status, 0, resumed.stderr);
  t.regex(resumed.stdout, new RegExp(`^iter +${killedAt + 1} `, 'm'));
  t.deepEqual(records(part), records(join(dir, 'full.jsonl')));
  t.true(existsSync(join(out, 'last', 'model.json')));
});

test.serial(
  'with a validation split, the best model by validation accuracy is kept beside the last',
  async (t) => {
    await initBackend('wasm');
    const out = mkdtempSync(join(tmpdir(), 'run-'));
    const r = await train({
      data: 'digits',
      model: 'mlp:32',
      C: 1,
      iters: 6,
      valSplit: 0.2,
      workers: 0,
      out,
      backend: 'wasm',
    });
    const vals = r.history.map((h) => h.valAcc);
    t.true(vals.every((v) => v > 0 && v <= 1));
    const bestIter = vals.indexOf(Math.max(...vals)) + 1;
    t.is(r.bestIter, bestIter);
    t.true(
      existsSync(join(out, 'best', 'model.json')) && existsSync(join(out, 'last', 'weights.bin')),
    );
    t.is(r.history.length, 6);
  },
);

test.serial(
  '--model FILE.json trains that topology; a mismatched input shape is refused with a hint',
  async (t) => {
    await initBackend('wasm');
    const dir = mkdtempSync(join(tmpdir(), 'run-'));
    const file = join(dir, 'model.json');
    const km = kerasModel(presetModel('mlp:20', [8, 8, 1], 10));
    writeFileSync(file, JSON.stringify(km.toJSON(null, false)));
    km.dispose();
    const r = await train({
      data: 'digits',
      model: file,
      C: 1,
      iters: 3,
      workers: 0,
      backend: 'wasm',
    });
    t.is(r.network.numParams, 64 * 20 + 20 + 20 * 10 + 10);
    const flat = kerasModel(presetModel('cnn4', [28, 28, 1], 10));
    writeFileSync(file, JSON.stringify(flat.toJSON(null, false)));
    flat.dispose();
    await t.throwsAsync(
      () => train({ data: 'digits', model: file, iters: 1, workers: 0, backend: 'wasm' }),
      {
        message:
          /model\.json expects samples of shape \[28,28,1\], the data has \[8,8,1\] \(pass --shape 28,28,1\)/,
      },
    );
  },
);

test("each iteration's time by phase: given to onIteration and in the log's line, within the iteration's time", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'phases-'));
  const log = join(dir, 'run.jsonl');
  const given: Record<string, number>[] = [];
  const r = await train({
    data: 'digits',
    model: 'mlp:16',
    C: 1,
    iters: 3,
    workers: 0,
    backend: 'wasm',
    log,
    onIteration: (_it, phases) => given.push({ ...phases }),
  });
  const lines = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.is(lines.length, 3);
  lines.forEach((line, i) => {
    const phases = ['gradSeconds', 'cgSeconds', 'directionSeconds', 'lineSearchSeconds'];
    t.deepEqual(Object.fromEntries(phases.map((k) => [k, line[k]])), given[i]);
    for (const k of phases) t.true(line[k] >= 0, k);
    t.true(line.gradSeconds > 0 && line.cgSeconds > 0 && line.lineSearchSeconds > 0);
    const sum = phases.reduce((a, k) => a + line[k], 0);
    t.true(sum <= r.history[i].iterSeconds + 1e-9, `${sum} ≤ ${r.history[i].iterSeconds}`);
    t.true(sum >= 0.5 * r.history[i].iterSeconds, 'the phases are most of the iteration');
  });
  // the history (what checkpoints hold and runs are compared by) has no such field
  t.false('cgSeconds' in r.history[0]);
});
