/**
 * Chooses and initialises the tfjs compute backend.
 *
 * `auto` takes tfjs-node's native `tensorflow` backend when `@tensorflow/tfjs-node`
 * loads, else `wasm`. Every thread that loads tfjs-node gets its own native backend
 * (its own tensors and TensorFlow context), so each pool worker runs one. Parallelism
 * comes from the pool: each context computes on its calling thread only
 * (`TF_NUM_INTRAOP_THREADS` and `TF_NUM_INTEROP_THREADS` default to 1; set them in the
 * environment to let TensorFlow thread a single in-process computation itself).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { UsageError } from '../errors.js';
import { registerNewtonKernels } from './kernels.js';

export const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

const TFJS_NODE = '@tensorflow/tfjs-node';

/**
 * Makes TensorFlow contexts created from now on compute on their calling thread, unless
 * the environment says otherwise. libtensorflow reads the process environment when a
 * context is created; only the main thread's `process.env` writes reach it (a worker
 * thread's is a copy), so the coordinator calls this before it starts workers.
 */
export function oneTensorflowThreadPerContext(): void {
  process.env.TF_NUM_INTRAOP_THREADS ??= '1';
  process.env.TF_NUM_INTEROP_THREADS ??= '1';
  // no info logs on stderr (oneDNN's start-up notice is printed before this is read: set
  // TF_ENABLE_ONEDNN_OPTS=1 in the environment the process starts with to silence it)
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
}

/**
 * Why tfjs-node did not load, sorted by what mends it:
 * - `missing`: the package is not installed (npm skipped the optional dependency, say
 *   because its install script failed to download libtensorflow);
 * - `unbuilt`: the package is installed without its native binding or libtensorflow. npm 12
 *   runs no dependency install script the project's package.json `allowScripts` does not
 *   approve (npm 11.16+ runs it with a warning): the package is then unpacked and never built;
 * - `broken`: it is there but failed to load otherwise.
 */
export type NativeFailureKind = 'missing' | 'unbuilt' | 'broken';

export interface NativeFailure {
  kind: NativeFailureKind;
  /** the loader's message (its first line) */
  why: string;
}

/** What mends each kind: the command, and how initBackend's error words it. */
const NATIVE_FIX: Record<NativeFailureKind, { command: string; todo: string; cause: string }> = {
  missing: { command: `npm install ${TFJS_NODE}`, todo: 'install it', cause: '' },
  unbuilt: {
    command: `npm install-scripts approve ${TFJS_NODE} && npm rebuild ${TFJS_NODE}`,
    todo: 'build it',
    cause:
      'it is installed without its native binding (npm 12 skips install scripts that ' +
      "package.json's allowScripts does not approve): ",
  },
  broken: { command: `npm rebuild ${TFJS_NODE}`, todo: 'rebuild it', cause: '' },
};

/** Sorts a failed `import('@tensorflow/tfjs-node')` by what mends it. */
export function classifyNativeFailure(e: unknown): NativeFailure {
  const why = String((e as Error)?.message ?? e)
    .split('\n')[0]
    .trim();
  const code = (e as NodeJS.ErrnoException)?.code;
  const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
  // the package itself, not one of its dependencies (that is a broken install)
  if (notFound && why.includes(`'${TFJS_NODE}'`)) return { kind: 'missing', why };
  // tfjs-node's own check for its addon, or the addon's libtensorflow not found by dlopen
  if (/tfjs_binding\.node|libtensorflow/.test(why)) return { kind: 'unbuilt', why };
  return { kind: 'broken', why };
}

let nativeLoad: Promise<NativeFailure | null> | null = null;

/** Loads tfjs-node once per thread; null when it loaded, else why not. */
function loadTfjsNode(): Promise<NativeFailure | null> {
  nativeLoad ??= importTfjsNode();
  return nativeLoad;
}

async function importTfjsNode(): Promise<NativeFailure | null> {
  oneTensorflowThreadPerContext();
  // tfjs-node finds its binding with node-pre-gyp, which parses process.argv as its own
  // options: a host's `--C 3` (node-pre-gyp's -C, "change directory") broke the load.
  const argv = process.argv;
  process.argv = argv.slice(0, 2);
  try {
    await import(TFJS_NODE);
    return null;
  } catch (e) {
    return classifyNativeFailure(e);
  } finally {
    process.argv = argv;
  }
}

/**
 * Why `auto` would not take the native backend in this thread (one line), or null when
 * tfjs-node loads. Loads it on the first call.
 */
export async function nativeUnavailable(): Promise<string | null> {
  return (await loadTfjsNode())?.why ?? null;
}

/** The line saying `auto` runs on wasm, why, and the command that mends it. */
export function fallbackLine(f: NativeFailure): string {
  const fix = NATIVE_FIX[f.kind];
  return (
    `backend wasm: ${TFJS_NODE} did not load (${f.why}); ` +
    `${fix.cause}'${fix.command}' for the native backend`
  );
}

/**
 * The line the CLI prints when `auto` falls back to wasm (why tfjs-node did not load and the
 * command that mends it: installing it, or building its binding where npm did not run its
 * install script), or null when tfjs-node loads. Loads it on the first call.
 */
export async function nativeFallbackLine(): Promise<string | null> {
  const f = await loadTfjsNode();
  return f && fallbackLine(f);
}

export function isBackendChoice(s: string): s is BackendChoice {
  return (BACKENDS as readonly string[]).includes(s);
}

/** Initialises the backend, registers tfjs-newton's kernels for it, returns its name. */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<BackendName> {
  if (!isBackendChoice(choice)) {
    throw new UsageError(`unknown backend '${choice}': use one of ${BACKENDS.join(', ')}`);
  }
  let name: BackendName;
  if (choice === 'tensorflow') {
    const f = await loadTfjsNode();
    if (f !== null) {
      const fix = NATIVE_FIX[f.kind];
      throw new UsageError(
        `the tensorflow backend needs ${TFJS_NODE}, which did not load (${f.why}); ` +
          `${fix.cause}${fix.todo} with '${fix.command}', or use --backend wasm`,
      );
    }
    name = 'tensorflow';
  } else if (choice === 'auto') {
    name = (await loadTfjsNode()) === null ? 'tensorflow' : 'wasm';
  } else {
    name = choice;
  }
  tf.enableProdMode(); // silences tfjs's "install tfjs-node" banner; numerics are unchanged
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new UsageError(`the ${name} backend failed to initialise`);
  }
  await tf.ready();
  registerNewtonKernels(name);
  return name;
}
