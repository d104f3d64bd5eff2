#!/usr/bin/env node
/** The `tfjs-newton` command. */
import { UsageError } from '../errors.js';
import { BENCH_HELP, benchCommand } from './bench.js';
import { EVAL_HELP, evalCommand } from './eval.js';
import { PLOT_HELP, plotCommand } from './plot.js';
import { TRAIN_HELP, trainCommand } from './train.js';
import { WORKER_HELP, workerCommand } from './worker.js';

const HELP = `Usage: tfjs-newton <command> [options]

Commands:
  train     train a network with subsampled Gauss-Newton Newton-CG
  eval      loss, accuracy and confusion matrix of a saved model
  plot      objective and accuracy of runs against iteration and time, as SVG
  bench     benchmarks: 'bench scaling' times Gv and f+∇f for several worker counts
  worker    serve the runs of a NATS server (train --nats URL) from this machine

Run 'tfjs-newton <command> --help' for the options of a command.
`;

/** A command resolves with its exit code (0 when it returns nothing). */
const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number | void>; help: string }> =
  {
    train: { run: trainCommand, help: TRAIN_HELP },
    eval: { run: evalCommand, help: EVAL_HELP },
    plot: { run: plotCommand, help: PLOT_HELP },
    bench: { run: benchCommand, help: BENCH_HELP },
    worker: { run: workerCommand, help: WORKER_HELP },
  };

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(Object.hasOwn(COMMANDS, rest[0] ?? '') ? COMMANDS[rest[0]].help : HELP);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!command) throw new UsageError(`unknown command '${cmd}'; run 'tfjs-newton --help'`);
  return (await command.run(rest)) ?? 0;
}

// exit codes: 0 done, 2 bad input or usage (a UsageError), 130/143 train interrupted by
// SIGINT/SIGTERM (see trainCommand), 1 anything unexpected
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as Error & { code?: string };
    if (e instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`tfjs-newton: ${err.message.split('\n').join(' ')}`); // one line, also for parseArgs's own multi-line messages
      process.exit(2);
    }
    console.error(err.stack ?? String(e));
    process.exit(1);
  },
);
