/**
 * Interrupts: `train({ signal })` stops within a chunk at any moment (f+∇f, CG, line
 * search, accuracy, between iterations), in-process and on the pool, writes the last
 * completed iteration's checkpoint, and a resume follows the uninterrupted trajectory bit
 * for bit. No temp folder, no process signal handler; the CLI maps SIGINT/SIGTERM onto it.
 * A pool chunk failing 3 times leaves a checkpoint that resumes exactly too.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withFaults } from '../src/transport/faults.ts';
import test from 'ava';
import { loadCheckpoint } from '../src/checkpoint.ts';
import { RunError } from '../src/errors.ts';
import {
  train,
  type TrainIteration,
  type TrainOptions,
  type TrainResult,
} from '../src/run/train.ts';
import { SMALL_DIGITS_RUN } from './helpers/runs.ts';

const ITERS = 5;
const common: TrainOptions = { ...SMALL_DIGITS_RUN, iters: ITERS };

/** The history without its times, as a checkpoint holds it (NaN → null). */
const timeless = (h: TrainIteration[]) =>
  JSON.parse(JSON.stringify(h.map(({ iterSeconds: _s, elapsedSeconds: _e, ...r }) => r))) as Record<
    string,
    unknown
  >[];

let reference: Promise<TrainResult> | undefined;
const uninterrupted = () => (reference ??= train({ ...common, workers: 0 }));

function sameAsUninterrupted(
  t: import('ava').ExecutionContext,
  got: TrainResult,
  want: TrainResult,
  what: string,
) {
  t.deepEqual(timeless(got.history), timeless(want.history), `${what}: history`);
  t.deepEqual([...got.params], [...want.params], `${what}: params`);
}

/** When to abort, seen from the callbacks: `iter` is the number of completed iterations. */
type Moment = { pass?: string; done?: number; afterIter?: number };

const MOMENTS: Record<string, Moment> = {
  'during f+∇f': { pass: 'f+grad', done: 2 },
  'during CG (a Gv pass)': { pass: 'Gv', done: 1 },
  'during the line search': { pass: 'f', done: 1 },
  'during an accuracy pass': { pass: 'accuracy', done: 1 },
  'between iterations': { afterIter: 2 },
};

for (const workers of [0, 2]) {
  for (const [name, m] of Object.entries(MOMENTS)) {
    test.serial(
      `abort ${name} (${workers === 0 ? 'in-process' : `${workers} workers`}): checkpoint of iteration 2, resume = uninterrupted`,
      async (t) => {
        const want = await uninterrupted();
        const out = mkdtempSync(join(tmpdir(), 'intr-'));
        const controller = new AbortController();
        let completed = 0;
        let progressAfterAbort = 0;
        const r = await train({
          ...common,
          workers,
          out,
          signal: controller.signal,
          onProgress: (pass, done, total) => {
            if (controller.signal.aborted) {
              progressAfterAbort++;
              return;
            }
            // on the pool, `done` may jump by several chunks (they are summed in chunk order)
            if (completed === 2 && pass === m.pass && done >= m.done! && done < total)
              controller.abort();
          },
          onIteration: (it) => {
            completed = it.iter;
            if (it.iter === m.afterIter) controller.abort();
          },
        });
        t.true(controller.signal.aborted, 'the abort was triggered');
        t.true(r.interrupted);
        t.is(r.stopped, 'interrupted after iteration 2');
        t.is(r.history.length, 2);
        t.is(progressAfterAbort, 0, 'no chunk reported after the abort');
        const c = loadCheckpoint(out);
        t.is(c.state.iter, 2);
        t.deepEqual(
          timeless(c.history as unknown as TrainIteration[]),
          timeless(want.history.slice(0, 2)),
        );
        t.deepEqual([...Float32Array.from(c.state.theta)], [...r.params]);
        const resumed = await train({ ...common, workers, resume: out });
        t.falsy(resumed.interrupted);
        sameAsUninterrupted(t, resumed, want, name);
      },
    );
  }
}

test.serial('the pool trajectory equals the in-process one (the reference above)', async (t) => {
  sameAsUninterrupted(t, await train({ ...common, workers: 2 }), await uninterrupted(), 'pool');
});

