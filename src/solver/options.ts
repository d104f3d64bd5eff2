/**
 * The solver's options, one row each (SolverOption: kind and range, CLI flag and help, the
 * default, its value in each method, whether it enters a run's identity), and everything
 * derived from the rows: the options' types, the methods (SIMPLENN_METHOD, HF_METHOD),
 * the defaults, the options schema's rows (SOLVER_OPTION_SPECS, spread into the run's),
 * the options a run hands the solver (solverOptionsOf), NewtonCG's validation, and what a
 * resume must match (methodIdentity, SOLVER_IDENTITY_OPTIONS, LEGACY_METHOD_IDENTITY).
 *
 * The core options' rows are here; each remedy's are in its unit (remedies/), registered in
 * remedies/index.ts. The internal options (drop, boost, maxHalvings, seed, gnSize: set by
 * the run, not by its user) are plain fields of NewtonOptions, checked by code.
 */
import { int, num, positive } from '../run/schema.js';
import {
  checkValue,
  choiceRow,
  NEWTON_METHODS,
  numberRow,
  type Merged,
  type NewtonMethod,
  type OptionsOf,
  type SolverOption,
} from './option-table.js';
import { REMEDIES } from './remedies/index.js';

export { NEWTON_METHODS, type NewtonMethod } from './option-table.js';
export { CG_INITS } from './remedies/cg-init.js';
export { CG_STOPS } from './remedies/cg-stop.js';
export { PRECONDITIONERS } from './remedies/preconditioner.js';
export { GN_GROWTHS } from './remedies/gn-growth.js';
export { GRAD_SAMPLES } from './remedies/grad-sample.js';
export type { IterationReport, NewtonState, PhaseSeconds } from './report.js';

/** The rows of every remedy, in registry order. */
const REMEDY_ROWS = Object.assign({}, ...REMEDIES.map((r) => r.rows)) as Merged<
  (typeof REMEDIES)[number]['rows']
>;

/**
 * The options a method sets: every remedy's (each may also be given on its own, overriding
 * the method's value). What each does and costs is at its unit in remedies/.
 */
export type MethodOptions = OptionsOf<typeof REMEDY_ROWS>;

/** The keys of MethodOptions, in registry order. */
const METHOD_KEYS = Object.keys(REMEDY_ROWS) as (keyof MethodOptions)[];

/** The default C: simpleNN's (the run gives the embedded digits its own: defaultC). */
const C_DEFAULT = 0.01;

/** What --method hf sets, as flags: `--cg-init previous, --cg-stop quadratic, ...`, two a line. */
function methodFlags(method: NewtonMethod): string {
  const set = METHOD_KEYS.filter((k) => {
    const p = (REMEDY_ROWS[k] as SolverOption).presets;
    return p?.[method] !== undefined && p[method] !== REMEDY_ROWS[k].default;
  }).map(
    (k) => `${REMEDY_ROWS[k].spec.flag} ${(REMEDY_ROWS[k] as SolverOption).presets?.[method]}`,
  );
  const lines: string[] = [];
  for (let i = 0; i < set.length; i += 2) lines.push(set.slice(i, i + 2).join(', '));
  return lines.join(',\n');
}

/**
 * Every user-settable option of the solver, one row each, in the order the CLI's help
 * lists them: the core options, the method, every remedy's (registry order).
 */
const SOLVER_ROWS = {
  C: numberRow(num(positive), {
    flag: '--C',
    value: 'X',
    help:
      `regularisation: f = ‖θ‖²/(2·C·l) + mean loss (default ${C_DEFAULT}; 1 for the\n` +
      'embedded digits, whose 1,438 samples C = 0.01 over-regularises)',
    default: C_DEFAULT,
    identity: 'always',
  }),
  cgMax: numberRow(int(1), {
    flag: '--cg-max',
    value: 'N',
    help: 'CG steps per iteration at most',
    default: 250,
  }),
  cgTolerance: numberRow(num(positive), {
    flag: '--cg-tolerance',
    value: 'X',
    help: "CG stops at ‖r‖ ≤ X·‖∇f‖ (simpleNN's ξ_cg; formerly --xi)",
    default: 0.1,
  }),
  method: choiceRow(NEWTON_METHODS, {
    flag: '--method',
    value: 'M',
    help:
      "simplenn (simpleNN's algorithm exactly) or hf, Martens's Hessian-free\n" +
      'remedies (HF_METHOD in src/solver/options.ts):\n' +
      `${methodFlags('hf')}\n` +
      "(each flag below overrides its method's value)",
    default: 'simplenn',
    identity: 'always',
  }),
  ...REMEDY_ROWS,
  eta: numberRow(num(positive), {
    help: 'sufficient-decrease constant of the line search',
    default: 1e-4,
  }),
  lambda0: numberRow(num(positive), {
    help: 'initial Levenberg-Marquardt damping',
    default: 1,
  }),
};

