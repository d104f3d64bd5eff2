/**
 * The process entry of one race entry (src/bench/race-entry.ts): its spec as JSON in
 * argv[2]; what it reports goes to stdout as lines `@race {...}` (points, progress lines,
 * the error that ended it), which the race reads. Its threads come from the environment
 * the race started it with.
 */
import { runEntry, type EntrySpec } from '../src/bench/race-entry.js';
import { UsageError } from '../src/errors.js';

const send = (m: object) => process.stdout.write(`@race ${JSON.stringify(m)}\n`);
try {
  await runEntry(
    JSON.parse(process.argv[2]) as EntrySpec,
    (point) => send({ point }),
    (say) => send({ say }),
  );
  send({ done: true });
} catch (e) {
  // usage: bad input (a missing data folder, say), which the race reports in one line
  send({ error: (e as Error).message.split('\n')[0], usage: e instanceof UsageError });
  process.exitCode = 1;
}
