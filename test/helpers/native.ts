/**
 * Whether tests run on tfjs-node's native `tensorflow` backend too.
 *
 * Native tests run when `@tensorflow/tfjs-node` loads. Where it is not installed they are
 * left out (`npm test` prints one line saying so, from test/helpers/native-status.ts),
 * unless TFJS_NEWTON_REQUIRE_NATIVE=1 (CI), where they run and fail on the load error.
 */
import { createRequire } from 'node:module';

export const REQUIRE_NATIVE = process.env.TFJS_NEWTON_REQUIRE_NATIVE === '1';

/** null when tfjs-node can be resolved here, else why not. Does not load it. */
function nativeMissing(): string | null {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

export const NATIVE_MISSING = nativeMissing();

/** Run native tests: tfjs-node is installed, or CI requires them (they then fail on its absence). */
export const WITH_NATIVE = NATIVE_MISSING === null || REQUIRE_NATIVE;

/** The backends every kernel and Gauss-Newton test runs on besides cpu's reference. */
export const COMPUTE_BACKENDS = WITH_NATIVE
  ? (['wasm', 'tensorflow'] as const)
  : (['wasm'] as const);
