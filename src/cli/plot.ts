/** `tfjs-newton plot`: objective and test accuracy of runs, against iteration and wall time. */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { chart, type Panel } from '../charts/svg.js';
import { DataError } from '../data/errors.js';
import { UsageError } from '../errors.js';
import { checkInputFile, checkOutputFile } from '../paths.js';
import { readLogRecord, type LogRecord } from '../run/records.js';

export const PLOT_HELP = `Usage: tfjs-newton plot RUN.jsonl [--vs OTHER.jsonl ...] -o FILE.svg

Plots the objective f and the test accuracy of one or more runs (the --log files of train,
Newton or --optim adam|sgd), against iteration (or epoch) and against wall-clock seconds
since training started (their elapsedSeconds; 'seconds' in logs written before the rename).

  --vs FILE      another run to compare (repeatable)
  -o, --out FILE the SVG to write
`;

type Rec = LogRecord;

export function readRun(file: string): Rec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(
      file,
      'file',
      `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const recs = text
    .split('\n')
    .map((l, i) => ({ l, i }))
    .filter(({ l }) => l.trim() !== '')
    .map(({ l, i }) => {
      const notObject = () =>
        new DataError(
          file,
          `line ${i + 1}`,
          'expected one JSON object per line (a train --log file)',
        );
      let parsed: unknown;
      try {
        parsed = JSON.parse(l);
      } catch {
        throw notObject();
      }
      const r = readLogRecord(parsed);
      if (r === 'not an object') throw notObject();
      if (typeof r === 'string') throw new DataError(file, `line ${i + 1}`, r);
      return r;
    });
  if (recs.length === 0) throw new DataError(file, 'line 1', 'no records');
  return recs;
}

export function plotRuns(runs: { name: string; recs: Rec[] }[]): string {
  const series = (x: (r: Rec) => number, y: (r: Rec) => number | null) =>
    runs.map(({ name, recs }) => ({
      name,
      points: recs.map((r) => [x(r), y(r) ?? NaN] as [number, number]),
    }));
  const acc = (r: Rec) => (r.testAcc === null ? null : 100 * r.testAcc);
  const panels: Panel[] = [
    {
      title: 'objective',
      xLabel: 'iteration',
      yLabel: 'f',
      series: series(
        (r) => r.iter,
        (r) => r.f,
      ),
    },
    {
      title: 'objective',
      xLabel: 'seconds',
      yLabel: 'f',
      series: series(
        (r) => r.elapsedSeconds,
        (r) => r.f,
      ),
    },
    {
      title: 'test accuracy',
      xLabel: 'iteration',
      yLabel: 'accuracy %',
      series: series((r) => r.iter, acc),
    },
    {
      title: 'test accuracy',
      xLabel: 'seconds',
      yLabel: 'accuracy %',
      series: series((r) => r.elapsedSeconds, acc),
    },
  ];
  return chart(panels, 2);
}

export async function plotCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      vs: { type: 'string', multiple: true },
      out: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(PLOT_HELP);
    return;
  }
  if (positionals.length !== 1) throw new UsageError('plot needs one RUN.jsonl (more with --vs)');
  if (!values.out) throw new UsageError('plot needs -o FILE.svg');
  const files = [positionals[0], ...(values.vs ?? [])];
  files.forEach((f, i) => checkInputFile(f, i === 0 ? 'the run log' : '--vs'));
  checkOutputFile(values.out, '-o');
  const runs = files.map((f) => ({ name: basename(f).replace(/\.jsonl$/, ''), recs: readRun(f) }));
  writeFileSync(values.out, plotRuns(runs));
  console.log(`wrote ${values.out} (${runs.length} run${runs.length > 1 ? 's' : ''})`);
}
