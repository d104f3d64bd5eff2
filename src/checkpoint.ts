/**
 * Checkpoints: the solver's state (θ in float64, λ, iteration, generator state), what is
 * needed to read it back (model spec, loss) and what a resume must match (RunIdentity),
 * written atomically: every file
 * goes to a temporary name and is renamed into place, θ first and the JSON that names
 * it last, so a kill at any moment leaves the previous or the new checkpoint, whole.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Preprocessing } from './data/dataset.js';
import type { LossKind } from './model/loss.js';
import type { ModelSpec } from './model/spec.js';
import type { NewtonState } from './solver/newton.js';
import { UsageError } from './errors.js';

export interface Checkpoint {
  spec: ModelSpec;
  loss: LossKind;
  state: NewtonState;
  /** what the run has logged so far, one record per iteration */
  history?: Record<string, unknown>[];
  /** the best iteration by validation accuracy so far */
  best?: { iter: number; valAcc: number };
  /** what else defines the trajectory; a resume must match it (absent in older checkpoints) */
  run?: RunIdentity;
  /** how the data was preprocessed: a resume applies the same, on any machine */
  preprocessing?: Preprocessing;
}

/**
 * The settings that, besides the model and the loss, fix a run's trajectory: a resume with
 * any other value would silently follow another one. `data` is a digest of the training
 * samples after preprocessing (so it covers the data set, the split and the scaling).
 */
export interface RunIdentity {
  C: number;
  seed: number;
  gnSize: number;
  bsize: number;
  gv: string;
  data: string;
}

/** The option names a user sets each field of RunIdentity with (for messages). */
export const RUN_IDENTITY_OPTIONS: Record<keyof RunIdentity, string> = {
  C: '--C',
  seed: '--seed',
  gnSize: '--gn-size/--gn-ratio',
  bsize: '--bsize',
  gv: '--gv',
  data: '--data (and its preprocessing: --scale, --val-split, --shape, ...)',
};

interface CheckpointJson {
  format: 'tfjs-newton-checkpoint';
  version: 1;
  spec: ModelSpec;
  loss: LossKind;
  iter: number;
  lambda: number;
  /** the generator's words; null for "no spare normal" (NaN in memory) */
  rngState: (number | null)[];
  /** file name of θ (float64, little-endian) in the same folder */
  thetaFile: string;
  numParams: number;
  history?: Record<string, unknown>[];
  best?: { iter: number; valAcc: number };
  run?: RunIdentity;
  preprocessing?: { scale: number; mean: number[] };
}

const JSON_FILE = 'checkpoint.json';

function writeAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export function saveCheckpoint(dir: string, c: Checkpoint): void {
  mkdirSync(dir, { recursive: true });
  const thetaFile = `theta-${c.state.iter}.f64`;
  const theta = c.state.theta;
  writeAtomic(join(dir, thetaFile), new Uint8Array(theta.buffer, theta.byteOffset, theta.byteLength));
  const json: CheckpointJson = {
    format: 'tfjs-newton-checkpoint',
    version: 1,
    spec: c.spec,
    loss: c.loss,
    iter: c.state.iter,
    lambda: c.state.lambda,
    rngState: c.state.rngState.map((x) => (Number.isNaN(x) ? null : x)),
    thetaFile,
    numParams: theta.length,
    history: c.history,
    best: c.best,
    run: c.run,
    preprocessing: c.preprocessing && { scale: c.preprocessing.scale, mean: [...c.preprocessing.mean] },
  };
  writeAtomic(join(dir, JSON_FILE), JSON.stringify(json, null, 1));
  for (const f of readdirSync(dir)) {
    if (/^theta-\d+\.f64$/.test(f) && f !== thetaFile) rmSync(join(dir, f), { force: true });
  }
}

