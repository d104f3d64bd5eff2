/**
 * Checkpoints: the solver's state (θ in float64, λ, iteration, generator state, and what
 * the method's options carry between iterations: the last CG solution, ‖∇f₀‖), what is
 * needed to read it back (model spec, loss) and what a resume must match (RunIdentity),
 * written atomically: every file
 * goes to a temporary name and is renamed into place, θ first and the JSON that names
 * it last, so a kill at any moment leaves the previous or the new checkpoint, whole.
 */
import {
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  readdirSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Preprocessing } from './data/dataset.js';
import type { LossKind } from './model/loss.js';
import type { ModelSpec } from './model/spec.js';
import type { NewtonState } from './solver/newton.js';
import {
  LEGACY_METHOD_IDENTITY,
  SOLVER_IDENTITY_OPTIONS,
  type MethodOptions,
  type NewtonMethod,
} from './solver/options.js';
import { errorLine, UsageError } from './errors.js';

export interface Checkpoint {
  spec: ModelSpec;
  loss: LossKind;
  state: NewtonState;
  /**
   * what the run has logged so far, one record per iteration (read back with the current
   * field names: see RENAMED_HISTORY_FIELDS)
   */
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
export interface RunIdentity extends Partial<MethodOptions> {
  C: number;
  seed: number;
  gnSize: number;
  bsize: number;
  gv: string;
  data: string;
  /**
   * The Newton method and its options (methodIdentity in src/solver/options.ts: a remedy's
   * parameter only when the remedy is on). Absent in checkpoints written before the method
   * options: those runs were 'simplenn' (LEGACY_METHOD_IDENTITY).
   */
  method?: NewtonMethod;
}

/**
 * The option names a user sets each field of RunIdentity with (for messages), in the order
 * a mismatch is looked for. The solver's (C, the method and the remedies') come from their
 * rows (SOLVER_IDENTITY_OPTIONS in src/solver/options.ts); C keeps its place first.
 */
export const RUN_IDENTITY_OPTIONS = {
  C: SOLVER_IDENTITY_OPTIONS.C,
  seed: '--seed',
  gnSize: '--gn-size/--gn-ratio',
  bsize: '--bsize',
  gv: '--gv',
  data: '--data (and its preprocessing: --scale, --val-split, --shape, ...)',
  ...SOLVER_IDENTITY_OPTIONS,
} as Readonly<Record<keyof RunIdentity, string>>;

/**
 * What a checkpoint without a method record ran: simpleNN's algorithm, every remedy off
 * (the defaults of the method's 'always' identity rows). A checkpoint that lacks one of
 * these fields (written before the method options, or before a remedy existed) is read
 * as having it.
 */
export { LEGACY_METHOD_IDENTITY };

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
  /** cgInit 'previous': file name of the last CG solution (float64, numParams), in the same folder */
  directionFile?: string;
  /** gnGrowth 'gradient': ‖∇f‖ at the run's first iteration */
  gradNorm0?: number;
  /** gradSample 'norm-test': |X| of the next iteration's gradient sample */
  gradSampleSize?: number;
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
  writeAtomic(
    join(dir, thetaFile),
    new Uint8Array(theta.buffer, theta.byteOffset, theta.byteLength),
  );
  const direction = c.state.direction;
  const directionFile = direction ? `direction-${c.state.iter}.f64` : undefined;
  if (direction && directionFile) {
    if (direction.length !== theta.length)
      throw new RangeError(`the direction has ${direction.length} entries, θ ${theta.length}`);
    writeAtomic(
      join(dir, directionFile),
      new Uint8Array(direction.buffer, direction.byteOffset, direction.byteLength),
    );
  }
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
    directionFile,
    gradNorm0: c.state.gradNorm0,
    gradSampleSize: c.state.gradSampleSize,
    history: c.history,
    best: c.best,
    run: c.run,
    preprocessing: c.preprocessing && {
      scale: c.preprocessing.scale,
      mean: [...c.preprocessing.mean],
    },
  };
  writeAtomic(join(dir, JSON_FILE), JSON.stringify(json, null, 1));
  for (const f of readdirSync(dir)) {
    if (/^(theta|direction)-\d+\.f64$/.test(f) && f !== thetaFile && f !== directionFile)
      rmSync(join(dir, f), { force: true });
  }
}

