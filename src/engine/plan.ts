/**
 * The chunk plan of every pass, written once: what chunk k of a pass is. f and ∇f (and
 * accuracy) run over consecutive ranges of `bsize` samples of a data set; a Gauss-Newton
 * product runs over consecutive pieces of `bsize` indices of the subset S. The engine,
 * every transport and every worker ask this module, so a chunk means the same rows
 * everywhere, and the reduction in chunk order gives the same bits whoever computed it.
 */

import type { Rows } from '../data/dataset.js';

/** Checks a chunk size; a bad one would split a pass into no chunk or infinitely many. */
export function checkBsize(bsize: number): number {
  if (!Number.isInteger(bsize) || bsize < 1) {
    throw new RangeError(`bsize (samples per chunk) must be a positive integer, got ${bsize}`);
  }
  return bsize;
}

/** The number of chunks of a pass over `n` rows. */
export function chunkCount(n: number, bsize: number): number {
  return Math.ceil(n / checkBsize(bsize));
}

/** Chunk k of a pass over samples 0..n−1: samples k·bsize .. min(n, (k+1)·bsize) − 1. */
export function rangeChunk(k: number, n: number, bsize: number): { start: number; end: number } {
  return { start: k * bsize, end: Math.min(n, (k + 1) * bsize) };
}

/** Chunk k of a pass over a subset (sample indices): its k-th piece of bsize indices (a view). */
export function subsetChunk(k: number, subset: Int32Array, bsize: number): Int32Array {
  return subset.subarray(k * bsize, Math.min(subset.length, (k + 1) * bsize));
}

/** All chunks of a pass over samples 0..n−1. */
export function rangeChunks(n: number, bsize: number): Rows[] {
  return Array.from({ length: chunkCount(n, bsize) }, (_, k) => rangeChunk(k, n, bsize));
}

/** All chunks of a pass over a subset, each a copy of its indices. */
export function listChunks(subset: Int32Array, bsize: number): Rows[] {
  return Array.from({ length: chunkCount(subset.length, bsize) }, (_, k) =>
    subsetChunk(k, subset, bsize).slice(),
  );
}

/**
 * How many leading chunks a pass over the first m indices of a subset shares with a pass
 * over all n of them (the same rows): its full chunks, and its last one too when m = n.
 * Chunk k of both is subsetChunk(k, ·, bsize), so they differ only where the shorter pass
 * ends inside a chunk.
 */
export function sharedChunks(n: number, m: number, bsize: number): number {
  return m >= n ? chunkCount(n, bsize) : Math.floor(m / checkBsize(bsize));
}
