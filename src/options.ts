/**
 * The options of `train` and `trainFirstOrder`, described once and checked once, at the
 * library's edge, before any data is loaded or anything is computed (as piscina validates
 * its options once in its constructor). This module is the one place options are checked:
 * the CLI runs the same check with style 'cli', so that its messages name the flag
 * (`--gn-ratio`) where the library's name the option (`gnRatio`).
 *
 * - an object that is not a plain object, or an unknown key (a typo: `itres`), is a
 *   TypeError, with the closest known key suggested; a renamed one (RENAMED_OPTIONS:
 *   `xi`) is a TypeError giving its new name;
 * - a value of the wrong type (`seed: 'x'`, `model: 42`, `log: 12345`, `onIteration: 'print'`)
 *   is a TypeError naming the option;
 * - a number out of range (`gnRatio: -1`) or a string not in its list (`loss: 'hinge'`) is a
 *   RangeError naming the option;
 * - `undefined` is always allowed: it means the default.
 *
 * Checks that need the data (gnSize ≤ l, the model against the data's shape) or the file
 * system (paths, checkpoints) stay where that is known (`train`, `checkRunPaths`).
 *
 * The errors carry Node's `code` convention: 'ERR_INVALID_ARG_TYPE' / 'ERR_OUT_OF_RANGE' /
 * 'ERR_INVALID_ARG_VALUE' for the library; with style 'cli', 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
 * / 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', which the CLI's main prints as one line (exit 2),
 * like node:util parseArgs's own errors. They also carry `option` (the camelCase key).
 */
import { availableParallelism } from 'node:os';
import { GV_METHODS } from './autodiff/evaluator.js';
import { BACKENDS } from './backend/select.js';
import type { FirstOrderOptions } from './baseline.js';
import { OPTIMS } from './baseline.js';
import { LOSSES } from './model/loss.js';
import {
  CG_INITS,
  CG_STOPS,
  GN_GROWTHS,
  NEWTON_DEFAULTS,
  NEWTON_METHODS,
  PRECONDITIONERS,
  RENAMED_NEWTON_OPTIONS,
} from './solver/newton.js';
import type { TrainOptions } from './train.js';
import { TRAIN_DEFAULTS } from './run.js';

/** A numeric range; a missing bound is unbounded. `open` bounds are excluded. */
export interface Range {
  min?: number;
  minOpen?: boolean;
  max?: number;
  maxOpen?: boolean;
}

/**
 * What an option may hold. The lists of `oneOf` are thunks: the constants they return live
 * in modules that import this one (baseline.ts → train.ts → options.ts), so they are read
 * at check time, not at load time.
 */
export type OptionKind =
  | { kind: 'string' }
  | { kind: 'path' }
  | { kind: 'number'; range: Range }
  | { kind: 'integer'; range: Range }
  | { kind: 'oneOf'; values: () => readonly string[] }
  | { kind: 'function' }
  | { kind: 'signal' }
  | { kind: 'data' }
  | { kind: 'model' }
  | { kind: 'intArray'; range: Range }
  | { kind: 'object' }
  | { kind: 'nats' };

export interface OptionSpec {
  /** what the value may be */
  type: OptionKind;
  /** the CLI flag, e.g. `--gn-size`; none for library-only options (callbacks, hooks) */
  flag?: string;
  /** a value is required (undefined is not the default) */
  required?: boolean;
  /** a testing hook or internal: accepted, not documented */
  internal?: boolean;
}

const positive: Range = { min: 0, minOpen: true };
const num = (range: Range): OptionKind => ({ kind: 'number', range });
const int = (min?: number): OptionKind => ({
  kind: 'integer',
  range: min === undefined ? {} : { min },
});
const oneOf = (values: () => readonly string[]): OptionKind => ({ kind: 'oneOf', values });
const path: OptionKind = { kind: 'path' };
const fn: OptionKind = { kind: 'function' };

/**
 * Every key of TrainOptions (the mapped type makes tsc fail when a key is added there and
 * not here). Ranges are those of the CLI's `num()` calls in src/cli/train.ts; eta and
 * lambda0 those NewtonCG checks (positive).
 */