test.serial(
  'without out, an interrupt leaves no temp folder; train leaves process signal listeners alone',
  async (t) => {
    // a temporary folder of this process's own: other test files running at the same time
    // (NATS runs that fail on purpose) write tfjs-newton-* folders into the shared one
    const shared = process.env.TMPDIR;
    process.env.TMPDIR = mkdtempSync(join(tmpdir(), 'intr-tmp-'));
    t.teardown(() => {
      if (shared === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = shared;
    });
    const ours = () => readdirSync(tmpdir()).filter((f) => f.startsWith('tfjs-newton-')).length;
    const before = ours();
    const listeners = () => ['SIGINT', 'SIGTERM'].map((s) => process.listenerCount(s));
    const l0 = listeners();
    for (const workers of [0, 2]) {
      const controller = new AbortController();
      const during: number[][] = [];
      const r = await train({
        ...common,
        workers,
        signal: controller.signal,
        onIteration: (it) => {
          during.push(listeners());
          if (it.iter === 1) controller.abort();
        },
      });
      t.true(r.interrupted);
      t.is(r.stopped, 'interrupted after iteration 1');
      t.deepEqual(during, [l0]);
      t.deepEqual(listeners(), l0);
    }
    t.is(ours(), before);
  },
);

test.serial(
  'a signal aborted before train starts: interrupted after iteration 0, the checkpoint resumes',
  async (t) => {
    const out = mkdtempSync(join(tmpdir(), 'intr-'));
    const r = await train({ ...common, workers: 2, out, signal: AbortSignal.abort() });
    t.true(r.interrupted);
    t.is(r.stopped, 'interrupted after iteration 0');
    t.is(loadCheckpoint(out).state.iter, 0);
    sameAsUninterrupted(
      t,
      await train({ ...common, workers: 0, resume: out }),
      await uninterrupted(),
      'resumed from 0',
    );
  },
);

test.serial(
  'a pool chunk failing 3 times leaves a checkpoint that resumes on the uninterrupted trajectory',
  async (t) => {
    const want = await uninterrupted();
    const out = mkdtempSync(join(tmpdir(), 'intr-'));
    const err = await t.throwsAsync(
      () =>
        train(
          withFaults(
            { ...common, workers: 2, out },
            { kind: 'Gv', chunk: 1, attempts: 99, mode: 'throw', fromThetaVersion: 3 },
          ),
        ),
      { instanceOf: RunError },
    );
    t.regex(err!.message, /Gv chunk 1 failed 3 times/);
    const k = loadCheckpoint(out).state.iter;
    t.true(k >= 1 && k < ITERS, `checkpoint at iteration ${k}`);
    t.regex(err!.message, new RegExp(`after iteration ${k}\\) are in `));
    sameAsUninterrupted(
      t,
      await train({ ...common, workers: 2, resume: out }),
      want,
      'resumed after the failure',
    );
  },
);

const CLI = ['--import', 'tsx', 'src/cli/main.ts'];
const cliArgs = ['train', '--data', 'digits', '--C', '1', '--workers', '2', '--backend', 'wasm'];

/** Runs the CLI to its end without blocking this process (a spawnSync would stall the other tests' children's pipes). */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) =>
    child.on('close', (status) => resolve({ status, stdout, stderr })),
  );
}

for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`the CLI: ${sig} after the second iteration exits ${code} with the resume hint; --resume continues`, async (t) => {
    const out = mkdtempSync(join(tmpdir(), 'intr-cli-'));
    const child = spawn(process.execPath, [...CLI, ...cliArgs, '--iters', '50', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    let sent = false;
    const exit = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (b: Buffer) => {
        stdout += b.toString();
        if (!sent && (stdout.match(/^iter /gm) ?? []).length >= 2) {
          sent = true;
          child.kill(sig);
        }
      });
      // 'close': the process has exited (no thread kept it alive) and its output is in
      child.on('close', (c) => resolve(c));
    });
    t.true(sent, stdout + stderr);
    t.is(exit, code, stdout + stderr);
    const m = /^interrupted after iteration (\d+); continue with --resume (.+)$/m.exec(stdout);
    t.truthy(m, stdout);
    const k = Number(m![1]);
    t.is(m![2], out);
    t.true(k >= 2 && k < 50, stdout);
    t.is(JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')).iter, k);
    const resumed = await cli([...cliArgs, '--resume', out, '--iters', String(k + 2)]);
    t.is(resumed.status, 0, resumed.stderr);
    t.regex(resumed.stdout, new RegExp(`^iter +${k + 1} `, 'm'));
    t.regex(resumed.stdout, new RegExp(`^iter +${k + 2} `, 'm'));
  });
}

test('the CLI without --out: an interrupt says nothing was saved', async (t) => {
  const child = spawn(process.execPath, [...CLI, ...cliArgs, '--iters', '50'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  const exit = await new Promise<number | null>((resolve) => {
    child.stdout.on('data', (b: Buffer) => {
      const first = !/^iter /m.test(stdout);
      stdout += b.toString();
      if (first && /^iter /m.test(stdout)) child.kill('SIGINT');
    });
    child.on('close', (c) => resolve(c));
  });
  t.is(exit, 130);
  t.regex(stdout, /^interrupted after iteration \d+ \(no --out: nothing was saved\)$/m);
});
