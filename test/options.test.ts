/**
 * The options schema (src/options.ts): every bad case a user test found throws the right
 * error class naming the option, in the library's words and in the CLI's; the options the
 * other tests and the CLI pass are valid; typos get a suggestion; the workers warning and
 * the per-data-set default C.
 */
import test from 'ava';
import { availableParallelism } from 'node:os';
import { loadData } from '../src/data/load.ts';
import { NEWTON_DEFAULTS, NewtonCG, resolveNewtonOptions } from '../src/solver/newton.ts';
import {
  checkRenamedFlags,
  defaultC,
  FIRST_ORDER_OPTIONS,
  NEWTON_OPTIONS,
  RENAMED_OPTIONS,
  validateOptions,
  workersWarning,
  type OptionError,
} from '../src/run/options.ts';
import { closestKey, describeRange } from '../src/run/schema.ts';

type Case = [
  name: string,
  options: Record<string, unknown>,
  cls: typeof TypeError | typeof RangeError,
  library: RegExp,
  cli: RegExp,
];

const BAD: Case[] = [
  [
    'typo itres',
    { itres: 2 },
    TypeError,
    /^unknown option 'itres' \(did you mean 'iters'\?\)$/,
    /^unknown option --itres \(did you mean --iters\?\)$/,
  ],
  [
    'renamed xi',
    { xi: 0.1 },
    TypeError,
    /^option 'xi' was renamed 'cgTolerance'$/,
    /^--xi was renamed --cg-tolerance; use --cg-tolerance instead$/,
  ],
  [
    'model: 42',
    { model: 42 },
    TypeError,
    /^option 'model' must be .*ModelSpec.*, got 42$/,
    /^--model must be .*, got 42$/,
  ],
  [
    'data: 42',
    { data: 42 },
    TypeError,
    /^option 'data' must be .*, got 42$/,
    /^--data must be .*, got 42$/,
  ],
  [
    'seed: x',
    { seed: 'x' },
    TypeError,
    /^option 'seed' must be an integer, got 'x'$/,
    /^--seed must be an integer, got 'x'$/,
  ],
  [
    'gnRatio: -1',
    { gnRatio: -1 },
    RangeError,
    /^option 'gnRatio' must be in \(0, 1\], got -1$/,
    /^--gn-ratio must be in \(0, 1\], got -1$/,
  ],
  [
    'onIteration: print',
    { onIteration: 'print' },
    TypeError,
    /^option 'onIteration' must be a function, got 'print'$/,
    /^option 'onIteration' must be a function, got 'print'$/,
  ],
  [
    'log: 12345',
    { log: 12345 },
    TypeError,
    /^option 'log' must be a path \(a string\), got 12345$/,
    /^--log must be a path \(a string\), got 12345$/,
  ],
  [
    'gnSize: 2.5',
    { gnSize: 2.5 },
    TypeError,
    /^option 'gnSize' must be an integer ≥ 1, got 2\.5$/,
    /^--gn-size must be an integer ≥ 1, got 2\.5$/,
  ],
  [
    'iters: -1',
    { iters: -1 },
    RangeError,
    /^option 'iters' must be an integer ≥ 0, got -1$/,
    /^--iters must be an integer ≥ 0, got -1$/,
  ],
  ['C: 0', { C: 0 }, RangeError, /^option 'C' must be > 0, got 0$/, /^--C must be > 0, got 0$/],
  [
    'C: NaN',
    { C: NaN },
    TypeError,
    /^option 'C' must be a number > 0, got NaN$/,
    /^--C must be a number > 0, got NaN$/,
  ],
  [
    'C: Infinity',
    { C: Infinity },
    RangeError,
    /^option 'C' must be > 0, got Infinity$/,
    /^--C must be > 0, got Infinity$/,
  ],
  [
    'loss: hinge',
    { loss: 'hinge' },
    RangeError,
    /^option 'loss' must be one of ce, mse, bce, got 'hinge'$/,
    /^--loss must be one of ce, mse, bce, got 'hinge'$/,
  ],
  [
    'backend: gpu',
    { backend: 'gpu' },
    RangeError,
    /^option 'backend' must be one of auto, wasm, cpu, tensorflow, got 'gpu'$/,
    /^--backend must be one of auto, wasm, cpu, tensorflow/,
  ],
  [
    'gv: forward',
    { gv: 'forward' },
    RangeError,
    /^option 'gv' must be linearized or double-vjp, got 'forward'$/,
    /^--gv must be linearized or double-vjp, got 'forward'$/,
  ],
  [
    'workers: 1.5',
    { workers: 1.5 },
    TypeError,
    /^option 'workers' must be an integer ≥ 0, got 1\.5$/,
    /^--workers must be/,
  ],
  [
    'valSplit: 2',
    { valSplit: 2 },
    RangeError,
    /^option 'valSplit' must be in \[0, 1\], got 2$/,
    /^--val-split must be in \[0, 1\], got 2$/,
  ],
  [
    'shape: [8, 0]',
    { shape: [8, 0] },
    RangeError,
    /^option 'shape' must hold integers ≥ 1, got 0$/,
    /^--shape must hold integers ≥ 1, got 0$/,
  ],
  [
    'shape: "8,8"',
    { shape: '8,8' },
    TypeError,
    /^option 'shape' must be a non-empty array of integers ≥ 1, got '8,8'$/,
    /^--shape must be/,
  ],
  [
    'signal: {}',
    { signal: {} },
    TypeError,
    /^option 'signal' must be an AbortSignal, got an object$/,
    /^option 'signal' must be an AbortSignal/,
  ],
  [
    'eta: -1',
    { eta: -1 },
    RangeError,
    /^option 'eta' must be > 0, got -1$/,
    /^option 'eta' must be > 0, got -1$/,
  ],
  [
    'out: ""',
    { out: '' },
    TypeError,
    /^option 'out' must be a path, got an empty string$/,
    /^--out must be a path/,
  ],
  [
    'dataDir: true',
    { dataDir: true },
    TypeError,
    /^option 'dataDir' must be a path \(a string\), got a boolean true$/,
    /^--data-dir must be/,
  ],
  [
    'model without layers',
    { model: { inputShape: [64] } },
    TypeError,
    /^option 'model' must be/,
    /^--model must be/,
  ],
  [
    'data without test',
    { data: { train: {} } },
    TypeError,
    /^option 'data' must be/,
    /^--data must be/,
  ],
  [
    'optim for newton',
    { optim: 'adam' },
    TypeError,
    /^unknown option 'optim'/,
    /^unknown option --optim/,
  ],
];

