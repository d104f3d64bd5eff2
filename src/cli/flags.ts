/**
 * The command line derived from an option table (src/run/options.ts, src/solver/options.ts):
 * the flags node:util parseArgs takes, the options their values make (numbers parsed with a
 * one-line error for what is not a number; ranges and choices are left to the library's own
 * check, validateOptions with style 'cli', so that there is one range check), and the help
 * lines. A command's own flags (--help, --json, the NATS credentials) stay with it.
 */
import { UsageError } from '../errors.js';
import type { OptionSpec } from '../run/schema.js';

type Table = Readonly<Record<string, OptionSpec>>;

/** The parseArgs option of a flag: `--gn-size` → `['gn-size', { type: 'string' }]`. */
const parseArgsEntry = (spec: OptionSpec) =>
  [
    spec.flag!.slice(2),
    { type: spec.type.kind === 'boolean' ? ('boolean' as const) : ('string' as const) },
  ] as const;

/** The options of `table` that have a flag (in the table's order), as parseArgs takes them. */
export function flagsOf(table: Table): Record<string, { type: 'string' } | { type: 'boolean' }> {
  return Object.fromEntries(
    Object.values(table)
      .filter((s) => s.flag)
      .map(parseArgsEntry),
  );
}

/**
 * A number from a flag's text, or a one-line UsageError: `--iters expects an integer, got
 * 'x'`. Ranges are the library's to check.
 */
export function parseNumber(
  value: string | undefined,
  flag: string,
  integer = false,
): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw new UsageError(`${flag} expects ${integer ? 'an integer' : 'a number'}, got '${value}'`);
  return v;
}

/**
 * The options that parseArgs's `values` give for the flags of `table` (keys of the table;
 * flags not given are left out). Kinds without a text form (NATS options, callbacks) are
 * left to the command.
 */
export function optionsFromFlags(
  values: Readonly<Record<string, string | boolean | undefined>>,
  table: Table,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    if (!spec.flag || spec.type.kind === 'nats') continue;
    const value = values[spec.flag.slice(2)];
    if (value === undefined) continue;
    if (typeof value === 'boolean') {
      out[key] = value;
      continue;
    }
    switch (spec.type.kind) {
      case 'number':
        out[key] = parseNumber(value, spec.flag);
        break;
      case 'integer':
        out[key] = parseNumber(value, spec.flag, true);
        break;
      case 'intArray':
        out[key] = value.split(',').map((x) => parseNumber(x, spec.flag!, true)!);
        break;
      default:
        out[key] = value;
    }
  }
  return out;
}

/** Where the help's descriptions start, and how wide they are (to column 98). */
const HELP_COLUMN = 22;
const HELP_WIDTH = 76;

/** `text`'s words in lines of at most `width` characters (a longer word stands alone). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

/** The value a kind shows in the help when the row names none. */
function valueName(spec: OptionSpec): string {
  if (spec.value !== undefined) return spec.value;
  switch (spec.type.kind) {
    case 'integer':
      return 'N';
    case 'number':
      return 'X';
    case 'oneOf':
      return spec.type.values.join('|');
    case 'boolean':
      return '';
    default:
      return 'V';
  }
}

/** How a default reads in the help: numbers as they are, strings bare. */
const showDefault = (v: unknown) => (typeof v === 'string' ? v : String(v));

/**
 * The documented flags of `table` (those with a flag and help, in the table's order): the
 * flag and its value, and the description with "(default X)" from `defaults` where the
 * description does not say it.
 */
function documented(
  table: Table,
  defaults: Readonly<Record<string, unknown>>,
): { flag: string; text: string }[] {
  return Object.entries(table)
    .filter(([, spec]) => spec.flag && spec.help && !spec.internal)
    .map(([key, spec]) => {
      const d = defaults[key];
      const help = spec.help!;
      return {
        flag: `${spec.flag}${valueName(spec) ? ' ' + valueName(spec) : ''}`,
        text:
          d === undefined || /\(default/.test(help) ? help : `${help} (default ${showDefault(d)})`,
      };
    });
}

/**
 * The help of the documented flags: the flag, then the description from column 22 (on the
 * next line when the flag is longer), wrapped to column 98.
 */
export function flagHelp(table: Table, defaults: Readonly<Record<string, unknown>>): string {
  const lines: string[] = [];
  for (const { flag, text } of documented(table, defaults)) {
    const head = `  ${flag}`;
    const [first, ...rest] = wrap(text, HELP_WIDTH);
    if (head.length < HELP_COLUMN) lines.push(head.padEnd(HELP_COLUMN) + first);
    else lines.push(head, ' '.repeat(HELP_COLUMN) + first);
    for (const l of rest) lines.push(' '.repeat(HELP_COLUMN) + l);
  }
  return lines.join('\n') + '\n';
}

/** The documented flags as the README's markdown table, one row each. */
export function flagTable(table: Table, defaults: Readonly<Record<string, unknown>>): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const rows = documented(table, defaults).map(
    ({ flag, text }) => `| \`${cell(flag)}\` | ${cell(text.split('\n').join(' '))} |`,
  );
  return ['| option | meaning (default) |', '| --- | --- |', ...rows].join('\n') + '\n';
}
