import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withFaults } from '../src/transport/faults.ts';
import test from 'ava';
import { loadCheckpoint, saveCheckpoint } from '../src/checkpoint.ts';
import { RunError } from '../src/errors.ts';
import { loadDigits } from '../src/data/digits.ts';
import { train } from '../src/run/train.ts';

const spec = {
  inputShape: [3],
  layers: [{ type: 'dense' as const, units: 2, activation: 'linear' as const }],
};

test('a checkpoint reads back exactly; older θ files and stray temporaries do not matter', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ck-'));
  const theta = Float64Array.from([0.1, -2.5e-9, 3, 1 / 3, 7, 8, Math.PI, 0]);
  saveCheckpoint(dir, {
    spec,
    loss: 'ce',
    state: { theta: theta.map((x) => x + 1), lambda: 2, iter: 1, rngState: [1, 2, 3, 4, 0.5] },
  });
  saveCheckpoint(dir, {
    spec,
    loss: 'mse',
    state: { theta, lambda: 0.25, iter: 2, rngState: [5, 6, 7, 8, NaN] },
  });
  writeFileSync(join(dir, 'checkpoint.json.tmp-999'), '{"half": '); // a write killed midway
  const c = loadCheckpoint(dir);
  t.deepEqual([...c.state.theta], [...theta]);
  t.is(c.state.iter, 2);
  t.is(c.state.lambda, 0.25);
  t.is(c.loss, 'mse');
  t.deepEqual(c.state.rngState, [5, 6, 7, 8, NaN]);
  t.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('theta-')),
    ['theta-2.f64'],
  );
  t.throws(() => loadCheckpoint(mkdtempSync(join(tmpdir(), 'ck-'))), {
    message: /checkpoint\.json: cannot read a checkpoint/,
  });
});

test.serial(
  'a pool chunk failing again and again ends train with its name, after writing the last good θ',
  async (t) => {
    const data = loadDigits();
    const common = {
      data,
      model: 'mlp:16',
      C: 1,
      workers: 2,
      bsize: 256,
      seed: 4,
      backend: 'wasm' as const,
    };
    const clean = await train({ ...common, iters: 1 });
    const out = mkdtempSync(join(tmpdir(), 'ck-'));
    const err = await t.throwsAsync(
      // θ version 2 is the iterate after iteration 1: Gv chunk 0 of iteration 2 keeps failing
      () =>
        train(
          withFaults(
            { ...common, iters: 3, out },
            { kind: 'Gv', chunk: 0, attempts: 99, mode: 'throw', fromThetaVersion: 2 },
          ),
        ),
      { instanceOf: RunError },
    );
    t.regex(
      err!.message,
      /Gv chunk 0 failed 3 times; last cause: injected fault on Gv chunk 0; the last good parameters \(after iteration 1\) are in /,
    );
    t.true(err!.message.endsWith(out));
    const c = loadCheckpoint(out);
    t.is(c.state.iter, 1);
    t.deepEqual([...Float32Array.from(c.state.theta)], [...clean.params]);
  },
);

test.serial(
  'without --out, the last good state goes to a temporary folder named in the error',
  async (t) => {
    const err = await t.throwsAsync(
      () =>
        train(
          withFaults(
            {
              data: loadDigits(),
              model: 'mlp:8',
              C: 1,
              workers: 1,
              iters: 2,
              backend: 'wasm' as const,
            },
            { kind: 'f+grad', chunk: 1, attempts: 99, mode: 'exit' },
          ),
        ),
      { instanceOf: RunError },
    );
    const dir = /are in (.+)$/.exec(err!.message)![1];
    t.true(existsSync(join(dir, 'checkpoint.json')));
    t.is(loadCheckpoint(dir).state.iter, 0);
  },
);
