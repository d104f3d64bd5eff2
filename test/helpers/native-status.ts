/**
 * Prints, before the test run, one line saying whether the native (tfjs-node) tests run,
 * and why not where they don't. Exits non-zero when CI requires them and tfjs-node does
 * not load.
 */
import { initBackend } from '../../src/backend/select.ts';
import { NATIVE_MISSING, REQUIRE_NATIVE } from './native.ts';

let why = NATIVE_MISSING;
if (why === null) {
  try {
    await initBackend('tensorflow');
  } catch (e) {
    why = (e as Error).message;
  }
}
if (why === null)
  console.log('native tests: running on @tensorflow/tfjs-node (backend tensorflow)');
else if (REQUIRE_NATIVE) {
  console.log(
    `native tests: REQUIRED (TFJS_NEWTON_REQUIRE_NATIVE=1) but tfjs-node does not load: ${why}`,
  );
  process.exit(1);
} else
  console.log(
    `native tests: skipped, @tensorflow/tfjs-node does not load (${why}); see README, Set-up`,
  );
