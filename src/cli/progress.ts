/**
 * A one-line progress bar on a terminal, redrawn in place; nothing when the stream is not
 * a TTY (logs and pipes get only the per-iteration lines). And how the per-iteration lines
 * and `eval` show the held-out metrics of real-valued targets.
 */
import type { ProgressFn } from '../solver/problem.js';

export class ProgressBar {
  private shown = false;
  private last = 0;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  readonly update: ProgressFn = (pass, done, total) => {
    if (!this.enabled) return;
    const now = performance.now();
    if (done < total && now - this.last < 100) return; // at most 10 redraws a second
    this.last = now;
    const width = 30;
    const full = Math.round((width * done) / total);
    this.stream.write(
      `\r  ${pass.padEnd(6)} [${'#'.repeat(full)}${' '.repeat(width - full)}] ${done}/${total}\x1b[K`,
    );
    this.shown = true;
  };

  /** Erases the bar before a normal line is printed. */
  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}

/**
 * RMSE and R² of a set of real-valued targets as the iteration lines, the summary and
 * `eval` print them: `RMSE 1.234 R² 0.9121` (R² n/a for constant targets).
 */
export function formatRegression(rmse: number, r2: number): string {
  return `RMSE ${rmse.toPrecision(4)} R² ${Number.isNaN(r2) ? 'n/a' : r2.toFixed(4)}`;
}