/** The fields of checkpoint.json and what each must be. */
const FIELDS: [keyof CheckpointJson, string, (v: unknown) => boolean][] = [
  ['spec', 'an object', (v) => typeof v === 'object' && v !== null && Array.isArray((v as ModelSpec).layers) && Array.isArray((v as ModelSpec).inputShape)],
  ['loss', 'a string', (v) => typeof v === 'string'],
  ['iter', 'an integer', (v) => Number.isInteger(v)],
  ['lambda', 'a positive number', (v) => typeof v === 'number' && Number.isFinite(v) && v > 0],
  ['rngState', 'an array', (v) => Array.isArray(v)],
  ['thetaFile', 'a file name', (v) => typeof v === 'string' && v !== '' && !/[\\/]/.test(v)],
  ['numParams', 'an integer', (v) => Number.isInteger(v) && (v as number) >= 0],
];

/**
 * Reads and checks checkpoint.json of `dir` and that the θ file it names exists with the
 * right size (without reading θ): one-line UsageErrors naming the file and the field.
 */
export function checkCheckpoint(dir: string): CheckpointJson {
  const path = join(dir, JSON_FILE);
  let json: CheckpointJson;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${path}: cannot read a checkpoint (not found: is ${dir} a run folder of train --out?)`);
    throw new UsageError(`${path}: cannot read a checkpoint (${code ?? (e as Error).message})`);
  }
  try {
    json = JSON.parse(text) as CheckpointJson;
  } catch (e) {
    throw new UsageError(`${path}: cannot read a checkpoint (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof json !== 'object' || json === null || json.format !== 'tfjs-newton-checkpoint') throw new UsageError(`${path}: not a tfjs-newton checkpoint`);
  for (const [k, what, ok] of FIELDS) {
    if (!(k in json)) throw new UsageError(`${path}: field '${k}' is missing (the checkpoint is incomplete)`);
    if (!ok(json[k])) throw new UsageError(`${path}: field '${k}' must be ${what}, found ${JSON.stringify(json[k])?.slice(0, 40)}`);
  }
  const thetaPath = join(dir, json.thetaFile);
  let size: number;
  try {
    const s = statSync(thetaPath);
    if (!s.isFile()) throw new UsageError(`${thetaPath}: checkpoint file is a folder, not a file (named by ${path})`);
    size = s.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${thetaPath}: checkpoint file ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code})`} (named by ${path})`);
  }
  if (size !== json.numParams * 8) throw new UsageError(`${thetaPath}: expected ${json.numParams * 8} bytes of θ, found ${size}`);
  return json;
}

export function loadCheckpoint(dir: string): Checkpoint {
  const json = checkCheckpoint(dir);
  const thetaPath = join(dir, json.thetaFile);
  let bytes: Buffer;
  try {
    bytes = readFileSync(thetaPath);
  } catch (e) {
    throw new UsageError(`${thetaPath}: cannot read the checkpoint's θ (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (bytes.length !== json.numParams * 8) {
    throw new UsageError(`${thetaPath}: expected ${json.numParams * 8} bytes of θ, found ${bytes.length}`);
  }
  const theta = new Float64Array(json.numParams);
  new Uint8Array(theta.buffer).set(bytes);
  const bad = theta.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new UsageError(`${thetaPath}: θ[${bad}] is ${theta[bad]}: the checkpoint holds a non-finite model and cannot be resumed`);
  const rngState = json.rngState.map((x) => (x === null ? NaN : x));
  return { spec: json.spec, loss: json.loss, state: { theta, lambda: json.lambda, iter: json.iter, rngState }, history: json.history, best: json.best, run: json.run,
    preprocessing: json.preprocessing && { scale: json.preprocessing.scale, mean: Float64Array.from(json.preprocessing.mean) } };
}

/**
 * Refuses to resume the checkpoint in `dir` (made with `saved`) as a run with `now`,
 * naming the first setting that differs and both values. Older checkpoints without the
 * record are resumed unchecked.
 */
export function checkSameRun(dir: string, saved: RunIdentity | undefined, now: RunIdentity): void {
  if (saved === undefined) return;
  for (const k of Object.keys(RUN_IDENTITY_OPTIONS) as (keyof RunIdentity)[]) {
    if (saved[k] !== now[k]) {
      throw new UsageError(
        `${dir}: ${RUN_IDENTITY_OPTIONS[k]} differs from the checkpointed run (${k} ${JSON.stringify(saved[k])} there, ` +
          `${JSON.stringify(now[k])} now): resume with the same settings, or start a new run`,
      );
    }
  }
}
