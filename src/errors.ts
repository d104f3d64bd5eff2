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

/** What cannot be shown as itself in a one-line message. */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeNonPrintable(text: string): string {
  return text.replace(NON_PRINTABLE, (c) => {
    const code = c.codePointAt(0) as number;
    if (NAMED[c]) return NAMED[c];
    if (code < 0x100) return `\\x${code.toString(16).padStart(2, '0')}`;
    if (code < 0x10000) return `\\u${code.toString(16).padStart(4, '0')}`;
    return `\\u{${code.toString(16)}}`;
  });
}

/** The first `max` characters (code points) of text, and whether it was longer. */
function cut(text: string, max: number): { head: string; more: boolean } {
  const chars = Array.from(text);
  return chars.length > max
    ? { head: chars.slice(0, max).join(''), more: true }
    : { head: text, more: false };
}

/**
 * File content (or any text read from outside: a CSV cell, a model.json string, a message
 * frame) as a message shows it: in single quotes, on one line, with control and other
 * non-printable characters escaped (`\n`, `\t`, `\x00`, `\u200b`, ...; a backslash as `\\`),
 * cut after `max` characters (then followed by `…`). Printable non-ASCII text stays as is.
 */
export function quoteContent(text: string, max = 60): string {
  const { head, more } = cut(text, max);
  return `'${escapeContent(head)}'${more ? '…' : ''}`;
}

/** The same without the quotes, for content shown bare (a number, a column or type name). */
export function showContent(text: string, max = 60): string {
  const { head, more } = cut(text, max);
  return escapeContent(head) + (more ? '…' : '');
}

const escapeContent = (text: string) => escapeNonPrintable(text.replace(/\\/g, '\\\\'));

/**
 * An error's message as one printable line, cut after `max` characters: for messages that
 * may quote the input they failed on (JSON.parse's quotes the text it was given).
 */
export function errorLine(e: unknown, max = 160): string {
  const { head, more } = cut(String((e as Error)?.message ?? e), max);
  return escapeNonPrintable(head) + (more ? '…' : '');
}
