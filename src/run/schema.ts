/**
 * The vocabulary of option tables: what an option may hold (OptionKind), its CLI flag and
 * help, and the checks and words every table shares (describe, ranges, closest key). The
 * tables themselves live beside what they configure (src/run/options.ts for a run,
 * src/solver/options.ts for the solver); this module imports nothing of the project, so
 * any of them may use it.
 */

/** A numeric range; a missing bound is unbounded. `open` bounds are excluded. */
export interface Range {
  min?: number;
  minOpen?: boolean;
  max?: number;
  maxOpen?: boolean;
}

/** What an option may hold. */
export type OptionKind =
  | { kind: 'string' }
  | { kind: 'path' }
  | { kind: 'number'; range: Range }
  | { kind: 'integer'; range: Range }
  | { kind: 'oneOf'; values: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'function' }
  | { kind: 'signal' }
  | { kind: 'data' }
  | { kind: 'model' }
  | { kind: 'intArray'; range: Range }
  | { kind: 'object' }
  | { kind: 'nats' }
  | { kind: 'callbacks' };

export interface OptionSpec {
  /** what the value may be */
  type: OptionKind;
  /** the CLI flag, e.g. `--gn-size`; none for library-only options (callbacks, hooks) */
  flag?: string;
  /** the flag's value in the help, e.g. `N`, `X`, `DIR` (default from the kind) */
  value?: string;
  /**
   * the CLI help: what the option does, one or more lines (joined by '\n') of at most 76
   * characters; the default is added from the defaults table
   */
  help?: string;
  /** a value is required (undefined is not the default) */
  required?: boolean;
  /** a testing hook or internal: accepted, not documented */
  internal?: boolean;
}

export const positive: Range = { min: 0, minOpen: true };
/** (0, 1] */
export const unitInterval: Range = { min: 0, minOpen: true, max: 1 };
export const num = (range: Range = {}): OptionKind => ({ kind: 'number', range });
export const int = (min?: number): OptionKind => ({
  kind: 'integer',
  range: min === undefined ? {} : { min },
});
export const oneOf = (values: readonly string[]): OptionKind => ({ kind: 'oneOf', values });

/** The flag a camelCase key would have: `gnRatio` → `--gn-ratio`. */
export function flagOf(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c : '-' + c.toLowerCase()));
}

/** A value as an error shows it: `'x'` for strings, numbers as they are, else its type. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean')
    return `${typeof v === 'boolean' ? 'a boolean ' : ''}${String(v)}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return 'an object';
}

/** `in (0, 1]`, `> 0`, `≥ 1`; '' for no bound. */
export function describeRange(r: Range): string {
  const lo = r.min !== undefined,
    hi = r.max !== undefined;
  if (lo && hi) return `in ${r.minOpen ? '(' : '['}${r.min}, ${r.max}${r.maxOpen ? ')' : ']'}`;
  if (lo) return `${r.minOpen ? '>' : '≥'} ${r.min}`;
  if (hi) return `${r.maxOpen ? '<' : '≤'} ${r.max}`;
  return '';
}

export function inRange(v: number, r: Range): boolean {
  if (r.min !== undefined && (r.minOpen ? !(v > r.min) : !(v >= r.min))) return false;
  if (r.max !== undefined && (r.maxOpen ? !(v < r.max) : !(v <= r.max))) return false;
  return Number.isFinite(v);
}

/** `a or b` for two values, `one of a, b, c` for more. */
export function choiceList(values: readonly string[]): string {
  return values.length === 2 ? values.join(' or ') : `one of ${values.join(', ')}`;
}

/** Levenshtein distance (small strings only). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** The known key closest to `key` by edit distance (case-insensitive), if within 2. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}