export const NEWTON_OPTIONS: { readonly [K in keyof Required<TrainOptions>]: OptionSpec } = {
  data: { type: { kind: 'data' }, flag: '--data' },
  dataDir: { type: path, flag: '--data-dir' },
  test: { type: path, flag: '--test' },
  val: { type: path, flag: '--val' },
  valSplit: { type: num({ min: 0, max: 1 }), flag: '--val-split' },
  labelCol: { type: { kind: 'string' }, flag: '--label-col' },
  shape: { type: { kind: 'intArray', range: { min: 1 } }, flag: '--shape' },
  scale: { type: num(positive), flag: '--scale' },
  model: { type: { kind: 'model' }, flag: '--model' },
  loss: { type: oneOf(() => LOSSES), flag: '--loss' },
  C: { type: num(positive), flag: '--C' },
  gnRatio: { type: num({ min: 0, minOpen: true, max: 1 }), flag: '--gn-ratio' },
  gnSize: { type: int(1), flag: '--gn-size' },
  cgMax: { type: int(1), flag: '--cg-max' },
  cgTolerance: { type: num(positive), flag: '--cg-tolerance' },
  method: { type: oneOf(() => NEWTON_METHODS), flag: '--method' },
  cgInit: { type: oneOf(() => CG_INITS), flag: '--cg-init' },
  cgInitDecay: { type: num({ min: 0, minOpen: true, max: 1 }), flag: '--cg-init-decay' },
  cgStop: { type: oneOf(() => CG_STOPS), flag: '--cg-stop' },
  cgQuadraticTolerance: { type: num(positive), flag: '--cg-quadratic-tolerance' },
  cgKeepBest: { type: int(0), flag: '--cg-keep-best' },
  preconditioner: { type: oneOf(() => PRECONDITIONERS), flag: '--preconditioner' },
  preconditionerExponent: {
    type: num({ min: 0, minOpen: true, max: 1 }),
    flag: '--preconditioner-exponent',
  },
  gnGrowth: { type: oneOf(() => GN_GROWTHS), flag: '--gn-growth' },
  gnGrowthPower: { type: num(positive), flag: '--gn-growth-power' },
  eta: { type: num(positive) },
  lambda0: { type: num(positive) },
  iters: { type: int(0), flag: '--iters' },
  bsize: { type: int(1), flag: '--bsize' },
  seed: { type: int(), flag: '--seed' },
  backend: { type: oneOf(() => BACKENDS), flag: '--backend' },
  gv: { type: oneOf(() => GV_METHODS), flag: '--gv' },
  workers: { type: int(0), flag: '--workers' },
  out: { type: path, flag: '--out' },
  resume: { type: path, flag: '--resume' },
  nats: { type: { kind: 'nats' }, flag: '--nats' },
  log: { type: path, flag: '--log' },
  onIteration: { type: fn },
  onProgress: { type: fn },
  onBoundary: { type: fn },
  signal: { type: { kind: 'signal' } },
};

/**
 * The keys FirstOrderOptions adds. `trainFirstOrder` also takes every Newton key: the CLI
 * passes the same `common` options to both, and Newton-only ones (gv, cgMax, gnRatio,
 * workers, ...) are harmless there (ignored).
 */
export const FIRST_ORDER_OPTIONS: {
  readonly [K in Exclude<keyof FirstOrderOptions, keyof TrainOptions>]-?: OptionSpec;
} = {
  optim: { type: oneOf(() => OPTIMS), flag: '--optim', required: true },
  lr: { type: num(positive), flag: '--lr' },
  batch: { type: int(1), flag: '--batch' },
  epochs: { type: int(1), flag: '--epochs' },
  momentum: { type: num({ min: 0, max: 1 }), flag: '--momentum' },
  maxTrainSeconds: { type: num(positive) },
  onEpoch: { type: fn },
};

/**
 * Options renamed since they were released, old key → new key: the old one is refused with
 * the new name (`option 'xi' was renamed 'cgTolerance'`; the CLI's `--xi` likewise, see
 * checkRenamedFlags), never silently ignored.
 */
export const RENAMED_OPTIONS: Readonly<Record<string, keyof TrainOptions>> = {
  ...RENAMED_NEWTON_OPTIONS,
};

/** How the CLI says a flag was renamed: `--xi was renamed --cg-tolerance; use --cg-tolerance instead`. */
function renamedFlagMessage(old: string): string {
  const now = RENAMED_OPTIONS[old];
  const to = NEWTON_OPTIONS[now].flag ?? flagOf(now);
  return `${flagOf(old)} was renamed ${to}; use ${to} instead`;
}

/**
 * Throws the CLI's one-line error (code ERR_PARSE_ARGS_UNKNOWN_OPTION: exit 2) if the
 * arguments hold a renamed flag (`--xi X` or `--xi=X`, before any `--`), which node:util
 * parseArgs would only call unknown. Run it before parseArgs.
 */
export function checkRenamedFlags(argv: readonly string[]): void {
  for (const arg of argv) {
    if (arg === '--') return;
    const flag = arg.split('=', 1)[0];
    const old = Object.keys(RENAMED_OPTIONS).find((k) => flagOf(k) === flag);
    if (old !== undefined)
      fail(TypeError, renamedFlagMessage(old), old, 'ERR_PARSE_ARGS_UNKNOWN_OPTION');
  }
}

