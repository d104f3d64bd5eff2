/**
 * A resume must be the run it claims to continue: every setting that fixes the trajectory
 * (model, loss, C, seed, Gauss-Newton subset, bsize, Gv method, the training data and its
 * preprocessing) is in the checkpoint and a mismatch is refused naming the option and both
 * values; a checkpoint holding a non-finite θ or λ is refused; the preprocessing comes
 * from the checkpoint.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadCheckpoint } from '../src/checkpoint.ts';
import { loadDigits } from '../src/data/digits.ts';
import { UsageError } from '../src/errors.ts';
import { train, type TrainOptions } from '../src/run/train.ts';

const base: TrainOptions = {
  data: 'digits',
  model: 'mlp:16',
  C: 1,
  iters: 2,
  workers: 0,
  backend: 'wasm',
  bsize: 256,
  seed: 2,
};

/** the embedded digits with one training pixel changed */
function tweaked() {
  const d = loadDigits();
  d.train.x[0] += 0.5;
  return d;
}

async function checkpointed(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'tn-resume-'));
  await train({ ...base, out });
  return out;
}

test.serial(
  'a resume with other settings is refused, naming the option and both values',
  async (t) => {
    const out = await checkpointed();
    const c = loadCheckpoint(out);
    t.is(c.run?.C, 1);
    t.is(c.preprocessing?.scale, 16);
    for (const [change, msg] of [
      [{ loss: 'mse' }, /--loss differs from the checkpointed run \(ce there, mse now\)/],
      [{ C: 0.5 }, /--C differs from the checkpointed run \(C 1 there, 0\.5 now\)/],
      [{ seed: 3 }, /--seed differs from the checkpointed run \(seed 2 there, 3 now\)/],
      [
        { gnRatio: 0.1 },
        /--gn-size\/--gn-ratio differs from the checkpointed run \(gnSize 72 there, 144 now\)/,
      ],
      [{ bsize: 128 }, /--bsize differs/],
      [
        { gv: 'double-vjp' },
        /--gv differs from the checkpointed run \(gv "linearized" there, "double-vjp" now\)/,
      ],
      [{ data: tweaked() }, /--data \(and its preprocessing.*\) differs from the checkpointed run/],
      [{ scale: 255 }, /--scale differs from the checkpointed run \(16 there, 255 now\)/],
      [{ model: 'mlp:17' }, /the checkpoint is of another model/],
    ] as [TrainOptions, RegExp][]) {
      const e = await t.throwsAsync(() => train({ ...base, iters: 4, resume: out, ...change }), {
        instanceOf: UsageError,
      });
      t.regex(e!.message, msg, JSON.stringify(change));
      t.true(e!.message.startsWith(out), e!.message);
    }
    // the same settings resume fine
    const r = await train({ ...base, iters: 3, resume: out });
    t.is(r.history.length, 3);
  },
);

test.serial(
  'a checkpoint with a non-finite θ or λ is refused; no run ends on a non-finite model',
  async (t) => {
    const out = await checkpointed();
    const thetaFile = readdirSync(out).find((f) => /^theta-\d+\.f64$/.test(f))!;
    const bytes = readFileSync(join(out, thetaFile));
    const theta = new Float64Array(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    );
    theta[5] = NaN;
    writeFileSync(join(out, thetaFile), new Uint8Array(theta.buffer));
    const e = await t.throwsAsync(() => train({ ...base, iters: 3, resume: out }), {
      instanceOf: UsageError,
    });
    t.regex(e!.message, /θ\[5\] is NaN: the checkpoint holds a non-finite model/);
    const json = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8'));
    theta[5] = 0;
    writeFileSync(join(out, thetaFile), new Uint8Array(theta.buffer));
    writeFileSync(join(out, 'checkpoint.json'), JSON.stringify({ ...json, lambda: null }));
    const e2 = await t.throwsAsync(() => train({ ...base, iters: 3, resume: out }), {
      instanceOf: UsageError,
    });
    t.regex(e2!.message, /field 'lambda' must be a positive number, found null/);
  },
);

test.serial(
  'a checkpoint written before elapsed/seconds were renamed resumes: its history under the new names, the time continuing from it',
  async (t) => {
    const out = await checkpointed();
    const path = join(out, 'checkpoint.json');
    const json = JSON.parse(readFileSync(path, 'utf8'));
    // the old names: `elapsed` (cumulative) and the solver report's `seconds` (one iteration's);
    // 1000 s more, so that the resumed run's time is seen to continue from the stored one
    json.history = json.history.map(
      ({ elapsedSeconds, iterSeconds, ...h }: Record<string, number>) => ({
        ...h,
        seconds: iterSeconds,
        elapsed: elapsedSeconds + 1000,
      }),
    );
    writeFileSync(path, JSON.stringify(json));
    const old = json.history as Record<string, number>[];
    const c = loadCheckpoint(out);
    t.deepEqual(
      c.history!.map((h) => [h.elapsedSeconds, h.iterSeconds]),
      old.map((h) => [h.elapsed, h.seconds]),
    );
    t.true(c.history!.every((h) => !('elapsed' in h) && !('seconds' in h)));
    const log = join(out, 'run.jsonl');
    const r = await train({ ...base, iters: 3, resume: out, log });
    t.is(r.history.length, 3);
    t.is(r.history[1].elapsedSeconds, old[1].elapsed);
    t.true(r.history[2].elapsedSeconds > old[1].elapsed, `${r.history[2].elapsedSeconds}`);
    const recs = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    t.deepEqual(
      recs.map((x) => x.elapsedSeconds),
      r.history.map((h) => h.elapsedSeconds),
    );
    t.true(recs.every((x) => typeof x.iterSeconds === 'number' && !('seconds' in x)));
    // and the checkpoint is written back with the new names
    t.true(
      JSON.parse(readFileSync(path, 'utf8')).history.every(
        (h: Record<string, unknown>) => 'elapsedSeconds' in h && !('elapsed' in h),
      ),
    );
  },
);
