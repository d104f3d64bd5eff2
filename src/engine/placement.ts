/**
 * Where a sticky chunk goes, written once for every transport with several workers: Gv
 * chunk k of a CG solve (or reduction group k: taskPosition) goes to worker k mod workers,
 * the workers taken in the order of their ids. So every CG step sends chunk k to the worker
 * that prepared its linearization at the first step (or in the f+∇f pass before it, which
 * sends the chunks it shares with S the same way), and no chunk is prepared (or held)
 * twice, while the workers stay the same.
 */

/**
 * Whether a task is sticky: a Gv chunk (its worker keeps the chunk's linearization through
 * the CG solve), and an f+grad chunk that prepares one for the next Gv pass (Task.gaussNewtonPrefix).
 */
export function isSticky(task: { kind: string; gaussNewtonPrefix?: number }): boolean {
  return task.kind === 'Gv' || task.gaussNewtonPrefix !== undefined;
}

/** A task's position in its pass, which placement goes by: its chunk, or its reduction group. */
export function taskPosition(task: { chunk: number; group?: number }): number {
  return Math.floor(task.chunk / (task.group ?? 1));
}

/** The worker of sticky chunk `chunk`: `workers` sorted by `id`, then chunk mod their count; null when there is none. */
export function stickyWorker<W>(
  chunk: number,
  workers: readonly W[],
  id: (w: W) => number | string,
): W | null {
  if (workers.length === 0) return null;
  const inOrder = [...workers].sort((a, b) => {
    const x = id(a);
    const y = id(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return inOrder[chunk % inOrder.length];
}