export type Trainer = 'newton' | 'first-order';
export type MessageStyle = 'library' | 'cli';

/** The options schema of a trainer: key → spec. */
export function optionSchema(which: Trainer): Readonly<Record<string, OptionSpec>> {
  return which === 'newton' ? NEWTON_OPTIONS : { ...NEWTON_OPTIONS, ...FIRST_ORDER_OPTIONS };
}

/** An option error: a TypeError or RangeError with the option's key and a Node-style code. */
export interface OptionError extends Error {
  code: string;
  /** the option's key, camelCase */
  option: string;
}

function fail(
  Cls: TypeErrorConstructor | RangeErrorConstructor,
  message: string,
  option: string,
  code: string,
): never {
  const e = new Cls(message) as OptionError;
  e.code = code;
  e.option = option;
  throw e;
}

/** How an error names an option: `option 'gnRatio'` or, for the CLI, `--gn-ratio`. */
function nameOf(key: string, spec: OptionSpec | undefined, style: MessageStyle): string {
  if (style === 'cli' && spec?.flag) return spec.flag;
  return `option '${key}'`;
}

/** The flag a camelCase key would have (for unknown keys in CLI messages). */
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

function inRange(v: number, r: Range): boolean {
  if (r.min !== undefined && (r.minOpen ? !(v > r.min) : !(v >= r.min))) return false;
  if (r.max !== undefined && (r.maxOpen ? !(v < r.max) : !(v <= r.max))) return false;
  return Number.isFinite(v);
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

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/** Any non-array object (loaded data and specs may be class instances). */
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isIntArray = (v: unknown): v is number[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x));

/** A loaded data set, as far as can be told without reading it: n, inputShape, x, labels. */
const isDataset = (d: unknown): boolean => {
  if (typeof d !== 'object' || d === null) return false;
  const s = d as Record<string, unknown>;
  return (
    typeof s.n === 'number' &&
    isIntArray(s.inputShape) &&
    ArrayBuffer.isView(s.x) &&
    ArrayBuffer.isView(s.labels) &&
    typeof s.numClasses === 'number'
  );
};

/**
 * Throws a TypeError or RangeError if `options` is not valid for `which` trainer; returns
 * otherwise. `style` chooses how the messages name options: the library's camelCase keys
 * (`option 'gnRatio' must be in (0, 1], got -1`) or the CLI's flags (`--gn-ratio must be
 * in (0, 1], got -1`). Run it once, first, before any data loading or compute.
 */
