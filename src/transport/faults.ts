/**
 * The testing hook that makes workers fail on purpose (FaultPlan, src/engine/task.ts),
 * kept out of the public options: a test passes it to `train()` under the `FAULTS`
 * symbol, which no option schema, flag or documented type names.
 */
import type { FaultPlan } from '../engine/task.js';

export const FAULTS: unique symbol = Symbol.for('tfjs-newton.faults');

/** Options with a fault plan attached (tests only). */
export function withFaults<T extends object>(options: T, plan: FaultPlan): T {
  return { ...options, [FAULTS]: plan };
}

/** The fault plan attached to options, if any. */
export function faultsOf(options: object): FaultPlan | undefined {
  return (options as { [FAULTS]?: FaultPlan })[FAULTS];
}
