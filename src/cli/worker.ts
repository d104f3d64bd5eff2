/** `tfjs-newton worker`: a long-lived worker process serving the runs of a NATS server. */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { NATS_FLAGS, natsOptionsFromFlags } from '../transport/nats/connect.js';
import { NatsWorker } from '../transport/nats/worker.js';
import { loadData } from '../data/load.js';
import type { Dataset } from '../data/dataset.js';
import { validateOptions } from '../run/options.js';
import { DATA_FLAGS, dataOptionsFromFlags, num } from './args.js';

export const WORKER_HELP = `Usage: tfjs-newton worker --nats URL [options]

Serves the chunk tasks of any run whose coordinator ('tfjs-newton train --nats URL') reaches
this NATS server, until stopped (Ctrl-C / SIGTERM). Data sets come from the server's object
store by content digest (once per data set); results go back to the run's coordinator.

  --nats URL        the NATS server (nats://host:port; several separated by commas)
  --threads N       compute threads, each with its own backend (default 1; the machine has ${availableParallelism()})
  --nats-token T, --nats-user U --nats-pass P, --nats-creds FILE, --nats-nkey FILE
                    authentication (NATS_TOKEN, NATS_USER, NATS_PASS from the environment too)
  --tls-ca FILE, --tls-cert FILE, --tls-key FILE
                    TLS: the CA to verify the server, and a client certificate
  --data NAME|PATH  hold this data set locally (with --data-dir, --test, --val, --val-split,
                    --label-col, --shape, --scale, --seed as for train): a run whose data has the
                    same digest uses it instead of downloading (for data that may not leave its
                    machines: train --nats-no-upload)
`;

export async function workerCommand(argv: string[]): Promise<number | void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      ...NATS_FLAGS,
      threads: { type: 'string' },
      ...DATA_FLAGS,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(WORKER_HELP);
    return;
  }
  const nats = natsOptionsFromFlags(values);
  if (!nats)
    throw new UsageError(
      "worker needs --nats URL (the NATS server to serve); see 'tfjs-newton worker --help'",
    );
  const threads = num(values.threads, '--threads', { int: true, min: 1 }) ?? 1;
  let localData: Dataset[] | undefined;
  const { data, ...options } = dataOptionsFromFlags(values);
  if (typeof data === 'string') {
    validateOptions(options, 'newton', 'cli'); // the library's check, in the flags' words
    const sets = loadData({ ...options, data });
    localData = [sets.train, sets.test, ...(sets.val ? [sets.val] : [])];
  }
  const worker = await NatsWorker.start({
    ...nats,
    threads,
    localData,
    localDataSource: typeof data === 'string' ? data : undefined,
  });
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    void worker.close();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await worker.closed();
  if (!stopping) throw new UsageError(`lost the NATS server at ${nats.url}`);
}
