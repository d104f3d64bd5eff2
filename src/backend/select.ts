/**
 * Chooses and initialises the tfjs compute backend.
 *
 * `auto` takes tfjs-node's native `tensorflow` backend when `@tensorflow/tfjs-node`
 * loads, else `wasm`. The native backend is process-global: callers that use several
 * threads must run one compute thread with it (see the coordinator).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { UsageError } from '../errors.js';
import { registerNewtonKernels } from './kernels.js';

export const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

const TFJS_NODE = '@tensorflow/tfjs-node';

async function loadTfjsNode(): Promise<string | null> {
  try {
    await import(TFJS_NODE);
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
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
