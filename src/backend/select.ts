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

let nativeLoad: Promise<string | null> | null = null;

/** Loads tfjs-node once per thread; null when it loaded, else why not (one line). */
function loadTfjsNode(): Promise<string | null> {
  nativeLoad ??= importTfjsNode();
  return nativeLoad;
}

async function importTfjsNode(): Promise<string | null> {
  oneTensorflowThreadPerContext();
  // tfjs-node finds its binding with node-pre-gyp, which parses process.argv as its own
  // options: a host's `--C 3` (node-pre-gyp's -C, "change directory") broke the load.
  const argv = process.argv;
  process.argv = argv.slice(0, 2);
  try {
    await import(TFJS_NODE);
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  } finally {
    process.argv = argv;
  }
}

/**
 * Why `auto` would not take the native backend in this thread (one line), or null when
 * tfjs-node loads. Loads it on the first call.
 */
export function nativeUnavailable(): Promise<string | null> {
  return loadTfjsNode();
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
    const why = await loadTfjsNode();
    if (why !== null) {
      throw new UsageError(
        `the tensorflow backend needs @tensorflow/tfjs-node, which did not load (${why}); ` +
          `install it with 'npm install @tensorflow/tfjs-node', or use --backend wasm`,
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