/** The options a user may set on the solver (through train's options or the CLI). */
export type SolverOptions = OptionsOf<typeof SOLVER_ROWS>;
export type SolverOptionKey = keyof SolverOptions;

/** Every row (key → row), in the help's order: for tests and tables. */
export const SOLVER_OPTIONS: Readonly<Record<SolverOptionKey, SolverOption>> = SOLVER_ROWS;

/** The keys of every row, in the help's order. */
export const SOLVER_OPTION_KEYS = Object.keys(SOLVER_ROWS) as readonly SolverOptionKey[];

const mapRows = <T>(f: (row: SolverOption, key: SolverOptionKey) => T) =>
  Object.fromEntries(SOLVER_OPTION_KEYS.map((k) => [k, f(SOLVER_ROWS[k], k)])) as Record<
    SolverOptionKey,
    T
  >;

/** The rows as the run's options schema takes them (kind and range, flag, value, help). */
export const SOLVER_OPTION_SPECS = mapRows((r) => r.spec);

/** The default of every row: simpleNN's algorithm (the CLI help's "(default X)"). */
export const SOLVER_DEFAULTS = mapRows((r) => r.default) as Readonly<SolverOptions>;

/**
 * The solver's options among a run's (`o`, any object with the solver's keys): every row
 * whose value is given (not undefined), and nothing else. What train() hands NewtonCG.
 */
export function solverOptionsOf(o: {
  readonly [K in SolverOptionKey]?: SolverOptions[K];
}): Partial<SolverOptions> {
  const out: Record<string, unknown> = {};
  for (const k of SOLVER_OPTION_KEYS) if (o[k] !== undefined) out[k] = o[k];
  return out as Partial<SolverOptions>;
}

export interface NewtonOptions extends SolverOptions {
  /** λ factor when ρ ≥ 0.75 */
  drop: number;
  /** λ factor when ρ < 0.25 */
  boost: number;
  /** |S|, the number of samples in each Gauss-Newton subset (the first one's with gnGrowth 'gradient') */
  gnSize: number;
  /** halvings of α before the run is ended as stuck */
  maxHalvings: number;
  /** seed of the subset generator */
  seed: number;
}

/** The options of method `m`: each remedy row's value in it (its preset, else its default). */
const methodOptions = (m: NewtonMethod): Readonly<MethodOptions> =>
  Object.fromEntries(
    METHOD_KEYS.map((k) => [
      k,
      (REMEDY_ROWS[k] as SolverOption).presets?.[m] ?? REMEDY_ROWS[k].default,
    ]),
  ) as MethodOptions;

/** simpleNN's algorithm: every remedy off. */
export const SIMPLENN_METHOD: Readonly<MethodOptions> = methodOptions('simplenn');

/**
 * What `method: 'hf'` turns on: Martens's Hessian-free remedies (warm-started CG, the
 * quadratic-model stop, CG-backtracking over 4 kept iterates, the diagonal preconditioner),
 * with simpleNN's damping, line search and fixed subset otherwise: the `hf` presets of the
 * remedies' rows.
 */
export const HF_METHOD: Readonly<MethodOptions> = methodOptions('hf');

/** The options of each method. */
export const METHOD_OPTIONS: Readonly<Record<NewtonMethod, Readonly<MethodOptions>>> = {
  simplenn: SIMPLENN_METHOD,
  hf: HF_METHOD,
};

/**
 * The defaults besides the method's options (those come from METHOD_OPTIONS[method]: see
 * resolveNewtonOptions): the core rows' and the internal options'.
 */
export const NEWTON_DEFAULTS: Omit<NewtonOptions, 'gnSize' | keyof MethodOptions> = {
  method: SOLVER_DEFAULTS.method,
  C: SOLVER_DEFAULTS.C,
  cgTolerance: SOLVER_DEFAULTS.cgTolerance,
  cgMax: SOLVER_DEFAULTS.cgMax,
  eta: SOLVER_DEFAULTS.eta,
  lambda0: SOLVER_DEFAULTS.lambda0,
  drop: 2 / 3,
  boost: 3 / 2,
  maxHalvings: 20,
  seed: 1,
};

/** Newton options renamed since they were released, old key → new key (options.ts refuses them too). */
export const RENAMED_NEWTON_OPTIONS = {
  /** the CG tolerance: ξ is the loss in the same formulas */
  xi: 'cgTolerance',
} as const satisfies Readonly<Record<string, keyof NewtonOptions>>;

/** The options a NewtonCG takes: gnSize, and any of the others (undefined means the default). */
export type NewtonSettings = Partial<NewtonOptions> & { gnSize: number };

/** Every key NewtonCG knows: the rows and the internal options. */
const NEWTON_KEYS: ReadonlySet<string> = new Set([
  ...SOLVER_OPTION_KEYS,
  ...Object.keys(NEWTON_DEFAULTS),
  'gnSize',
]);

