/** Number options of the CLI, parsed with a one-line error for bad values. */
import { UsageError } from '../errors.js';

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
