/** Piscina entry point of a compute worker: one ChunkService per thread. */
import { workerData } from 'piscina';
import { ChunkService } from '../src/coordinator/chunk-service.js';
import type { SharedSetup, Task, TaskResult } from '../src/coordinator/protocol.js';

const service = new ChunkService(workerData as SharedSetup);

export default function run(task: Task): Promise<TaskResult> {
  return service.run(task);
}
