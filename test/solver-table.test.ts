/**
 * The solver's option table (src/solver/options.ts) and what is derived from it: every row
 * is documented and checkable, the methods differ in exactly the remedies' presets, the
 * resume identity names every row that enters it, every row reaches the solver and no
 * unknown key does, validation follows each row's kind and range.
 */
import test from 'ava';
import { checkSameRun, RUN_IDENTITY_OPTIONS, type RunIdentity } from '../src/checkpoint.ts';
import { flagOf } from '../src/run/schema.ts';
import { NewtonCG } from '../src/solver/newton.ts';
import { checkValue } from '../src/solver/option-table.ts';
import {
  HF_METHOD,
  LEGACY_METHOD_IDENTITY,
  METHOD_OPTIONS,
  methodIdentity,
  NEWTON_DEFAULTS,
  NEWTON_METHODS,
  resolveNewtonOptions,
  SIMPLENN_METHOD,
  SOLVER_DEFAULTS,
  SOLVER_IDENTITY_OPTIONS,
  SOLVER_OPTION_KEYS,
  SOLVER_OPTION_SPECS,
  SOLVER_OPTIONS,
  solverOptionsOf,
  type NewtonOptions,
} from '../src/solver/options.ts';
import { REMEDIES } from '../src/solver/remedies/index.ts';
import { logisticProblem } from './helpers/logistic.ts';

/** The rows only the library sets (no CLI flag). */
const LIBRARY_ONLY = ['eta', 'lambda0'];

