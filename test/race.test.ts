/**
 * `bench race` on digits, briefly: every method's time to a target is the training time of
 * its first report at or above it; Adam's budget holds; the best Adam is the one that gets
 * to the highest target soonest; JSONL logs and the SVG are written.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { raceChart, raceTable, runRace } from '../src/bench/race.ts';

test('a short race on digits: times to targets, the budget, the best Adam, logs and plot', async (t) => {
  const logDir = mkdtempSync(join(tmpdir(), 'race-'));
  const targets = [0.8, 0.9];
  const r = await runRace({
    common: { data: 'digits', model: 'mlp:16', C: 1, backend: 'wasm', workers: 0, bsize: 512 },
    budget: 1.5,
    targets,
    lrs: [1e-2, 1e-4],
    logDir,
  });
  t.deepEqual(
    r.entries.map((e) => e.name),
    ['newton', 'adam lr 0.01', 'adam lr 0.0001'],
  );
  for (const e of r.entries) {
    t.true(e.points.length > 0, e.name);
    for (const x of targets) {
      const first = e.points.find((p) => p.testAcc >= x);
      t.is(e.timeTo[String(x)], first?.t ?? null, `${e.name} to ${x}`);
    }
    t.is(e.bestAcc, Math.max(...e.points.map((p) => p.testAcc)));
    // times only grow
    t.true(e.points.every((p, i) => i === 0 || p.t >= e.points[i - 1].t));
  }
  const adam = r.entries.filter((e) => e.method === 'adam');
  // Adam stops at its budget (the last minibatch may end just past it)
  for (const e of adam) t.true(e.points.at(-1)!.t < 1.5 + 0.5, `${e.name}: ${e.points.at(-1)!.t}`);
  // lr 1e-2 gets to 90% on digits long before lr 1e-4 does
  t.is(r.bestAdam, 'adam lr 0.01');
  t.regex(raceTable(r), /^race: digits, mlp:16, backend wasm/);
  t.regex(raceChart(r), /<svg[^>]*>[\s\S]*test accuracy[\s\S]*<\/svg>/);
  for (const f of ['newton.jsonl', 'adam-0.01.jsonl', 'adam-0.0001.jsonl'])
    t.true(existsSync(join(logDir, f)), f);
  t.is(
    readFileSync(join(logDir, 'newton.jsonl'), 'utf8').trim().split('\n').length,
    r.entries[0].points.length,
  );
});
