/**
 * An error meant for the person running tfjs-newton: the CLI prints its message as
 * one line, without a stack trace. Everything else is a bug and keeps its stack.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A run that had to stop (a pool chunk failing again and again, say): the message says
 * why and where the last good state was written. Shown like a UsageError, as one line.
 */
export class RunError extends UsageError {
  override name = 'RunError';
}

/**
 * A computation stopped on request (an aborted AbortSignal, Ctrl-C): not a failure. Passes
 * of an aborted problem reject with it; `cause` is the abort's reason.
 */
export class AbortError extends Error {
  override name = 'AbortError';
  constructor(reason?: unknown) {
    super('the computation was aborted', { cause: reason });
  }
}
