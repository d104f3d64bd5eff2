#!/usr/bin/env node
/** The `tfjs-newton` command. */
import { UsageError } from '../errors.js';
import { BENCH_HELP, benchCommand } from './bench.js';
import { EVAL_HELP, evalCommand } from './eval.js';
import { PLOT_HELP, plotCommand } from './plot.js';
import { TRAIN_HELP, trainCommand } from './train.js';

const HELP = `Usage: tfjs-newton <command> [options]

Commands:
  train     train a network with subsampled Gauss-Newton Newton-CG
  eval      loss, accuracy and confusion matrix of a saved model
  plot      objective and accuracy of runs against iteration and time, as SVG
  bench     benchmarks: 'bench scaling' times Gv and f+∇f for several worker counts

Run 'tfjs-newton <command> --help' for the options of a command.
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'train':
      await trainCommand(rest);
      return 0;
    case 'bench':
      await benchCommand(rest);
      return 0;
    case 'eval':
      await evalCommand(rest);
      return 0;
    case 'plot':
      await plotCommand(rest);
      return 0;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(cmd === undefined ? HELP : rest[0] === 'train' ? TRAIN_HELP : rest[0] === 'bench' ? BENCH_HELP : rest[0] === 'eval' ? EVAL_HELP : rest[0] === 'plot' ? PLOT_HELP : HELP);
      return 0;
    default:
      throw new UsageError(`unknown command '${cmd}'; run 'tfjs-newton --help'`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as Error & { code?: string };
    if (e instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`tfjs-newton: ${err.message}`);
      process.exit(2);
    }
    console.error(err.stack ?? String(e));
    process.exit(1);
  },
);