/** The fields of checkpoint.json and what each must be. */
const FIELDS: [keyof CheckpointJson, string, (v: unknown) => boolean][] = [
  [
    'spec',
    'an object',
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      Array.isArray((v as ModelSpec).layers) &&
      Array.isArray((v as ModelSpec).inputShape),
  ],
  ['loss', 'a string', (v) => typeof v === 'string'],
  ['iter', 'an integer', (v) => Number.isInteger(v)],
  ['lambda', 'a positive number', (v) => typeof v === 'number' && Number.isFinite(v) && v > 0],
  ['rngState', 'an array', (v) => Array.isArray(v)],
  ['thetaFile', 'a file name', (v) => isFileName(v)],
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
    if (code === 'ENOENT')
      throw new UsageError(
        `${path}: cannot read a checkpoint (not found: is ${dir} a run folder of train --out?)`,
      );
    throw new UsageError(`${path}: cannot read a checkpoint (${code ?? (e as Error).message})`);
  }
  try {
    json = JSON.parse(text) as CheckpointJson;
  } catch (e) {
    throw new UsageError(`${path}: cannot read a checkpoint (${errorLine(e)})`);
  }
  if (typeof json !== 'object' || json === null || json.format !== 'tfjs-newton-checkpoint')
    throw new UsageError(`${path}: not a tfjs-newton checkpoint`);
  for (const [k, what, ok] of FIELDS) {
    if (!(k in json))
      throw new UsageError(`${path}: field '${k}' is missing (the checkpoint is incomplete)`);
    if (!ok(json[k]))
      throw new UsageError(
        `${path}: field '${k}' must be ${what}, found ${JSON.stringify(json[k])?.slice(0, 40)}`,
      );
  }
  if (
    'directionFile' in json &&
    json.directionFile !== undefined &&
    !isFileName(json.directionFile)
  ) {
    throw new UsageError(
      `${path}: field 'directionFile' must be a file name, found ${JSON.stringify(json.directionFile)?.slice(0, 40)}`,
    );
  }
  if (
    'gradNorm0' in json &&
    json.gradNorm0 !== undefined &&
    !(typeof json.gradNorm0 === 'number' && Number.isFinite(json.gradNorm0) && json.gradNorm0 >= 0)
  ) {
    throw new UsageError(
      `${path}: field 'gradNorm0' must be a finite number ≥ 0, found ${JSON.stringify(json.gradNorm0)?.slice(0, 40)}`,
    );
  }
  if (
    'gradSampleSize' in json &&
    json.gradSampleSize !== undefined &&
    !(Number.isInteger(json.gradSampleSize) && (json.gradSampleSize as number) >= 1)
  ) {
    throw new UsageError(
      `${path}: field 'gradSampleSize' must be a positive integer, found ${JSON.stringify(json.gradSampleSize)?.slice(0, 40)}`,
    );
  }
  checkVectorFile(dir, json.thetaFile, json.numParams, 'θ', path);
  if (json.directionFile)
    checkVectorFile(dir, json.directionFile, json.numParams, 'the CG direction', path);
  return json;
}

const isFileName = (v: unknown): v is string =>
  typeof v === 'string' && v !== '' && !/[\\/]/.test(v);