for (const [name, options, cls, library, cli] of BAD) {
  test(`bad option: ${name}`, (t) => {
    const e = t.throws(() => validateOptions(options, 'newton'), {
      instanceOf: cls,
      message: library,
    }) as OptionError;
    t.is(e.option, Object.keys(options)[0]);
    t.throws(() => validateOptions(options, 'newton', 'cli'), { instanceOf: cls, message: cli });
    // the first-order trainer takes every Newton key: the same check
    if (name !== 'optim for newton')
      t.throws(() => validateOptions({ optim: 'adam', ...options }, 'first-order'), {
        instanceOf: cls,
        message: library,
      });
  });
}

test('CLI-style errors carry a parseArgs code, so the CLI prints them as one line (exit 2)', (t) => {
  const e = t.throws(() => validateOptions({ gnRatio: -1 }, 'newton', 'cli')) as OptionError;
  t.true(e.code.startsWith('ERR_PARSE_ARGS'));
  const u = t.throws(() => validateOptions({ itres: 2 }, 'newton', 'cli')) as OptionError;
  t.is(u.code, 'ERR_PARSE_ARGS_UNKNOWN_OPTION');
  const l = t.throws(() => validateOptions({ gnRatio: -1 }, 'newton')) as OptionError;
  t.is(l.code, 'ERR_OUT_OF_RANGE');
});

test('not an object: TypeError; undefined means train({})', (t) => {
  for (const v of [42, 'digits', null, [], () => 0]) {
    t.throws(() => validateOptions(v, 'newton'), {
      instanceOf: TypeError,
      message: /^the options of train must be an object/,
    });
  }
  t.notThrows(() => validateOptions(undefined, 'newton'));
  t.throws(() => validateOptions(undefined, 'first-order'), { instanceOf: TypeError });
});

