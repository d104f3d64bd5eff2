/**
 * What a NATS coordinator and its worker processes say to each other: the subjects (all
 * under `tfjs-newton.`, a run's own ones named by its run id) and the messages, each a
 * frame (frames.ts) whose meta says its type; large bodies (θ, v, results) go in parts of
 * at most the server's max payload. Every message a side receives is checked here before
 * it is acted on: a malformed one is rejected with the reason, never acted on halfway.
 *
 * - `tfjs-newton.presence`        worker → all: `hello` (its id and threads), every second
 * - `tfjs-newton.discover`        coordinator → all: say hello now
 * - `tfjs-newton.w.<worker id>`   coordinator → one worker: setup, tasks, end
 * - `tfjs-newton.b.<run id>`      coordinator → every worker set up for the run: state parts
 *                                 (θ, S, v), published once whatever the number of workers
 * - `tfjs-newton.r.<run id>`      worker → the run's coordinator: ready, result parts, failures
 * - `tfjs-newton.c.<run id>`      request/reply: is the run's coordinator still there?
 */
import type { GvMethod } from '../../autodiff/evaluator.js';
import type { BackendName } from '../../backend/select.js';
import type { EvalSetName } from '../../engine/evaluation.js';
import type { Task, TaskKind } from '../../engine/task.js';
import { isLoss, type LossKind } from '../../model/loss.js';
import type { ModelSpec } from '../../model/spec.js';
import { MessageError } from './frames.js';

export const PREFIX = 'tfjs-newton';
export const SUBJECTS = {
  presence: `${PREFIX}.presence`,
  discover: `${PREFIX}.discover`,
  worker: (wid: string) => `${PREFIX}.w.${wid}`,
  state: (rid: string) => `${PREFIX}.b.${rid}`,
  results: (rid: string) => `${PREFIX}.r.${rid}`,
  coordinator: (rid: string) => `${PREFIX}.c.${rid}`,
};

/** A worker says hello this often; one not heard from for HEARTBEAT_MS × 4 is taken for gone. */
export const HEARTBEAT_MS = 1000;
export const WORKER_TIMEOUT_MS = 4 * HEARTBEAT_MS;

/** Ids are what subjects are made of: letters, digits, '-' and '_' only. */
const ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface Hello {
  type: 'hello';
  wid: string;
  threads: number;
}

/** Everything a worker needs to compute a run's chunks. */
export interface Setup {
  type: 'setup';
  rid: string;
  spec: ModelSpec;
  loss: LossKind;
  backend: BackendName;
  gv: GvMethod;
  bsize: number;
  dim: number;
  /** data sets by content digest (datastore.ts) */
  data: string;
  evalSets: Partial<Record<EvalSetName, string>>;
}

export type StateName = 'theta' | 'evalTheta' | 'subset' | 'v';

export interface StatePart {
  type: 'state';
  rid: string;
  what: StateName;
  version: number;
  part: number;
  parts: number;
  total: number;
}

export interface TaskMessage {
  type: 'task';
  rid: string;
  /** the coordinator's id of this attempt */
  id: number;
  task: Task;
}

export interface End {
  type: 'end';
  rid: string;
}

export type ToWorker = Setup | StatePart | TaskMessage | End;

/** The state versions a task computes on: what a worker must hold before it runs it. */
export function stateNeeds(task: Task): [StateName, number][] {
  if (task.kind === 'accuracy') return [['evalTheta', task.thetaVersion]];
  if (task.kind === 'Gv')
    return [
      ['theta', task.thetaVersion],
      ['subset', task.subsetVersion!],
      ['v', task.vVersion!],
    ];
  // f+grad and f over a sample name its subset too
  if (task.subsetVersion !== undefined)
    return [
      ['theta', task.thetaVersion],
      ['subset', task.subsetVersion],
    ];
  return [['theta', task.thetaVersion]];
}

export interface Ready {
  type: 'ready';
  rid: string;
  wid: string;
}

export interface SetupFailed {
  type: 'setupFailed';
  rid: string;
  wid: string;
  message: string;
}

export interface ResultPart {
  type: 'result';
  rid: string;
  wid: string;
  id: number;
  /** a number, or 'NaN' / 'Infinity' / '-Infinity' (JSON has none of them): see scalarOf */
  scalar: number | string;
  start: number;
  end: number;
  /** vector parts (0 parts: no vector) */
  part: number;
  parts: number;
  total: number;
}

export interface Failed {
  type: 'failed';
  rid: string;
  wid: string;
  id: number;
  message: string;
}

export type ToCoordinator = Ready | SetupFailed | ResultPart | Failed;

const TASK_KINDS: readonly TaskKind[] = ['f+grad', 'f', 'Gv', 'accuracy'];
const STATES: readonly StateName[] = ['theta', 'evalTheta', 'subset', 'v'];

function fail(what: string): never {
  throw new MessageError(what);
}

const isInt = (x: unknown, min = 0): x is number => Number.isInteger(x) && (x as number) >= min;
const isId = (x: unknown): x is string => typeof x === 'string' && ID.test(x);

function need(ok: boolean, type: string, field: string, value: unknown): void {
  if (!ok) fail(`bad ${type} message: ${field} is ${JSON.stringify(value)?.slice(0, 60)}`);
}

/** A new id for a run or a worker: fits a subject token. */
export function newId(prefix: string): string {
  const rand = Math.random().toString(36).slice(2, 10);
  return `${prefix}-${Date.now().toString(36)}-${rand}`
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 64);
}

export function checkHello(m: Record<string, unknown>): Hello {
  need(m.type === 'hello', 'hello', 'type', m.type);
  need(isId(m.wid), 'hello', 'wid', m.wid);
  need(isInt(m.threads, 1) && (m.threads as number) <= 1024, 'hello', 'threads', m.threads);
  return m as unknown as Hello;
}

