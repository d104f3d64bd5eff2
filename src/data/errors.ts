import { UsageError } from '../errors.js';

/** Bad input data: names the file, where in it, and what was expected. */
export class DataError extends UsageError {
  override name = 'DataError';
  constructor(
    readonly file: string,
    readonly where: string,
    readonly problem: string,
  ) {
    super(`${file}: ${where}: ${problem}`);
  }
}
