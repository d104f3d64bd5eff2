/**
 * A one-line progress bar on a terminal, redrawn in place; nothing when the stream is not
 * a TTY (logs and pipes get only the per-iteration lines).
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