test('undefined values are the defaults', (t) => {
  const all = Object.fromEntries(Object.keys(NEWTON_OPTIONS).map((k) => [k, undefined]));
  t.notThrows(() => validateOptions(all, 'newton'));
  t.notThrows(() => validateOptions({}, 'newton'));
});

test('first-order: optim is required and checked; its own keys are checked', (t) => {
  t.throws(() => validateOptions({}, 'first-order'), {
    instanceOf: TypeError,
    message: "option 'optim' is required",
  });
  t.throws(() => validateOptions({ optim: 'newton' }, 'first-order'), {
    instanceOf: RangeError,
    message: "option 'optim' must be adam or sgd, got 'newton'",
  });
  t.throws(() => validateOptions({ optim: 'sgd', momentum: 1.5 }, 'first-order', 'cli'), {
    instanceOf: RangeError,
    message: '--momentum must be in [0, 1], got 1.5',
  });
  t.throws(() => validateOptions({ optim: 'adam', lr: 0 }, 'first-order'), {
    instanceOf: RangeError,
    message: "option 'lr' must be > 0, got 0",
  });
  t.throws(() => validateOptions({ optim: 'adam', epochs: 0 }, 'first-order'), {
    instanceOf: RangeError,
    message: "option 'epochs' must be an integer ≥ 1, got 0",
  });
  t.throws(() => validateOptions({ optim: 'adam', onEpoch: 1 }, 'first-order'), {
    instanceOf: TypeError,
    message: "option 'onEpoch' must be a function, got 1",
  });
  t.throws(() => validateOptions({ optim: 'adam', epoch: 3 }, 'first-order'), {
    instanceOf: TypeError,
    message: "unknown option 'epoch' (did you mean 'epochs'?)",
  });
});

test('the options the other tests and the CLI pass are valid', (t) => {
  const controller = new AbortController();
  const sets = loadData({ data: 'digits', valSplit: 0.2, seed: 3 });
  const newton: Record<string, unknown>[] = [
    {
      data: 'digits',
      model: 'mlp:32',
      C: 1,
      iters: 6,
      valSplit: 0.2,
      workers: 0,
      out: '/tmp/x',
      backend: 'wasm',
    },
    { data: 'digits', model: 'run.json', C: 1, iters: 3, workers: 0, backend: 'wasm' },
    {
      data: sets,
      model: 'mlp:24',
      C: 1,
      iters: 4,
      seed: 3,
      bsize: 100,
      backend: 'wasm',
      workers: 2,
    },
    {
      data: 'digits',
      model: 'mlp:16',
      C: 1,
      bsize: 128,
      gnRatio: 0.5,
      seed: 2,
      backend: 'wasm',
      iters: 3,
      workers: 2,
      resume: '/tmp/r',
    },
    {
      data: sets,
      model: 'mlp:16',
      C: 1,
      workers: 2,
      bsize: 256,
      seed: 4,
      backend: 'wasm',
      iters: 3,
    },
    {
      data: 'digits',
      model: { inputShape: [64], layers: [{ type: 'dense', units: 10 }] },
      gnSize: 100,
      cgMax: 50,
      cgTolerance: 0.1,
      eta: 1e-4,
      lambda0: 1,
      gv: 'double-vjp',
      log: '/tmp/l.jsonl',
    },
    { signal: controller.signal, onProgress: () => {}, onIteration: () => {}, seed: -3 },
    {
      data: 'a.csv',
      test: 'b.csv',
      val: 'c.csv',
      labelCol: 'label',
      shape: [8, 8, 1],
      scale: 16,
      dataDir: '/d',
      loss: 'mse',
      backend: 'auto',
    },
  ];
  for (const o of newton) {
    t.notThrows(() => validateOptions(o, 'newton'), JSON.stringify(o));
    t.notThrows(() => validateOptions(o, 'newton', 'cli'));
  }
  // the CLI's `common` (every flag given) plus the baseline's own options
  const common = {
    data: 'digits',
    dataDir: '/d',
    test: undefined,
    val: undefined,
    valSplit: 0.1,
    labelCol: undefined,
    shape: undefined,
    scale: undefined,
    resume: undefined,
    model: 'mlp:64,64',
    loss: 'ce',
    C: 1,
    gnRatio: 0.05,
    gnSize: undefined,
    cgMax: 250,
    cgTolerance: 0.1,
    iters: 30,
    bsize: 1024,
    gv: 'linearized',
    seed: 1,
    backend: 'wasm',
    workers: 2,
    out: undefined,
    log: '/tmp/log.jsonl',
  };
  t.notThrows(() => validateOptions(common, 'newton', 'cli'));
  t.notThrows(() =>
    validateOptions(
      { ...common, optim: 'sgd', lr: 0.05, batch: 64, epochs: 4, momentum: 0.9, onEpoch: () => {} },
      'first-order',
      'cli',
    ),
  );
  t.notThrows(() =>
    validateOptions(
      {
        optim: 'adam',
        data: 'digits',
        model: 'mlp:32',
        C: 1,
        epochs: 4,
        lr: 3e-3,
        momentum: undefined,
        out: '/o',
        log: '/l',
        backend: 'wasm',
      },
      'first-order',
    ),
  );
});

