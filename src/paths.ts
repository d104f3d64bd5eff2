/**
 * Checks of the paths a run reads and writes, made up front (before data loading and any
 * compute), so that a bad path is one line — `PATH: <option> <cause>` — and not a stack
 * trace after the first iteration. Each check throws a UsageError (exit code 2 in the CLI).
 *
 * Writability is tested with a real probe (a temporary file created and removed), not
 * with access(W_OK): that is what the write will meet (read-only mounts, ACLs), and for
 * root access() says yes to everything.
 *
 * `readFailure` words a failed read the same way, for the files read later, whose paths
 * come from other files or from options checked elsewhere (a model's weights files, the
 * NATS credentials, keys and certificates).
 */
import { closeSync, constants, openSync, readdirSync, rmSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.js';

function statOf(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') return null; // a parent is a file: reported by the caller
    throw new UsageError(`${path}: cannot be examined (${code ?? (e as Error).message})`);
  }
}

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * Why reading a file failed, to follow its path (`PATH: <why>: <what the file is>`):
 * 'not found' (ENOENT), 'is a folder, not a file' (EISDIR), else 'is not readable (CODE)'
 * (EACCES, ...; the error's message when it has no code).
 */
export function readFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'not found';
  if (code === 'EISDIR') return 'is a folder, not a file';
  return `is not readable (${codeOf(e)})`;
}

/** The nearest ancestor of `path` that exists (path itself excluded). */
function existingAncestor(path: string): { dir: string; stat: Stats } {
  let dir = dirname(resolve(path));
  for (;;) {
    const s = statOf(dir);
    if (s) return { dir, stat: s };
    const up = dirname(dir);
    if (up === dir) throw new UsageError(`${path}: no existing parent folder`);
    dir = up;
  }
}

/** Whether a file can be created in `dir`: creates and removes a temporary file. */
function probeWritable(dir: string): string | null {
  const probe = join(dir, `.tfjs-newton-probe-${process.pid}-${Date.now()}`);
  try {
    closeSync(openSync(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY));
  } catch (e) {
    return codeOf(e);
  }
  rmSync(probe, { force: true });
  return null;
}

/** A folder the run writes into: an existing writable folder, or one that can be created. */
export function checkOutputFolder(path: string, option: string): void {
  const s = statOf(path);
  if (s) {
    if (!s.isDirectory())
      throw new UsageError(`${path}: ${option} is an existing file, not a folder`);
    const why = probeWritable(path);
    if (why) throw new UsageError(`${path}: ${option} folder is not writable (${why})`);
    return;
  }
  const { dir, stat } = existingAncestor(path);
  if (!stat.isDirectory())
    throw new UsageError(`${path}: ${option} cannot be created: ${dir} is a file, not a folder`);
  const why = probeWritable(dir);
  if (why)
    throw new UsageError(`${path}: ${option} cannot be created: ${dir} is not writable (${why})`);
}

/** A file the run writes (created or overwritten): its folder must exist and be writable. */
export function checkOutputFile(path: string, option: string): void {
  const s = statOf(path);
  if (s) {
    if (s.isDirectory()) throw new UsageError(`${path}: ${option} is a folder, not a file`);
    try {
      closeSync(openSync(path, 'r+')); // opens for writing without truncating
    } catch (e) {
      throw new UsageError(`${path}: ${option} file is not writable (${codeOf(e)})`);
    }
    return;
  }
  const dir = dirname(resolve(path));
  const d = statOf(dir);
  if (!d) throw new UsageError(`${path}: ${option} folder ${dirname(path)} does not exist`);
  if (!d.isDirectory())
    throw new UsageError(
      `${path}: ${option} cannot be created: ${dirname(path)} is a file, not a folder`,
    );
  const why = probeWritable(dir);
  if (why)
    throw new UsageError(
      `${path}: ${option} cannot be created: folder ${dirname(path)} is not writable (${why})`,
    );
}

/** A file the run reads: it exists, is a file and can be opened. */
export function checkInputFile(path: string, option: string): void {
  const s = statOf(path);
  if (!s) throw new UsageError(`${path}: ${option} file not found`);
  if (s.isDirectory()) throw new UsageError(`${path}: ${option} is a folder, not a file`);
  try {
    closeSync(openSync(path, 'r'));
  } catch (e) {
    throw new UsageError(`${path}: ${option} file is not readable (${codeOf(e)})`);
  }
}

/** A folder the run reads: it exists, is a folder and can be listed. */
export function checkInputFolder(path: string, option: string): void {
  const s = statOf(path);
  if (!s) throw new UsageError(`${path}: ${option} folder not found`);
  if (!s.isDirectory()) throw new UsageError(`${path}: ${option} is a file, not a folder`);
  try {
    readdirSync(path);
  } catch (e) {
    throw new UsageError(`${path}: ${option} folder is not readable (${codeOf(e)})`);
  }
}

/**
 * The data paths of `train` and `eval`: --data when it is a path (names and paths that do
 * not exist are left to loadData, which lists what --data can be), --data-dir, --test, --val.
 */
export function checkDataPaths(o: {
  data?: unknown;
  dataDir?: string;
  test?: string;
  val?: string;
}): void {
  if (typeof o.data === 'string' && o.data !== 'digits' && o.data !== 'fashion-mnist') {
    const s = statOf(o.data);
    if (s?.isDirectory()) checkInputFolder(o.data, '--data');
    else if (s) checkInputFile(o.data, '--data');
  }
  if (o.dataDir !== undefined && statOf(o.dataDir)) checkInputFolder(o.dataDir, '--data-dir');
  if (o.test !== undefined) checkInputFile(o.test, '--test');
  if (o.val !== undefined) checkInputFile(o.val, '--val');
}

/** The paths of a `train` run (the options of train() and trainFirstOrder()). */
export interface RunPaths {
  data?: unknown;
  dataDir?: string;
  test?: string;
  val?: string;
  model?: unknown;
  out?: string;
  resume?: string;
  log?: string;
}

/**
 * Every path of a run, checked before anything is loaded or computed. `checkResume`
 * validates a checkpoint folder (its files and fields) without reading θ.
 */
export function checkRunPaths(o: RunPaths, checkResume?: (dir: string) => void): void {
  checkDataPaths(o);
  if (typeof o.model === 'string' && o.model.endsWith('.json')) checkInputFile(o.model, '--model');
  if (o.resume !== undefined) {
    checkInputFolder(o.resume, '--resume');
    checkResume?.(o.resume);
  }
  if (o.out !== undefined) checkOutputFolder(o.out, '--out');
  else if (o.resume !== undefined) checkOutputFolder(o.resume, '--resume');
  if (o.log !== undefined) checkOutputFile(o.log, '--log');
}