test('every row has a kind the solver checks, help in lines of at most 76 characters, and (but eta, lambda0) its flag and value name', (t) => {
  t.deepEqual(Object.keys(SOLVER_OPTION_SPECS), [...SOLVER_OPTION_KEYS]);
  for (const k of SOLVER_OPTION_KEYS) {
    const spec = SOLVER_OPTION_SPECS[k];
    t.true(['number', 'integer', 'oneOf'].includes(spec.type.kind), k);
    t.truthy(spec.help, k);
    for (const line of spec.help!.split('\n')) t.true(line.length <= 76, `${k}: ${line}`);
    t.false(/\(default /.test(spec.help!) && k !== 'C', `${k}: the default is added by the CLI`);
    if (LIBRARY_ONLY.includes(k)) t.is(spec.flag, undefined, k);
    else {
      t.is(spec.flag, flagOf(k), k);
      t.truthy(spec.value, k);
    }
  }
  // --method's help lists what hf sets, from the rows
  t.regex(
    SOLVER_OPTION_SPECS.method.help!,
    /--cg-init previous, --cg-stop quadratic,\n--cg-keep-best 4, --preconditioner diagonal/,
  );
});

test('every default and preset is a value its row accepts; the defaults are NEWTON_DEFAULTS and SIMPLENN_METHOD', (t) => {
  for (const k of SOLVER_OPTION_KEYS) {
    const row = SOLVER_OPTIONS[k];
    t.notThrows(() => checkValue(k, row.spec.type, row.default), k);
    for (const v of Object.values(row.presets ?? {}))
      t.notThrows(() => checkValue(k, row.spec.type, v), k);
    t.is(SOLVER_DEFAULTS[k] as unknown, row.default);
  }
  const { drop: _d, boost: _b, maxHalvings: _m, seed: _s, ...core } = NEWTON_DEFAULTS;
  t.deepEqual({ ...core, ...SIMPLENN_METHOD }, { ...SOLVER_DEFAULTS });
  t.deepEqual(resolveNewtonOptions({ gnSize: 1 }), {
    ...NEWTON_DEFAULTS,
    ...SOLVER_DEFAULTS,
    gnSize: 1,
  });
});

test("the methods: simplenn is every remedy's default, hf differs from it in exactly the rows with an hf preset", (t) => {
  t.deepEqual(Object.keys(METHOD_OPTIONS), [...NEWTON_METHODS]);
  const remedyKeys = REMEDIES.flatMap((r) => Object.keys(r.rows));
  t.deepEqual(Object.keys(SIMPLENN_METHOD), remedyKeys);
  const differ = remedyKeys.filter(
    (k) => HF_METHOD[k as keyof typeof HF_METHOD] !== SIMPLENN_METHOD[k as keyof typeof HF_METHOD],
  );
  t.deepEqual(differ, ['cgInit', 'cgStop', 'cgKeepBest', 'preconditioner']);
  t.deepEqual(
    differ,
    remedyKeys.filter(
      (k) => SOLVER_OPTIONS[k as keyof typeof SOLVER_OPTIONS].presets?.hf !== undefined,
    ),
  );
  // each remedy is off (no unit) in simplenn; the remedies hf turns on have a unit there
  const p = logisticProblem(10, 2);
  for (const r of REMEDIES) {
    t.is(r.unit(resolveNewtonOptions({ gnSize: 2 }), p), undefined);
    const on = Object.keys(r.rows).some((k) => differ.includes(k));
    t.is(r.unit(resolveNewtonOptions({ gnSize: 2, method: 'hf' }), p) !== undefined, on);
  }
});

test('the resume identity: a name for every row that enters it, each rule on a row and one of its values, the legacy record from the defaults', (t) => {
  const all = resolveNewtonOptions({
    gnSize: 1,
    method: 'hf',
    gnGrowth: 'gradient',
    gradSample: 'norm-test',
  });
  const identity = methodIdentity(all);
  for (const k of Object.keys(identity)) t.truthy(RUN_IDENTITY_OPTIONS[k as keyof RunIdentity], k);
  // with every remedy on, every parameter enters
  t.false((Object.values(identity) as unknown[]).includes(undefined));
  for (const k of SOLVER_OPTION_KEYS) {
    const rule = SOLVER_OPTIONS[k].identity;
    t.is(SOLVER_IDENTITY_OPTIONS[k] !== undefined, rule !== undefined, k);
    if (rule === undefined || rule === 'always') continue;
    const on = SOLVER_OPTIONS[rule.with as keyof typeof SOLVER_OPTIONS];
    t.truthy(on, `${k} depends on a row`);
    t.true(on.spec.type.kind === 'oneOf' && on.spec.type.values.includes(rule.is), k);
    t.is(SOLVER_IDENTITY_OPTIONS[k] as string | undefined, SOLVER_OPTION_SPECS[k].flag);
    // its switch is named with --method too, which sets it
    t.is(
      SOLVER_IDENTITY_OPTIONS[rule.with],
      `${SOLVER_OPTION_SPECS[rule.with as 'cgInit'].flag} (or --method)`,
    );
  }
  t.is(SOLVER_IDENTITY_OPTIONS.C, '--C');
  t.is(SOLVER_IDENTITY_OPTIONS.method, '--method');
  t.is(Object.keys(RUN_IDENTITY_OPTIONS)[0], 'C', 'C is still compared first');
  // the legacy record: the defaults of the method's 'always' rows
  const simple = methodIdentity(resolveNewtonOptions({ gnSize: 1 }));
  t.deepEqual(
    { ...LEGACY_METHOD_IDENTITY },
    Object.fromEntries(Object.entries(simple).filter(([, v]) => v !== undefined)),
  );
});

test("a remedy's switch missing from a checkpoint's record counts as off (a remedy added since)", (t) => {
  const now: RunIdentity = {
    C: 1,
    seed: 1,
    gnSize: 10,
    bsize: 100,
    gv: 'linearized',
    data: 'x',
    ...methodIdentity(resolveNewtonOptions({ gnSize: 10 })),
  };
  const { gnGrowth: _g, ...older } = now;
  t.notThrows(() => checkSameRun('dir', older as RunIdentity, now));
  t.throws(
    () =>
      checkSameRun('dir', older as RunIdentity, {
        ...now,
        ...methodIdentity(resolveNewtonOptions({ gnSize: 10, gnGrowth: 'gradient' })),
      }),
    { message: /--gn-growth \(or --method\) differs .*\(gnGrowth "fixed" there, "gradient" now\)/ },
  );
});

test('every row reaches the solver (solverOptionsOf), and a key without a row is refused, not ignored', (t) => {
  const given = { ...SOLVER_DEFAULTS, iters: 3, data: 'digits', cgMax: undefined };
  const picked = solverOptionsOf(given);
  t.deepEqual(
    Object.keys(picked),
    SOLVER_OPTION_KEYS.filter((k) => k !== 'cgMax'),
  );
  t.false('iters' in picked);
  const p = logisticProblem(10, 2);
  t.throws(() => new NewtonCG(p, new Float64Array(2), { gnSize: 2, lambdaMax: 3 } as never), {
    instanceOf: TypeError,
    message: /unknown solver option 'lambdaMax'/,
  });
  // undefined is not given
  t.notThrows(
    () => new NewtonCG(p, new Float64Array(2), { gnSize: 2, lambdaMax: undefined } as never),
  );
});

test("NewtonCG's validation follows each row's kind and range, naming the option", (t) => {
  const p = logisticProblem(10, 2);
  const make = (o: Partial<NewtonOptions>) => () =>
    new NewtonCG(p, new Float64Array(2), { gnSize: 2, ...o });
  for (const k of SOLVER_OPTION_KEYS) {
    const type = SOLVER_OPTION_SPECS[k].type;
    let bad: unknown[];
    if (type.kind === 'oneOf') bad = ['nope', 1];
    else if (type.kind === 'number' || type.kind === 'integer') {
      const { min, minOpen, max } = type.range;
      bad = [NaN, Infinity, '1'];
      if (type.kind === 'integer') bad.push(1.5);
      if (min !== undefined) bad.push(minOpen ? min : min - 1);
      if (max !== undefined) bad.push(max + 0.5);
    } else return t.fail(`${k}: a kind the solver does not check`);
    for (const v of bad) {
      t.throws(
        make({ [k]: v }),
        { instanceOf: RangeError, message: new RegExp(`^${k} must be `) },
        `${k} ${v}`,
      );
    }
  }
  t.throws(make({ drop: 1.5 }), { message: 'need drop < 1 < boost, got drop 1.5, boost 1.5' });
  t.throws(make({ cgMax: 0 }), { message: 'cgMax must be a positive integer, got 0' });
});
