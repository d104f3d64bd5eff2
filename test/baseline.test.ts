import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ITERATION_FIELDS, readJsonl } from './helpers/jsonl.ts';
import { trainFirstOrder } from '../src/run/baseline.ts';
import { initBackend } from '../src/backend/select.ts';
import { LocalProblem } from '../src/transport/in-process.ts';
import { loadDigits } from '../src/data/digits.ts';
import { loadModel } from '../src/model/keras.ts';
import { Network } from '../src/model/network.ts';

test.serial(
  'adam and sgd: same JSONL fields as Newton, f decreasing, f that of the saved parameters',
  async (t) => {
    await initBackend('wasm');
    for (const optim of ['adam', 'sgd'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'fo-'));
      const log = join(dir, 'run.jsonl');
      const r = await trainFirstOrder({
        optim,
        data: 'digits',
        model: 'mlp:32',
        C: 1,
        epochs: 4,
        lr: optim === 'adam' ? 3e-3 : 5e-2,
        momentum: optim === 'sgd' ? 0.9 : undefined,
        out: dir,
        log,
        backend: 'wasm',
      });
      const recs = readJsonl(log);
      t.is(recs.length, 4);
      for (const k of ITERATION_FIELDS) t.true(k in recs[0], `${optim}: ${k}`);
      t.false('seconds' in recs[0], `${optim}: no field of the old name`);
      t.true(
        recs.every((r) => r.iterSeconds <= r.elapsedSeconds),
        `${optim}: an epoch's time is within the time so far`,
      );
      t.true(
        recs.every((r, i) => i === 0 || r.elapsedSeconds >= recs[i - 1].elapsedSeconds),
        `${optim}: elapsedSeconds is cumulative`,
      );
      t.true(recs[3].f < recs[0].f, `${optim}: f decreases`);
      t.true(r.testAcc > 0.5, `${optim}: accuracy ${r.testAcc}`);
      // f recomputed independently from the exported model: ‖θ‖²/(2Cl) + mean loss
      const m = loadModel(join(dir, 'last'));
      const train = loadDigits().train;
      const p = new LocalProblem(new Network(m.spec), train, 'ce', 512);
      const th = Float64Array.from(m.theta);
      const { loss } = await p.lossAndGradient(th);
      await p.close();
      const f = th.reduce((a, x) => a + x * x, 0) / (2 * 1 * train.n) + loss;
      t.true(Math.abs(f - recs[3].f) < 1e-6 * f, `${optim}: f ${recs[3].f} vs ${f}`);
    }
  },
);

test.serial('the same seed gives the same baseline run', async (t) => {
  const run = async () =>
    (
      await trainFirstOrder({
        optim: 'adam',
        data: 'digits',
        model: 'mlp:16',
        C: 1,
        epochs: 2,
        seed: 9,
        backend: 'wasm',
      })
    ).history.map((h) => h.f);
  t.deepEqual(await run(), await run());
});
