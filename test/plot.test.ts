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

test('runs plot as four panels (f and accuracy against iteration and seconds), one line per run each', (t) => {
  const a = readRun(
    run('a.jsonl', [
      '{"iter":1,"f":2,"seconds":1.5,"testAcc":0.5}',
      '{"iter":2,"f":1,"seconds":3,"testAcc":0.75}',
    ]),
  );
  const b = readRun(run('b.jsonl', ['{"iter":1,"f":3,"seconds":0.5,"testAcc":null}']));
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
  t.throws(() => readRun(run('c.jsonl', ['{"iter":1,"f":2,"seconds":1}', 'oops'])), {
    message: /c\.jsonl: line 2: expected one JSON object per line/,
  });
  t.throws(() => readRun(run('d.jsonl', ['{"iter":1,"seconds":1}'])), {
    message: /d\.jsonl: line 1: field 'f' missing or not a number/,
  });
  t.throws(() => readRun(join(dir, 'none.jsonl')), {
    message: /none\.jsonl: file: cannot read \(ENOENT\)/,
  });
});
