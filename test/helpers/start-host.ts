/**
 * A host process for test/start-training.test.ts: starts two trainings with
 * startTraining, aborts the first after its first iteration, lets the second finish,
 * writes a snapshot of its final θ (from this thread, whose tfjs has no backend yet), and
 * then returns without calling process.exit. The test checks that the process exits by
 * itself (no thread, port or timer of ours left behind). Prints one JSON line.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTraining } from '../../src/host/start.ts';
import { loadModel } from '../../src/model/keras.ts';

const common = {
  data: 'digits',
  model: 'mlp:16',
  C: 1,
  iters: 2,
  backend: 'wasm',
  bsize: 256,
} as const;
const aborted = startTraining({ ...common, iters: 50, workers: 1 });
aborted.on('iteration', () => aborted.abort());
const finished = startTraining({ ...common, workers: 1 });
const [a, f] = await Promise.all([aborted.result, finished.result]);
const codes = await Promise.all([aborted.exited, finished.exited]);
const dir = mkdtempSync(join(tmpdir(), 'start-host-'));
const snap = await finished.snapshot(dir);
const same = loadModel(dir).theta.every((x, i) => x === f.params[i]);
console.log(
  JSON.stringify({
    interrupted: a.interrupted,
    stopped: a.stopped,
    iters: f.history.length,
    codes,
    snapshot: { iter: snap.iter, same },
  }),
);
