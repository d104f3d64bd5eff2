/**
 * An error meant for the person running tfjs-newton: the CLI prints its message as
 * one line, without a stack trace. Everything else is a bug and keeps its stack.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