/**
 * The full options from what was given: NEWTON_DEFAULTS, then the options of the method
 * (METHOD_OPTIONS[method]), then every option given (undefined ones are not given). A key
 * without a row (nor an internal option) is refused, never ignored.
 */
export function resolveNewtonOptions(given: NewtonSettings): NewtonOptions {
  // a renamed option would otherwise be ignored silently (train() checks them first)
  for (const [old, now] of Object.entries(RENAMED_NEWTON_OPTIONS))
    if ((given as Record<string, unknown>)[old] !== undefined)
      throw new TypeError(`option '${old}' was renamed '${now}'`);
  const defined = Object.fromEntries(
    Object.entries(given).filter(([, v]) => v !== undefined),
  ) as NewtonSettings;
  const unknown = Object.keys(defined).find((k) => !NEWTON_KEYS.has(k));
  if (unknown !== undefined)
    throw new TypeError(`unknown solver option '${unknown}' (not a row of src/solver/options.ts)`);
  const method = defined.method ?? NEWTON_DEFAULTS.method;
  const preset = METHOD_OPTIONS[method];
  if (!preset)
    throw new RangeError(
      `method must be ${NEWTON_METHODS.join(' or ')}, got ${JSON.stringify(method)}`,
    );
  return { ...NEWTON_DEFAULTS, ...preset, ...defined, method };
}

/**
 * Throws a RangeError naming the first option NewtonCG cannot run with: every row by its
 * kind and range, then the internal options and what relates several (drop < 1 < boost,
 * gnSize ≤ l, the number of samples).
 */
export function validateNewtonOptions(o: NewtonOptions, l: number): void {
  for (const k of SOLVER_OPTION_KEYS) checkValue(k, SOLVER_ROWS[k].spec.type, o[k]);
  for (const k of ['drop', 'boost'] as const) checkValue(k, num(positive), o[k]);
  if (!(o.drop < 1) || !(o.boost > 1))
    throw new RangeError(`need drop < 1 < boost, got drop ${o.drop}, boost ${o.boost}`);
  if (!Number.isInteger(o.maxHalvings) || o.maxHalvings < 0)
    throw new RangeError(`maxHalvings must be ≥ 0, got ${o.maxHalvings}`);
  if (!Number.isInteger(o.gnSize) || o.gnSize < 1 || o.gnSize > l) {
    throw new RangeError(
      `the Gauss-Newton subset size must be an integer in 1..${l} (the number of samples), got ${o.gnSize}`,
    );
  }
}

// ---------------------------------------------------------------- the resume identity

/** The rows that enter a run's identity, with their rule. */
const IDENTITY_KEYS = SOLVER_OPTION_KEYS.filter((k) => SOLVER_ROWS[k].identity !== undefined);

/** The method's rows among them: the method and the remedies' (C is the run's). */
const METHOD_IDENTITY_KEYS = IDENTITY_KEYS.filter(
  (k) => k === 'method' || (METHOD_KEYS as string[]).includes(k),
);

/**
 * What of the method's options fixes a trajectory: the method and every option, with the
 * parameters of a remedy that is off left out (cgInitDecay without cgInit 'previous', ...:
 * each row's identity rule), so that a parameter that changes nothing does not make two
 * runs differ. For RunIdentity.
 */
export function methodIdentity(
  o: NewtonOptions,
): { method: NewtonMethod } & Partial<MethodOptions> {
  const out: Record<string, unknown> = {};
  for (const k of METHOD_IDENTITY_KEYS) {
    const rule = SOLVER_ROWS[k].identity;
    out[k] = rule === 'always' || o[rule!.with as SolverOptionKey] === rule!.is ? o[k] : undefined;
  }
  return out as { method: NewtonMethod } & Partial<MethodOptions>;
}

/**
 * How a resume mismatch names each identity row: its flag, and for a remedy's switch (an
 * 'always' row of a remedy) also --method, which sets it: `--cg-init (or --method)`.
 */
export const SOLVER_IDENTITY_OPTIONS: Readonly<Record<string, string>> = Object.fromEntries(
  IDENTITY_KEYS.map((k) => {
    const r = SOLVER_ROWS[k];
    const byMethod = r.identity === 'always' && (METHOD_KEYS as string[]).includes(k);
    return [k, `${r.spec.flag}${byMethod ? ' (or --method)' : ''}`];
  }),
);

/**
 * What a run that did not record a method row ran: simpleNN's algorithm, every remedy off
 * (the default of each 'always' row of the method). A checkpoint written before the method
 * options, or before a remedy was added, lacks those fields.
 */
export const LEGACY_METHOD_IDENTITY: Readonly<Partial<{ method: NewtonMethod } & MethodOptions>> =
  Object.fromEntries(
    METHOD_IDENTITY_KEYS.filter((k) => SOLVER_ROWS[k].identity === 'always').map((k) => [
      k,
      SOLVER_ROWS[k].default,
    ]),
  );
