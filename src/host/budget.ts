/**
 * The host-wide budget of compute threads: the trainings `startTraining` starts in one
 * process share `cap` threads (default: the machine's available parallelism). A training
 * gets, when it starts, as many as are free up to what it asks, or waits its turn in start
 * order; it gives them back when it has ended (see src/host/start.ts).
 */
import { availableParallelism } from 'node:os';

/** How many compute threads the trainings of this process may use, and use. */
export interface ComputeWorkerUsage {
  cap: number;
  /** compute threads granted to running trainings */
  inUse: number;
  /** trainings waiting for a compute thread */
  waiting: number;
}

/** The host-wide budget of compute threads (see the module comment). */
class ComputeBudget {
  cap = availableParallelism();
  inUse = 0;
  private readonly queue: { want: number; grant: (n: number) => void }[] = [];

  /** Resolves with the slots granted (1..want), or 0 if `signal` aborts while waiting. */
  acquire(want: number, signal: AbortSignal): Promise<number> {
    return new Promise((resolve) => {
      const entry = {
        want,
        grant: (n: number) => {
          signal.removeEventListener('abort', onAbort);
          resolve(n);
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(entry);
        if (i < 0) return;
        this.queue.splice(i, 1);
        entry.grant(0);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
      this.drain();
      if (signal.aborted) onAbort();
    });
  }

  release(n: number): void {
    this.inUse -= n;
    this.drain();
  }

  drain(): void {
    while (this.queue.length > 0 && this.inUse < this.cap) {
      const e = this.queue.shift()!;
      const n = Math.min(e.want, this.cap - this.inUse);
      this.inUse += n;
      e.grant(n);
    }
  }

  get usage(): ComputeWorkerUsage {
    return { cap: this.cap, inUse: this.inUse, waiting: this.queue.length };
  }
}

/** The one budget of this process. */
export const budget = new ComputeBudget();

/**
 * Sets the host-wide cap on compute threads (an integer ≥ 1). Trainings already running
 * keep what they have; waiting ones start as the new cap allows.
 */
export function setComputeWorkerCap(cap: number): void {
  if (!Number.isInteger(cap) || cap < 1)
    throw new RangeError(`the compute worker cap must be an integer ≥ 1, got ${cap}`);
  budget.cap = cap;
  budget.drain();
}

/** The host-wide compute budget: its cap, the threads in use, the trainings waiting. */
export function computeWorkerUsage(): ComputeWorkerUsage {
  return budget.usage;
}