/** A float64 vector file of the checkpoint exists, is a file, and holds `n` values. */
function checkVectorFile(
  dir: string,
  file: string,
  n: number,
  what: string,
  jsonPath: string,
): void {
  const filePath = join(dir, file);
  let size: number;
  try {
    const s = statSync(filePath);
    if (!s.isFile())
      throw new UsageError(
        `${filePath}: checkpoint file is a folder, not a file (named by ${jsonPath})`,
      );
    size = s.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `${filePath}: checkpoint file ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code})`} (named by ${jsonPath})`,
    );
  }
  if (size !== n * 8)
    throw new UsageError(`${filePath}: expected ${n * 8} bytes of ${what}, found ${size}`);
}

/** Reads a float64 vector file of the checkpoint (n values, all finite). */
function readVectorFile(
  dir: string,
  file: string,
  n: number,
  what: string,
  nonFinite: string,
): Float64Array {
  const filePath = join(dir, file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(filePath);
  } catch (e) {
    throw new UsageError(
      `${filePath}: cannot read the checkpoint's ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  if (bytes.length !== n * 8)
    throw new UsageError(`${filePath}: expected ${n * 8} bytes of ${what}, found ${bytes.length}`);
  const v = new Float64Array(n);
  new Uint8Array(v.buffer).set(bytes);
  const bad = v.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new UsageError(`${filePath}: ${what}[${bad}] is ${v[bad]}: ${nonFinite}`);
  return v;
}

export function loadCheckpoint(dir: string): Checkpoint {
  const json = checkCheckpoint(dir);
  const theta = readVectorFile(
    dir,
    json.thetaFile,
    json.numParams,
    'θ',
    'the checkpoint holds a non-finite model and cannot be resumed',
  );
  const rngState = json.rngState.map((x) => (x === null ? NaN : x));
  const state: NewtonState = { theta, lambda: json.lambda, iter: json.iter, rngState };
  if (json.directionFile)
    state.direction = readVectorFile(
      dir,
      json.directionFile,
      json.numParams,
      'direction',
      'the checkpoint holds a non-finite CG direction and cannot be resumed',
    );
  if (typeof json.gradNorm0 === 'number') state.gradNorm0 = json.gradNorm0;
  if (typeof json.gradSampleSize === 'number') state.gradSampleSize = json.gradSampleSize;
  return {
    spec: json.spec,
    loss: json.loss,
    state,
    history: Array.isArray(json.history) ? json.history.map(currentNames) : json.history,
    best: json.best,
    run: json.run,
    preprocessing: json.preprocessing && {
      scale: json.preprocessing.scale,
      mean: Float64Array.from(json.preprocessing.mean),
    },
  };
}

/**
 * Fields of the history records renamed since checkpoints were first written, old name →
 * new: `elapsed` (cumulative wall time) and the solver report's `seconds` (one iteration's).
 * A checkpoint written before the rename reads back with the new names, so it resumes.
 */
export const RENAMED_HISTORY_FIELDS: ReadonlyMap<string, string> = new Map([
  ['elapsed', 'elapsedSeconds'],
  ['seconds', 'iterSeconds'],
]);

/** A history record with its renamed fields under their new names (a new name present wins). */
function currentNames(rec: Record<string, unknown>): Record<string, unknown> {
  if (typeof rec !== 'object' || rec === null) return rec;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    const now = RENAMED_HISTORY_FIELDS.get(k);
    if (now === undefined) out[k] = v;
    else if (!Object.hasOwn(rec, now)) out[now] = v;
  }
  return out;
}

/**
 * Refuses to resume the checkpoint in `dir` (made with `saved`) as a run with `now`,
 * naming the first setting that differs and both values. Older checkpoints without the
 * record are resumed unchecked; those without the method record were 'simplenn' runs, and
 * a remedy's switch missing from the record was off (LEGACY_METHOD_IDENTITY).
 */
export function checkSameRun(dir: string, saved: RunIdentity | undefined, now: RunIdentity): void {
  if (saved === undefined) return;
  // a field the checkpoint predates: the run had that remedy off
  const was: RunIdentity = { ...LEGACY_METHOD_IDENTITY, ...saved };
  const show = (v: unknown) => (v === undefined ? 'not used' : JSON.stringify(v));
  for (const k of Object.keys(RUN_IDENTITY_OPTIONS) as (keyof RunIdentity)[]) {
    if (was[k] !== now[k]) {
      throw new UsageError(
        `${dir}: ${RUN_IDENTITY_OPTIONS[k]} differs from the checkpointed run (${k} ${show(was[k])} there, ` +
          `${show(now[k])} now): resume with the same settings, or start a new run`,
      );
    }
  }
}
