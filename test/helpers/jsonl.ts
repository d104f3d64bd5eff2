/** Reading the JSONL logs that `train --log` and the first-order baseline write. */
import { readFileSync } from 'node:fs';

/** The records of a JSONL file, one per line. */
export function readJsonl(path: string): Record<string, any>[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

/** The fields every iteration (or epoch) record has, Newton's and the baseline's alike. */
export const ITERATION_FIELDS = [
  'iter',
  'f',
  'gradNorm',
  'alpha',
  'lambda',
  'cgIters',
  'elapsedSeconds',
  'iterSeconds',
  'testAcc',
] as const;
