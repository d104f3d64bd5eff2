/**
 * What one row of the solver's option table holds (SolverOption), the helpers that make a
 * row, and the type of the options a table of rows describes (OptionsOf). The rows live
 * beside what they configure: the core options in options.ts, each remedy's in its unit
 * (remedies/); options.ts derives everything else from them. This module imports only the
 * vocabulary of option tables (src/run/schema.ts).
 */
import {
  choiceList,
  describeRange,
  inRange,
  oneOf,
  type OptionKind,
  type OptionSpec,
  type Range,
} from '../run/schema.js';

/** The named algorithms: simpleNN's exactly, or with the Hessian-free remedies of HF_METHOD. */
export const NEWTON_METHODS = ['simplenn', 'hf'] as const;
export type NewtonMethod = (typeof NEWTON_METHODS)[number];

/**
 * When an option enters a run's identity (RunIdentity: what a resume must match):
 * 'always', or only while another option has a given value (a remedy's parameter only
 * while the remedy is on: cgInitDecay with cgInit 'previous'), so that a parameter that
 * changes nothing does not make two runs differ. Absent: never (it does not enter).
 */
export type IdentityRule = 'always' | { readonly with: string; readonly is: string };

/** One user-settable solver option. */
export interface SolverOption<V = unknown> {
  /** kind and range (what validation checks), CLI flag, value name and help (no default) */
  readonly spec: OptionSpec;
  /** its value in simpleNN's algorithm (`method: 'simplenn'`, the default) */
  readonly default: V;
  /** its value in the other methods, where it differs from the default (`{ hf: 4 }`) */
  readonly presets?: { readonly [M in NewtonMethod]?: V };
  readonly identity?: IdentityRule;
}

/** A row's fields besides its kind: the spec's flag, value and help, and the row's own. */
type RowInput<V> = Omit<OptionSpec, 'type'> & Omit<SolverOption<V>, 'spec'>;

const row = <V>(type: OptionKind, { default: d, presets, identity, ...spec }: RowInput<V>) => {
  const r: SolverOption<V> = { spec: { type, ...spec }, default: d };
  return Object.assign(r, presets && { presets }, identity && { identity }) as SolverOption<V>;
};

/** A row whose value is one of `values`. */
export const choiceRow = <const T extends readonly string[]>(values: T, r: RowInput<T[number]>) =>
  row<T[number]>(oneOf(values), r);

/** A row whose value is a number (`kind` 'number' or 'integer', with its range). */
export const numberRow = (type: OptionKind, r: RowInput<number>) => row<number>(type, r);

/** The options a table of rows describes: key → the row's value type. */
export type OptionsOf<T> = {
  -readonly [K in keyof T]: T[K] extends SolverOption<infer V> ? V : never;
};

/** The union of the members of a union of object types, as one object type. */
export type Merged<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void
  ? I
  : never;

/** How a number's range reads in the solver's messages: `a positive number`, `in (0, 1]`. */
function numberWords(r: Range): string {
  if (r.min === 0 && r.minOpen && r.max === undefined) return 'a positive number';
  return describeRange(r) || 'a finite number';
}

function integerWords(r: Range): string {
  if (r.min === 1 && !r.minOpen && r.max === undefined) return 'a positive integer';
  const range = describeRange(r);
  return range ? `an integer ${range}` : 'an integer';
}

/**
 * Throws a RangeError if `v` is not a value of `kind` (`cgInitDecay must be in (0, 1], got
 * 0`): the check NewtonCG makes of every row, whoever calls it.
 */
export function checkValue(key: string, kind: OptionKind, v: unknown): void {
  switch (kind.kind) {
    case 'number':
      if (!inRange(v as number, kind.range))
        throw new RangeError(`${key} must be ${numberWords(kind.range)}, got ${v}`);
      return;
    case 'integer':
      if (!Number.isInteger(v) || !inRange(v as number, kind.range))
        throw new RangeError(`${key} must be ${integerWords(kind.range)}, got ${v}`);
      return;
    case 'oneOf':
      if (!kind.values.includes(v as string))
        throw new RangeError(`${key} must be ${choiceList(kind.values)}, got ${JSON.stringify(v)}`);
      return;
    default:
      throw new TypeError(`a solver option of kind '${kind.kind}' (${key}) has no check`);
  }
}