test('suggestions: the closest key within edit distance 2, else none', (t) => {
  const keys = Object.keys(NEWTON_OPTIONS);
  t.is(closestKey('itres', keys), 'iters');
  t.is(closestKey('gnratio', keys), 'gnRatio');
  t.is(closestKey('worker', keys), 'workers');
  t.is(closestKey('lambda', keys), 'lambda0');
  t.is(closestKey('zzzzzzzz', keys), undefined);
  t.throws(() => validateOptions({ zzzzzzzz: 1 }, 'newton'), {
    instanceOf: TypeError,
    message: "unknown option 'zzzzzzzz'",
  });
  t.throws(() => validateOptions({ gn_size: 5 }, 'newton', 'cli'), {
    instanceOf: TypeError,
    message: 'unknown option --gn_size (did you mean --gn-size?)',
  });
  t.throws(() => validateOptions({ optimizer: 'adam' }, 'newton'), {
    instanceOf: TypeError,
    message: /^unknown option 'optimizer'/,
  });
});

test('every option has a kind; flags are kebab-case; lambda0, eta and callbacks have none; the fault hook is no option', (t) => {
  const all = { ...NEWTON_OPTIONS, ...FIRST_ORDER_OPTIONS };
  t.is(all.gnSize.flag, '--gn-size');
  t.is(all.dataDir.flag, '--data-dir');
  t.is(all.labelCol.flag, '--label-col');
  t.is(all.valSplit.flag, '--val-split');
  t.is(all.cgMax.flag, '--cg-max');
  for (const k of ['lambda0', 'eta', 'signal', 'onIteration', 'onProgress', 'onEpoch'] as const)
    t.is(all[k].flag, undefined, k);
  t.false('faults' in all);
  for (const [k, s] of Object.entries(all))
    if (s.flag && k !== 'C')
      t.is(s.flag, '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()), k);
  t.is(describeRange({ min: 0, minOpen: true, max: 1 }), 'in (0, 1]');
});

test("renamed options: 'xi' is 'cgTolerance' everywhere, the old name an error giving the new one", (t) => {
  t.deepEqual(RENAMED_OPTIONS, { xi: 'cgTolerance' });
  for (const [old, now] of Object.entries(RENAMED_OPTIONS)) {
    t.false(old in NEWTON_OPTIONS, old);
    t.true(now in NEWTON_OPTIONS, now);
  }
  t.is(NEWTON_OPTIONS.cgTolerance.flag, '--cg-tolerance');
  t.is(NEWTON_DEFAULTS.cgTolerance, 0.1); // simpleNN's ξ_cg
  t.false('xi' in NEWTON_DEFAULTS);
  t.notThrows(() => validateOptions({ cgTolerance: 0.01 }, 'newton'));
  t.throws(() => validateOptions({ cgTolerance: 0 }, 'newton'), {
    instanceOf: RangeError,
    message: "option 'cgTolerance' must be > 0, got 0",
  });
  const e = t.throws(() => validateOptions({ xi: 0.1 }, 'newton')) as OptionError;
  t.is(e.code, 'ERR_INVALID_ARG_VALUE');
  t.is(e.option, 'xi');
  // the CLI's flag, before parseArgs (which would only call it unknown): `--xi X`, `--xi=X`
  for (const argv of [
    ['--xi', '0.1'],
    ['--iters', '3', '--xi=0.1'],
  ]) {
    const c = t.throws(() => checkRenamedFlags(argv), {
      instanceOf: TypeError,
      message: '--xi was renamed --cg-tolerance; use --cg-tolerance instead',
    }) as OptionError;
    t.is(c.code, 'ERR_PARSE_ARGS_UNKNOWN_OPTION');
  }
  t.notThrows(() => checkRenamedFlags(['--cg-tolerance', '0.1', '--xin', '--', '--xi']));
  // the solver itself does not ignore it silently either
  const message = "option 'xi' was renamed 'cgTolerance'";
  t.throws(() => resolveNewtonOptions({ gnSize: 1, xi: 0.1 } as never), {
    instanceOf: TypeError,
    message,
  });
  const problem = { dim: 1, numSamples: 1 } as ConstructorParameters<typeof NewtonCG>[0];
  t.throws(() => new NewtonCG(problem, new Float64Array(1), { gnSize: 1, xi: 0.1 } as never), {
    message,
  });
  t.is(resolveNewtonOptions({ gnSize: 1, cgTolerance: 0.5 }).cgTolerance, 0.5);
});

test('workersWarning: more workers than cores', (t) => {
  const cores = availableParallelism();
  t.is(workersWarning(undefined), null);
  t.is(workersWarning(0), null);
  t.is(workersWarning(cores), null);
  t.regex(
    workersWarning(cores + 1)!,
    new RegExp(
      `^--workers ${cores + 1} is more than the ${cores} cores? here: threads will compete for them$`,
    ),
  );
  t.is(
    workersWarning(64, 2),
    '--workers 64 is more than the 2 cores here: threads will compete for them',
  );
  t.is(
    workersWarning(2, 1),
    '--workers 2 is more than the 1 core here: threads will compete for them',
  );
  t.false(workersWarning(64, 2)!.includes('\n'));
});

test('defaultC: 1 for the embedded digits (also the default data), simpleNN’s otherwise', (t) => {
  t.is(defaultC('digits'), 1);
  t.is(defaultC(undefined), 1);
  t.is(defaultC(loadData({ data: 'digits' })), 1);
  t.is(defaultC('fashion-mnist'), NEWTON_DEFAULTS.C);
  t.is(defaultC('train.csv'), NEWTON_DEFAULTS.C);
  t.is(NEWTON_DEFAULTS.C, 0.01);
});

test('train() and trainFirstOrder() check their options before loading anything', async (t) => {
  const { train } = await import('../src/run/train.ts');
  const { trainFirstOrder } = await import('../src/run/baseline.ts');
  for (const [o, cls, msg] of [
    [{ itres: 2 }, TypeError, /unknown option 'itres' \(did you mean 'iters'\?\)/],
    [{ xi: 0.1 }, TypeError, /^option 'xi' was renamed 'cgTolerance'$/],
    [{ model: 42 }, TypeError, /option 'model'/],
    [{ data: 42 }, TypeError, /option 'data'/],
    [{ seed: 'x' }, TypeError, /option 'seed' must be an integer/],
    [{ gnRatio: -1 }, RangeError, /option 'gnRatio'/],
    [{ onIteration: 'print' }, TypeError, /option 'onIteration'/],
    [{ log: 12345 }, TypeError, /option 'log'/],
  ] as [Record<string, unknown>, typeof Error, RegExp][]) {
    await t.throwsAsync(
      () => train(o as never),
      { instanceOf: cls, message: msg },
      JSON.stringify(o),
    );
  }
  await t.throwsAsync(() => trainFirstOrder({ optim: 'adam', lr: -1 } as never), {
    instanceOf: RangeError,
    message: /option 'lr'/,
  });
});