function checkPart(m: Record<string, unknown>, type: string): void {
  need(isInt(m.parts, 0) && (m.parts as number) <= 1 << 16, type, 'parts', m.parts);
  need(
    isInt(m.part, 0) && ((m.parts as number) === 0 || (m.part as number) < (m.parts as number)),
    type,
    'part',
    m.part,
  );
  need(isInt(m.total, 0), type, 'total', m.total);
}

function checkTask(t: unknown): Task {
  need(t !== null && typeof t === 'object', 'task', 'task', t);
  const k = t as Record<string, unknown>;
  need(TASK_KINDS.includes(k.kind as TaskKind), 'task', 'task.kind', k.kind);
  for (const f of ['chunk', 'thetaVersion', 'slot', 'attempt'] as const)
    need(isInt(k[f]), 'task', `task.${f}`, k[f]);
  if (k.kind === 'Gv')
    for (const f of ['subsetVersion', 'subsetLength', 'vVersion'] as const)
      need(isInt(k[f]), 'task', `task.${f}`, k[f]);
  // f+grad and f over a sample: its subset's version and length, both or neither
  if ((k.kind === 'f+grad' || k.kind === 'f') && (k.subsetVersion ?? k.subsetLength) !== undefined)
    for (const f of ['subsetVersion', 'subsetLength'] as const)
      need(isInt(k[f]), 'task', `task.${f}`, k[f]);
  // f+grad over a sample that prepares the next Gv pass: that pass's length, within the sample
  if (k.gaussNewtonPrefix !== undefined)
    need(
      k.kind === 'f+grad' &&
        isInt(k.subsetLength) &&
        isInt(k.gaussNewtonPrefix, 1) &&
        (k.gaussNewtonPrefix as number) <= (k.subsetLength as number),
      'task',
      'task.gaussNewtonPrefix',
      k.gaussNewtonPrefix,
    );
  if (k.kind === 'accuracy') need(k.set === 'test' || k.set === 'val', 'task', 'task.set', k.set);
  if (k.group !== undefined) {
    need(isInt(k.group, 1) && (k.group as number) <= 1 << 16, 'task', 'task.group', k.group);
    need((k.chunk as number) % (k.group as number) === 0, 'task', 'task.chunk', k.chunk);
  }
  return k as unknown as Task;
}

/** A message to a worker, checked (MessageError with the reason otherwise). */
export function checkToWorker(m: Record<string, unknown>): ToWorker {
  need(isId(m.rid), String(m.type), 'rid', m.rid);
  switch (m.type) {
    case 'setup':
      need(m.spec !== null && typeof m.spec === 'object', 'setup', 'spec', m.spec);
      need(isLoss(m.loss), 'setup', 'loss', m.loss);
      need(
        ['wasm', 'cpu', 'tensorflow'].includes(m.backend as string),
        'setup',
        'backend',
        m.backend,
      );
      need(m.gv === 'linearized' || m.gv === 'double-vjp', 'setup', 'gv', m.gv);
      need(isInt(m.bsize, 1), 'setup', 'bsize', m.bsize);
      need(isInt(m.dim, 1), 'setup', 'dim', m.dim);
      need(typeof m.data === 'string' && m.data.startsWith('sha256:'), 'setup', 'data', m.data);
      need(m.evalSets !== null && typeof m.evalSets === 'object', 'setup', 'evalSets', m.evalSets);
      return m as unknown as Setup;
    case 'state':
      need(STATES.includes(m.what as StateName), 'state', 'what', m.what);
      need(isInt(m.version, 1), 'state', 'version', m.version);
      checkPart(m, 'state');
      need((m.parts as number) >= 1, 'state', 'parts', m.parts);
      return m as unknown as StatePart;
    case 'task':
      need(isInt(m.id), 'task', 'id', m.id);
      checkTask(m.task);
      return m as unknown as TaskMessage;
    case 'end':
      return m as unknown as End;
    default:
      return fail(`unknown message type ${JSON.stringify(m.type)?.slice(0, 40)}`);
  }
}

/** A message to a coordinator, checked (MessageError with the reason otherwise). */
export function checkToCoordinator(m: Record<string, unknown>): ToCoordinator {
  need(isId(m.rid), String(m.type), 'rid', m.rid);
  need(isId(m.wid), String(m.type), 'wid', m.wid);
  switch (m.type) {
    case 'ready':
      return m as unknown as Ready;
    case 'setupFailed':
    case 'failed':
      need(typeof m.message === 'string', m.type, 'message', m.message);
      if (m.type === 'failed') need(isInt(m.id), 'failed', 'id', m.id);
      return m as unknown as SetupFailed | Failed;
    case 'result':
      need(isInt(m.id), 'result', 'id', m.id);
      need(
        typeof m.scalar === 'number' ||
          ['NaN', 'Infinity', '-Infinity'].includes(m.scalar as string),
        'result',
        'scalar',
        m.scalar,
      );
      need(typeof m.start === 'number' && typeof m.end === 'number', 'result', 'start/end', [
        m.start,
        m.end,
      ]);
      checkPart(m, 'result');
      return m as unknown as ResultPart;
    default:
      return fail(`unknown message type ${JSON.stringify(m.type)?.slice(0, 40)}`);
  }
}

/** A scalar as JSON carries it exactly (a float64 prints with all its bits; the non-finite as strings). */
export function scalarToJson(x: number): number | string {
  return Number.isFinite(x) ? x : String(x);
}

export function scalarOf(x: number | string): number {
  return typeof x === 'number' ? x : Number(x);
}
