import test from 'ava';
import { ProgressBar } from '../src/cli/progress.ts';

const stream = (isTTY: boolean) => {
  const out: string[] = [];
  return { out, s: { isTTY, write: (x: string) => out.push(x) } as unknown as NodeJS.WriteStream };
};

test('on a terminal the bar is drawn in place and erased before a line', (t) => {
  const { out, s } = stream(true);
  const bar = new ProgressBar(s);
  bar.update('f+grad', 30, 60);
  bar.update('f+grad', 60, 60);
  t.is(out.length, 2);
  t.regex(out[0], /^\r {2}f\+grad \[#{15} {15}\] 30\/60\x1b\[K$/);
  t.regex(out[1], /\[#{30}\] 60\/60/);
  bar.clear();
  t.is(out.at(-1), '\r\x1b[K');
});

test('elsewhere (pipes, logs) nothing is written', (t) => {
  const { out, s } = stream(false);
  const bar = new ProgressBar(s);
  t.false(bar.enabled);
  bar.update('Gv', 1, 2);
  bar.clear();
  t.deepEqual(out, []);
});
