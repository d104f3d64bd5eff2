/**
 * The transports by name: one unit per transport (unit.ts), a line each below. A new
 * transport is its unit, its test and its line here, or `registerTransport(unit)` from
 * outside; a run opens it by name (`openProblem`), and the pass engine over it is the same
 * for every transport (so is the trajectory, bit for bit).
 */
import { PassEngine } from '../engine/engine.js';
import type { Transport } from '../engine/transport.js';
import { UsageError } from '../errors.js';
import { inProcess } from './in-process.js';
import { nats } from './nats/coordinator.js';
import { threads } from './threads.js';
import {
  engineOptionsOf,
  type TransportOptions,
  type TransportSetup,
  type TransportUnit,
} from './unit.js';

export type { TransportOptions, TransportSetup, TransportUnit } from './unit.js';

const units = new Map<string, TransportUnit>();

/** Adds a transport under its name; a name already taken is refused. */
export function registerTransport(unit: TransportUnit): void {
  if (typeof unit.name !== 'string' || unit.name === '')
    throw new TypeError('registerTransport: a transport needs a name');
  if (units.has(unit.name))
    throw new Error(`registerTransport: a transport named '${unit.name}' is already registered`);
  units.set(unit.name, unit);
}

registerTransport(inProcess);
registerTransport(threads);
registerTransport(nats);

/** The registered names, in the order of registration (the built-in ones first). */
export function transportNames(): readonly string[] {
  return [...units.keys()];
}

/** The unit of a name; an unknown name is a UsageError listing the registered ones. */
export function transportUnit(name: string): TransportUnit {
  const unit = units.get(name);
  if (unit) return unit;
  const names = transportNames();
  const list =
    names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
  throw new UsageError(
    `unknown transport '${name}': use ${list} (or register one with registerTransport)`,
  );
}

/** Opens the transport of that name (an unknown one rejects); the caller closes it. */
export async function openTransport(
  name: string,
  setup: TransportSetup,
  options: TransportOptions,
): Promise<Transport> {
  return transportUnit(name).open(setup, options);
}

/**
 * The pass engine (GaussNewtonProblem and Evaluation) over the transport of that name:
 * bsize and the held-out sets are checked before the transport opens. `close()` frees it.
 */
export async function openProblem(
  name: string,
  setup: TransportSetup,
  options: TransportOptions,
): Promise<PassEngine> {
  const unit = transportUnit(name);
  const engine = engineOptionsOf(setup);
  const transport = await unit.open(setup, options);
  try {
    return new PassEngine(transport, engine);
  } catch (e) {
    await transport.close();
    throw e;
  }
}
