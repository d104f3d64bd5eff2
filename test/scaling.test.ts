/** The scaling benchmark: its timeline arithmetic, and a small run end to end. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { coveredMs } from '../src/bench/scaling.ts';

test('coveredMs: the length of a union of intervals inside a window', (t) => {
  t.is(coveredMs([], 0, 10), 0);
  t.is(coveredMs([{ start: 1, end: 3 }], 0, 10), 2);
  t.is(
    coveredMs(
      [
        { start: 1, end: 3 },
        { start: 5, end: 6 },
      ],
      0,
      10,
    ),
    3,
    'disjoint',
  );
  t.is(
    coveredMs(
      [
        { start: 5, end: 9 },
        { start: 1, end: 6 },
      ],
      0,
      10,
    ),
    8,
    'overlapping, out of order',
  );
  t.is(
    coveredMs(
      [
        { start: 1, end: 8 },
        { start: 2, end: 3 },
      ],
      0,
      10,
    ),
    7,
    'nested',
  );
  t.is(
    coveredMs(
      [
        { start: -5, end: 2 },
        { start: 9, end: 20 },
      ],
      0,
      10,
    ),
    3,
    'clipped to the window',
  );
  t.is(coveredMs([{ start: 11, end: 12 }], 0, 10), 0, 'outside the window');
});

test('bench scaling: a table, JSON and a plot, on synthetic data when the files are absent', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tn-bench-'));
  const plot = join(dir, 'scaling.svg');
  const args = [
    '--import',
    'tsx',
    'src/cli/main.ts',
    'bench',
    'scaling',
    '--models',
    'mlp:8',
    '--workers',
    '1,2',
    '--gn-size',
    '256',
    '--samples',
    '512',
    '--bsize',
    '64',
    '--reps',
    '3',
    '--data-dir',
    join(dir, 'none'),
  ];
  const r = spawnSync(process.execPath, [...args, '--json', '--plot', plot], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  t.is(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.true(report.synthetic);
  t.regex(report.data, /synthetic 28x28x1/);
  t.deepEqual(
    report.rows.map((x: { pass: string; workers: number }) => `${x.pass}/${x.workers}`),
    ['Gv/1', 'f+grad/1', 'Gv/2', 'f+grad/2'],
  );
  for (const row of report.rows) {
    t.true(row.ms > 0);
    for (const share of [row.outsideShare, row.idleShare])
      t.true(share >= 0 && share < 1, `${row.pass}/${row.workers}: ${share}`);
    t.true(
      row.idleShare >= row.outsideShare - 1e-9,
      'time no worker computes is idle time of every worker',
    );
    t.is(row.efficiency, row.speedup / row.workers);
  }
  t.is(report.rows[0].speedup, 1);
  const svg = readFileSync(plot, 'utf8');
  t.regex(svg, /^<svg/);
  t.regex(svg, /ideal/);
  const table = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 300_000 });
  t.is(table.status, 0, table.stderr);
  t.regex(
    table.stdout,
    /model\s+pass\s+workers\s+ms\s+speed-up\s+efficiency\s+outside compute\s+workers idle/,
  );
  t.is(
    table.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('mlp:8')).length,
    4,
  );
});

test('bench scaling: the worker-process flags without --nats are a usage error, not ignored', (t) => {
  for (const flags of [['--netns'], ['--netns-delay', '1'], ['--chunks-per-result', '2']]) {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'bench', 'scaling', ...flags],
      { encoding: 'utf8', timeout: 60_000 },
    );
    t.is(r.status, 2, flags.join(' '));
    t.regex(r.stderr, new RegExp(`bench scaling ${flags[0]} needs --nats URL`));
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
