/** Plain-text tables of the benchmarks: left-aligned label columns, right-aligned numbers. */

/** `head` and `body` as lines, the first `labels` columns padded right, the rest left. */
export function textTable(head: string[], body: string[][], labels: number): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) =>
    c.map((s, i) => (i < labels ? s.padEnd(w[i]) : s.padStart(w[i]))).join('  ');
  return [line(head), ...body.map(line)];
}

/** A share (0..1) as a percentage with one decimal, as the reports print it. */
export const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;
