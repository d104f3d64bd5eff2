/** Reading text data files (plain or gzip) with errors that name the file. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { quoteContent, showContent } from '../errors.js';
import { DataError } from './errors.js';

export function readText(file: string): string {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new DataError(
      file,
      'file',
      `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new DataError(
        file,
        'gzip stream',
        `cannot decompress (${(e as Error).message}): the file is truncated or corrupt`,
      );
    }
  }
  return buf.toString('utf8');
}

/** Non-empty lines with their 1-based line numbers. */
export function numberedLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  text.split(/\r?\n/).forEach((t, i) => {
    if (t.trim() !== '') out.push({ line: i + 1, text: t });
  });
  return out;
}

/** A finite number, or a DataError naming where. */
export function finite(cell: string, file: string, where: string): number {
  const v = Number(cell);
  if (cell.trim() === '' || Number.isNaN(v))
    throw new DataError(file, where, `expected a number, found ${quoteContent(cell)}`);
  if (!Number.isFinite(v))
    throw new DataError(file, where, `expected a finite number, found ${quoteContent(cell)}`);
  return v;
}

/** Labels are integers below this in magnitude (they are stored as int32). */
export const LABEL_LIMIT = 2 ** 31;

/** A class label: an integer in 0..2^31-1. */
export function classLabel(cell: string, file: string, where: string): number {
  const v = finite(cell, file, where);
  if (!Number.isInteger(v) || v < 0)
    throw new DataError(
      file,
      where,
      `expected a class label (an integer ≥ 0), found ${quoteContent(cell)}`,
    );
  if (v >= LABEL_LIMIT)
    throw new DataError(
      file,
      where,
      `class label ${showContent(cell)} out of range 0..${LABEL_LIMIT - 1}`,
    );
  return v;
}
