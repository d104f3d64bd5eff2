/** Piscina entry point of a compute worker: one ChunkService per thread. */
import { Piscina, workerData } from 'piscina';
import { ChunkService } from '../src/coordinator/chunk-service.js';
import type { SharedSetup, Task, TaskResult } from '../src/coordinator/protocol.js';

const service = new ChunkService(workerData as SharedSetup);

/** Moves the result's vector back (no copy) when it owns its whole buffer. */
function movable(r: TaskResult): TaskResult {
  const v = r.vector;
  if (!v || v.byteOffset !== 0 || v.byteLength !== v.buffer.byteLength) return r;
  return Piscina.move({ [Piscina.transferableSymbol]: [v.buffer], [Piscina.valueSymbol]: r } as never) as unknown as TaskResult;
}

export default async function run(task: Task): Promise<TaskResult> {
  return movable(await service.run(task));
}
