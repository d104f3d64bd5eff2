/**
 * File content in messages: quoted on one line, with control and other non-printable
 * characters escaped and long content cut (quoteContent in src/errors.ts), in every reader
 * that shows what it found: a checkpoint, CSV, LIBSVM and digits files, a Keras model.json,
 * a NATS frame.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadCheckpoint } from '../src/checkpoint.ts';
import { parseCsv } from '../src/data/csv.ts';
import { parseLibsvm } from '../src/data/libsvm.ts';
import { errorLine, quoteContent, showContent } from '../src/errors.ts';
import { specFromKeras } from '../src/model/keras.ts';
import { decodeFrame, FRAME_HEADER_BYTES, encodeFrame } from '../src/transport/nats/frames.ts';

/** Nothing a terminal would act on or show as other than itself. */
const PRINTABLE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]*$/u;
/** JSON.parse quotes the first 10 characters of what it failed on: these are all escaped */
const GARBAGE = '\x01\r\n\x1b[2J\x00\u202e\tgarbage\nmore';
const ESCAPED = '\\x01\\r\\n\\x1b[2J\\x00\\u202e\\t';

test('quoteContent escapes what is not printable, keeps the rest, cuts long content', (t) => {
  t.is(quoteContent('a\nb\tc\rd\x00\x1b\x7f'), "'a\\nb\\tc\\rd\\x00\\x1b\\x7f'");
  t.is(quoteContent('\u0085\u200b\u202e\u2028\ud800'), "'\\x85\\u200b\\u202e\\u2028\\ud800'");
  t.is(quoteContent('été ∇f 1.5 \\n'), "'été ∇f 1.5 \\\\n'", 'a backslash in the content is \\\\');
  t.is(quoteContent('x'.repeat(61)), `'${'x'.repeat(60)}'…`);
  t.is(quoteContent('∇'.repeat(5), 3), "'∇∇∇'…", 'cut by characters');
  t.is(showContent('a\nb'), 'a\\nb');
  t.regex(quoteContent(GARBAGE), PRINTABLE);
  let parseError: unknown;
  try {
    JSON.parse(GARBAGE);
  } catch (e) {
    parseError = e;
  }
  t.regex(errorLine(parseError), PRINTABLE);
  t.true(errorLine(parseError).includes(ESCAPED), errorLine(parseError));
  t.true(errorLine(new Error('y'.repeat(500))).length <= 161);
});

test('a garbage checkpoint.json is one line with its bytes escaped, in the library and the CLI', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'quote-'));
  writeFileSync(join(dir, 'checkpoint.json'), GARBAGE);
  const e = t.throws(() => loadCheckpoint(dir));
  t.regex(e.message, /checkpoint\.json: cannot read a checkpoint \(Unexpected token /);
  t.regex(e.message, PRINTABLE);
  t.true(e.message.includes(ESCAPED), e.message);
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'train', '--resume', dir, '--backend', 'wasm'],
    { encoding: 'utf8', timeout: 300_000 },
  );
  t.is(r.status, 2, r.stderr);
  t.is(r.stderr.split('\n').filter((l) => l !== '').length, 1, r.stderr);
  t.regex(r.stderr.trimEnd(), PRINTABLE);
  t.true(r.stderr.includes(ESCAPED), r.stderr);
});

test('CSV and LIBSVM cells and CSV column names with control characters are shown escaped', (t) => {
  const cell = t.throws(() => parseCsv('1,2,0\n1,2\x07\x1b[2J,0\n', 'f.csv'));
  t.is(cell.message, "f.csv: line 2, column 2: expected a number, found '2\\x07\\x1b[2J'");
  const column = t.throws(() =>
    parseCsv('a\x1b[31m,b\u202e,y\n1,2,0\n', 'f.csv', { labelCol: 'label' }),
  );
  t.is(column.message, "f.csv: line 1: no column named 'label' (columns: a\\x1b[31m, b\\u202e, y)");
  const item = t.throws(() => parseLibsvm('1 1:1 x\x00y\n', 'f.svm'));
  t.is(item.message, "f.svm: line 1, item 3: expected index:value, found 'x\\x00y'");
  const long = t.throws(() =>
    parseCsv(`1,2,0\n1,${'9'.repeat(30)}e${'9'.repeat(80)},0\n`, 'f.csv'),
  );
  t.regex(long.message, /expected a finite number, found '9{30}e9{29}'…$/);
});

test('a model.json and a NATS frame that are not JSON are one printable line', (t) => {
  const keras = t.throws(() => specFromKeras(GARBAGE, 'm.json'));
  t.regex(keras.message, /^m\.json: not JSON \(.*\): expected a Keras\/tfjs model\.json$/);
  t.regex(keras.message, PRINTABLE);
  t.true(keras.message.includes(ESCAPED), keras.message);
  const layer = t.throws(() =>
    specFromKeras(
      { class_name: 'Sequential', config: { layers: [{ class_name: 'Den\nse' }] } },
      'm.json',
    ),
  );
  t.regex(layer.message, /^m\.json: layer 0 \(Den\\nse\): layer type Den\\nse is not supported/);

  const frame = encodeFrame({ a: 1 });
  const meta = new TextEncoder().encode(`{"a"\n:\x01}`.padEnd(frame.length - FRAME_HEADER_BYTES));
  frame.set(meta.subarray(0, frame.length - FRAME_HEADER_BYTES), FRAME_HEADER_BYTES);
  const bad = t.throws(() => decodeFrame(frame));
  t.regex(bad.message, /^bad meta: not JSON \(/);
  t.regex(bad.message, PRINTABLE);
});

test('a CSV header of many columns is listed by its first 20', (t) => {
  const names = Array.from({ length: 785 }, (_, i) => `pixel${i}`);
  const csv = `${names.join(',')}\n${names.map(() => '0').join(',')}\n`;
  const e = t.throws(() => parseCsv(csv, 'f.csv', { labelCol: 'label' }));
  t.is(
    e.message,
    `f.csv: line 1: no column named 'label' (columns: ${names.slice(0, 20).join(', ')}, … 785 in all)`,
  );
});