export function validateOptions(
  options: unknown,
  which: Trainer,
  style: MessageStyle = 'library',
): void {
  const cli = style === 'cli';
  const typeCode = cli ? 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' : 'ERR_INVALID_ARG_TYPE';
  const rangeCode = cli ? 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' : 'ERR_OUT_OF_RANGE';
  const valueCode = cli ? 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' : 'ERR_INVALID_ARG_VALUE';
  const what = which === 'newton' ? 'train' : 'trainFirstOrder';
  if (options === undefined && which === 'newton') return; // train() = train({})
  if (!isPlainObject(options))
    fail(
      TypeError,
      `the options of ${what} must be an object, got ${describe(options)}`,
      '',
      typeCode,
    );
  const schema = optionSchema(which);
  const known = Object.keys(schema);
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(schema, key)) continue;
    if (Object.hasOwn(RENAMED_OPTIONS, key)) {
      fail(
        TypeError,
        cli ? renamedFlagMessage(key) : `option '${key}' was renamed '${RENAMED_OPTIONS[key]}'`,
        key,
        cli ? 'ERR_PARSE_ARGS_UNKNOWN_OPTION' : 'ERR_INVALID_ARG_VALUE',
      );
    }
    const near = closestKey(
      key,
      known.filter((k) => !cli || schema[k].flag),
    );
    const show = (k: string) => (cli ? (schema[k]?.flag ?? flagOf(k)) : `'${k}'`);
    const hint = near === undefined ? '' : ` (did you mean ${show(near)}?)`;
    fail(
      TypeError,
      `unknown option ${cli ? flagOf(key) : `'${key}'`}${hint}`,
      key,
      cli ? 'ERR_PARSE_ARGS_UNKNOWN_OPTION' : 'ERR_INVALID_ARG_VALUE',
    );
  }
  for (const [key, spec] of Object.entries(schema)) {
    const v = options[key];
    const name = nameOf(key, spec, style);
    if (v === undefined) {
      if (spec.required) fail(TypeError, `${name} is required`, key, typeCode);
      continue;
    }
    const t = spec.type;
    const wrongType = (expected: string): never =>
      fail(TypeError, `${name} must be ${expected}, got ${describe(v)}`, key, typeCode);
    switch (t.kind) {
      case 'string':
        if (typeof v !== 'string') wrongType('a string');
        break;
      case 'path':
        if (typeof v !== 'string') wrongType('a path (a string)');
        if (v === '')
          fail(TypeError, `${name} must be a path, got an empty string`, key, valueCode);
        break;
      case 'number':
      case 'integer': {
        const isInt = t.kind === 'integer';
        const range = describeRange(t.range);
        const expected = isInt
          ? range
            ? `an integer ${range}`
            : 'an integer'
          : range
            ? `a number ${range}`
            : 'a number';
        if (typeof v !== 'number' || Number.isNaN(v)) wrongType(expected);
        const n = v as number;
        if (isInt && Number.isFinite(n) && !Number.isInteger(n)) wrongType(expected);
        if (!inRange(n, t.range))
          fail(
            RangeError,
            `${name} must be ${isInt ? `an integer ${range}` : range || 'finite'}, got ${n}`,
            key,
            rangeCode,
          );
        break;
      }
      case 'oneOf': {
        const values = t.values();
        const list = values.length === 2 ? values.join(' or ') : `one of ${values.join(', ')}`;
        if (typeof v !== 'string') wrongType(list);
        if (!values.includes(v as string))
          fail(RangeError, `${name} must be ${list}, got ${describe(v)}`, key, valueCode);
        break;
      }
      case 'function':
        if (typeof v !== 'function') wrongType('a function');
        break;
      case 'signal':
        if (!(v instanceof AbortSignal)) wrongType('an AbortSignal');
        break;
      case 'object':
        if (!isPlainObject(v)) wrongType('an object');
        break;
      case 'nats':
        if (!isPlainObject(v) || typeof (v as { url?: unknown }).url !== 'string')
          wrongType(
            'NATS options ({ url, and optionally token, user, pass, credsFile, nkeySeedFile, tlsCa, tlsCert, tlsKey })',
          );
        if ((v as { url: string }).url === '')
          fail(
            TypeError,
            `${name} must name a server (nats://host:port), got an empty url`,
            key,
            valueCode,
          );
        break;
      case 'intArray': {
        const range = describeRange(t.range);
        if (!isIntArray(v) || v.length === 0)
          wrongType(`a non-empty array of integers${range ? ` ${range}` : ''}`);
        const bad = (v as number[]).find((x) => !inRange(x, t.range));
        if (bad !== undefined)
          fail(RangeError, `${name} must hold integers ${range}, got ${bad}`, key, rangeCode);
        break;
      }
      case 'data': {
        const expected =
          'a data set name or path (a string) or loaded data ({ train, test } Datasets, as loadData returns)';
        if (typeof v === 'string') {
          if (v === '')
            fail(
              TypeError,
              `${name} must be a data set name or path, got an empty string`,
              key,
              valueCode,
            );
        } else if (!isObject(v) || !isDataset(v.train) || !isDataset(v.test)) wrongType(expected);
        break;
      }
      case 'model': {
        const expected =
          'a preset name, a model.json path (a string) or a ModelSpec ({ inputShape, layers } arrays)';
        if (typeof v === 'string') {
          if (v === '')
            fail(
              TypeError,
              `${name} must be a preset name or a model.json path, got an empty string`,
              key,
              valueCode,
            );
        } else if (!isObject(v) || !isIntArray(v.inputShape) || !Array.isArray(v.layers))
          wrongType(expected);
        break;
      }
    }
  }
}

/**
 * A one-line warning when `workers` exceeds the machine's available parallelism (threads
 * then compete for cores: 64 workers on 2 cores took 80 s for one digits iteration), else
 * null. `cores` is for tests.
 */
export function workersWarning(
  workers: number | undefined,
  cores: number = availableParallelism(),
): string | null {
  if (workers === undefined || !(workers > cores)) return null;
  return `--workers ${workers} is more than the ${cores} core${cores === 1 ? '' : 's'} here: threads will compete for them`;
}

/**
 * The default regularisation constant C for `data`. The embedded digits set is small
 * (l = 1,438 training samples): simpleNN's C = 0.01 weighs ‖θ‖²/(2Cl) so heavily there that
 * it over-regularises (79.7% test accuracy against 97% with C = 1), so digits gets C = 1.
 * Everything else keeps simpleNN's default, NEWTON_DEFAULTS.C. `undefined` is the default
 * data (TRAIN_DEFAULTS.data, digits); loaded data counts as digits by its name.
 */
export function defaultC(data: unknown): number {
  const d = data === undefined ? TRAIN_DEFAULTS.data : data;
  const name =
    typeof d === 'string' ? d : isObject(d) && typeof d.name === 'string' ? d.name : undefined;
  return name === 'digits' ? 1 : NEWTON_DEFAULTS.C;
}
