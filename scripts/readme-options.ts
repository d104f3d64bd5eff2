/**
 * Writes the README's table of `train` options from the option tables (src/run/options.ts,
 * src/solver/options.ts): `npm run docs:options`. test/cli.test.ts checks that the README
 * holds what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import prettier from 'prettier';
import { TRAIN_OPTION_TABLE } from '../src/cli/train.ts';

export const BEGIN =
  '<!-- train options: written by `npm run docs:options` from the option tables -->';
export const END = '<!-- end of train options -->';

/** The README with its options table replaced by the current one, formatted as the repo's prettier does. */
export async function withOptionTable(readme: string): Promise<string> {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md: no ${BEGIN} … ${END} section`);
  const text =
    readme.slice(0, a + BEGIN.length) + '\n\n' + TRAIN_OPTION_TABLE + '\n' + readme.slice(b);
  const config = await prettier.resolveConfig('README.md');
  return prettier.format(text, { ...config, parser: 'markdown' });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync('README.md', await withOptionTable(readFileSync('README.md', 'utf8')));
}
