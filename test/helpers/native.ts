/**
 * Whether tests run on tfjs-node's native `tensorflow` backend too.
 *
 * Native tests run when `@tensorflow/tfjs-node` loads. Where it is not installed they are
 * left out (`npm test` prints one line saying so, from test/helpers/native-status.ts),
 * unless TFJS_NEWTON_REQUIRE_NATIVE=1 (CI), where they run and fail on the load error.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const REQUIRE_NATIVE = process.env.TFJS_NEWTON_REQUIRE_NATIVE === '1';

/**
 * null when tfjs-node can be resolved here and its native binding is built, else why not.
 * Does not load it. (npm 12 installs it without building the binding when its install
 * script is not approved in allowScripts.)
 */
function nativeMissing(): string | null {
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
  } catch (e) {
    return `it is not installed: ${(e as Error).message.split('\n')[0]}`;
  }
  const lib = join(dirname(main), '..', 'lib');
  const built =
    existsSync(lib) && readdirSync(lib).some((d) => existsSync(join(lib, d, 'tfjs_binding.node')));
  return built
    ? null
    : `it is installed without its native binding (no ${lib}/*/tfjs_binding.node)`;
}

export const NATIVE_MISSING = nativeMissing();

/** Run native tests: tfjs-node is installed, or CI requires them (they then fail on its absence). */
export const WITH_NATIVE = NATIVE_MISSING === null || REQUIRE_NATIVE;

/** The backends every kernel and Gauss-Newton test runs on besides cpu's reference. */
export const COMPUTE_BACKENDS = WITH_NATIVE
  ? (['wasm', 'tensorflow'] as const)
  : (['wasm'] as const);
