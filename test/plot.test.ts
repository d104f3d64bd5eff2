import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { plotRuns, readRun } from '../src/cli/plot.ts';

const dir = mkdtempSync(join(tmpdir(), 'pl-'));
const run = (name: string, lines: string[]) => {
  const p = join(dir, name);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
};

test('runs plot as four panels (f and accuracy against iteration and elapsedSeconds), one line per run each', (t) => {
  const a = readRun(
    run('a.jsonl', [
      '{"iter":1,"f":2,"elapsedSeconds":1.5,"iterSeconds":1.2,"testAcc":0.5}',
      '{"iter":2,"f":1,"elapsedSeconds":3,"iterSeconds":1.1,"testAcc":0.75}',
    ]),
  );
  const b = readRun(
    run('b.jsonl', ['{"iter":1,"f":3,"elapsedSeconds":0.5,"iterSeconds":0.5,"testAcc":null}']),
  );
  const svg = plotRuns([
    { name: 'newton', recs: a },
    { name: 'adam', recs: b },
  ]);
  t.regex(svg, /^<svg [^>]*width="1280" height="800"/);
  t.is(svg.match(/<polyline/g)?.length, 8);
  for (const title of ['objective', 'test accuracy']) t.is(svg.split(`>${title}<`).length - 1, 2);
  t.regex(svg, />newton</);
  t.regex(svg, />adam</);
  // run a's accuracy 50% -> 75% is drawn; run b has no accuracy points
  t.is(svg.match(/<circle/g)?.length, 2 * 2 + 2 * 1 + 2 * 2);
});

test('bad run files are named errors', (t) => {
  t.throws(() => readRun(run('c.jsonl', ['{"iter":1,"f":2,"elapsedSeconds":1}', 'oops'])), {
    message: /c\.jsonl: line 2: expected one JSON object per line/,
  });
  t.throws(() => readRun(run('d.jsonl', ['{"iter":1,"elapsedSeconds":1}'])), {
    message: /d\.jsonl: line 1: field 'f' missing or not a number/,
  });
  // per-iteration time alone is no time axis
  t.throws(() => readRun(run('e.jsonl', ['{"iter":1,"f":2,"iterSeconds":1}'])), {
    message: /e\.jsonl: line 1: field 'elapsedSeconds' missing or not a number/,
  });
  t.throws(() => readRun(run('g.jsonl', ['null'])), {
    message: /g\.jsonl: line 1: expected one JSON object per line/,
  });
  t.throws(() => readRun(join(dir, 'none.jsonl')), {
    message: /none\.jsonl: file: cannot read \(ENOENT\)/,
  });
});

test('logs written before the rename (cumulative time as `seconds`) still plot, as elapsedSeconds', (t) => {
  // the format train --log wrote before: `seconds` cumulative, `iterSeconds` per iteration
  const old = run('old.jsonl', [
    '{"iter":1,"f":2,"gradNorm":1,"alpha":1,"lambda":1,"cgIters":3,"seconds":1.5,"testAcc":0.5,"valAcc":null,"rho":0.9,"iterSeconds":1.2}',
    '{"iter":2,"f":1,"gradNorm":0.5,"alpha":1,"lambda":0.7,"cgIters":4,"seconds":3,"testAcc":0.75,"valAcc":null,"rho":0.8,"iterSeconds":1.1}',
  ]);
  const recs = readRun(old);
  t.deepEqual(
    recs.map((r) => r.elapsedSeconds),
    [1.5, 3],
  );
  t.false('seconds' in recs[0]);
  // the old baseline format (`seconds` cumulative, no iterSeconds) too
  const adam = readRun(
    run('old-adam.jsonl', ['{"iter":1,"f":3,"seconds":0.5,"trainSeconds":0.4,"testAcc":0.6}']),
  );
  t.is(adam[0].elapsedSeconds, 0.5);
  // and they plot exactly as the same runs logged with the new names
  const now = readRun(
    run('new.jsonl', [
      '{"iter":1,"f":2,"elapsedSeconds":1.5,"testAcc":0.5}',
      '{"iter":2,"f":1,"elapsedSeconds":3,"testAcc":0.75}',
    ]),
  );
  t.is(plotRuns([{ name: 'a', recs }]), plotRuns([{ name: 'a', recs: now }]));
  // a record with both names: elapsedSeconds is the one read
  t.is(
    readRun(run('both.jsonl', ['{"iter":1,"f":2,"elapsedSeconds":4,"seconds":1}']))[0]
      .elapsedSeconds,
    4,
  );
});
