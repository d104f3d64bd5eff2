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

/** The flags that say which data set a run loads (train, worker), for node:util parseArgs. */
export const DATA_FLAGS = {
  data: { type: 'string' },
  'data-dir': { type: 'string' },
  test: { type: 'string' },
  val: { type: 'string' },
  'val-split': { type: 'string' },
  'label-col': { type: 'string' },
  shape: { type: 'string' },
  scale: { type: 'string' },
} as const;

/** The data options of DATA_FLAGS' values, numbers parsed with one-line errors. */
export function dataOptionsFromFlags(values: Partial<Record<keyof typeof DATA_FLAGS, string>>) {
  return {
    data: values.data,
    dataDir: values['data-dir'],
    test: values.test,
    val: values.val,
    valSplit: num(values['val-split'], '--val-split', { min: 0, max: 1 }),
    labelCol: values['label-col'],
    shape: values.shape?.split(',').map((v) => num(v, '--shape', { int: true, min: 1 })!),
    scale: num(values.scale, '--scale', { min: Number.MIN_VALUE }),
  };
}
