/** Piscina entry point of a compute worker: one ChunkService per thread. */
import { workerData } from 'piscina';
import { ChunkService } from '../src/coordinator/chunk-service.js';
import type { SharedSetup, Task, TaskResult } from '../src/coordinator/protocol.js';

const service = new ChunkService(workerData as SharedSetup);

export default async function run(task: Task): Promise<TaskResult> {
  // The pool sends each worker its next task while the current one runs. Both start as
  // microtasks; yielding to the event loop first lets the running task's result be
  // posted before the next one computes.
  await new Promise(setImmediate);
  return service.run(task);
}
