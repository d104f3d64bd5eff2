/**
 * What several commands share on the command line: the data flags (train, worker), the
 * option subsets of the benchmarks, and numbers of a command's own flags (which are no
 * library option) parsed with a one-line error for bad values.
 */
import { UsageError } from '../errors.js';
import { NEWTON_OPTIONS, type TrainOptions } from '../run/options.js';
import type { OptionSpec } from '../run/schema.js';
import { flagsOf, optionsFromFlags } from './flags.js';

/** A number of a command's own flag, checked here (the library's options are checked by validateOptions). */
export function num(
  value: string | undefined,
  flag: string,
  opts: { int?: boolean; min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || (opts.int && !Number.isInteger(v))) {
    throw new UsageError(`${flag} expects ${opts.int ? 'an integer' : 'a number'}, got '${value}'`);
  }
  if (opts.min !== undefined && v < opts.min)
    throw new UsageError(`${flag} must be ≥ ${opts.min}, got ${value}`);
  if (opts.max !== undefined && v > opts.max)
    throw new UsageError(`${flag} must be ≤ ${opts.max}, got ${value}`);
  return v;
}

/** The rows of the run's option table for `keys`, in that order. */
export function runOptionRows<K extends keyof TrainOptions>(
  keys: readonly K[],
): Record<K, OptionSpec> {
  return Object.fromEntries(keys.map((k) => [k, NEWTON_OPTIONS[k]])) as Record<K, OptionSpec>;
}

/** The options that say which data set a run loads (train, worker). */
export const DATA_OPTIONS = runOptionRows([
  'data',
  'dataDir',
  'test',
  'val',
  'valSplit',
  'labelCol',
  'targets',
  'trainSamples',
  'shape',
  'scale',
  'seed',
] as const);

/** The data flags, for node:util parseArgs. */
export const DATA_FLAGS = flagsOf(DATA_OPTIONS);

/** The data options of DATA_FLAGS' values (checked by validateOptions, in the flags' words). */
export function dataOptionsFromFlags(
  values: Readonly<Record<string, string | boolean | undefined>>,
): Pick<TrainOptions, keyof typeof DATA_OPTIONS> {
  return optionsFromFlags(values, DATA_OPTIONS);
}
