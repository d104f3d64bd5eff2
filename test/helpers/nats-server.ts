/**
 * A real `nats-server` for the tests that need one: JetStream on, a temporary store and
 * config directory, a random loopback port chosen by the server itself (no race for a
 * free port), torn down with its directories by `stop()`.
 *
 * Tests needing NATS run when `nats-server` is on PATH and are left out otherwise, unless
 * TFJS_NEWTON_REQUIRE_NATS=1 (CI), where they run and fail on its absence.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REQUIRE_NATS = process.env.TFJS_NEWTON_REQUIRE_NATS === '1';

export interface NatsServerHandle {
  /** nats://127.0.0.1:PORT */
  url: string;
  port: number;
  /** the JetStream store directory */
  storeDir: string;
  /** SIGTERM, wait for the exit (SIGKILL after 5 s), remove the temporary directories; idempotent */
  stop(): Promise<void>;
  /** SIGKILL at once, for "the server goes away" tests (stop() still removes the directories) */
  kill(): void;
}

export interface NatsServerOptions {
  token?: string;
  user?: string;
  pass?: string;
  /** the server's max_payload, e.g. '8MB' (default: the server's own, 1 MB) */
  maxPayload?: string;
  /** false: a server without JetStream (default: with) */
  jetstream?: boolean;
  /** serve TLS only, with this certificate and key (PEM files) */
  tls?: { certFile: string; keyFile: string };
  /** listen on all addresses (for workers in other network namespaces), not loopback only */
  allAddresses?: boolean;
}

/** The `nats-server` binary on PATH, or null. */
export function natsServerPath(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const p = r.status === 0 ? r.stdout.trim() : '';
  return p === '' ? null : p;
}

/**
 * Whether the NATS tests run: `available` when `nats-server` is on PATH, and also when CI
 * requires them (TFJS_NEWTON_REQUIRE_NATS=1), so that they then fail instead of being
 * skipped. `why` says what is missing whenever the binary is.
 */
export function natsTestRule(): { available: boolean; why?: string; required: boolean } {
  if (natsServerPath() !== null) return { available: true, required: REQUIRE_NATS };
  const why = 'nats-server is not on PATH (Debian: apt-get install nats-server)';
  return { available: REQUIRE_NATS, why, required: REQUIRE_NATS };
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Last resort: no server outlives the test process, even when a test forgot stop(). */
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of running) p.kill('SIGKILL');
  });
}

/** A string in the server's config syntax. */
const q = (s: string) => JSON.stringify(s);

/** Starts a server and waits (at most `readyTimeoutMs`) until it accepts clients. */
export async function startNatsServer(
  o: NatsServerOptions = {},
  readyTimeoutMs = 15_000,
): Promise<NatsServerHandle> {
  const bin = natsServerPath();
  if (bin === null)
    throw new Error(
      'cannot start a NATS server for the tests: nats-server is not on PATH (Debian: apt-get install nats-server)',
    );
  if ((o.user === undefined) !== (o.pass === undefined))
    throw new Error('startNatsServer: give both user and pass, or neither');
  const dir = mkdtempSync(join(tmpdir(), 'nats-test-'));
  const storeDir = join(dir, 'jetstream');
  const lines = [o.allAddresses ? 'listen: "0.0.0.0:-1"' : 'listen: "127.0.0.1:-1"'];
  if (o.jetstream !== false) lines.push(`jetstream { store_dir: ${q(storeDir)} }`);
  if (o.maxPayload !== undefined) lines.push(`max_payload: ${o.maxPayload}`);
  if (o.tls !== undefined)
    lines.push(`tls { cert_file: ${q(o.tls.certFile)}, key_file: ${q(o.tls.keyFile)} }`);
  if (o.token !== undefined && o.user !== undefined)
    throw new Error('startNatsServer: token and user/pass are exclusive');
  if (o.token !== undefined) lines.push(`authorization { token: ${q(o.token)} }`);
  if (o.user !== undefined)
    lines.push(`authorization { user: ${q(o.user)}, password: ${q(o.pass!)} }`);
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, lines.join('\n') + '\n');

  installExitHook();
  const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(proc);
  let log = '';
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      running.delete(proc);
      resolve();
    }),
  );
  const cleanup = () => rmSync(dir, { recursive: true, force: true });

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `nats-server did not become ready within ${readyTimeoutMs} ms; its log:\n${log}`,
            ),
          ),
        readyTimeoutMs,
      );
      let found: number | null = null;
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (chunk: string) => {
        if (log.length < 64_000) log += chunk;
        const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
        if (m) found = Number(m[1]);
        if (found !== null && /Server is ready/.test(log)) {
          clearTimeout(timer);
          resolve(found);
        }
      });
      proc.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot start nats-server (${bin}): ${e.message}`));
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(`nats-server exited at start (${signal ?? `code ${code}`}); its log:\n${log}`),
        );
      });
    });
  } catch (e) {
    proc.kill('SIGKILL');
    await exited;
    cleanup();
    throw e;
  }
  // keep draining stderr so the server never blocks on a full pipe
  proc.stderr!.removeAllListeners('data');
  proc.stderr!.resume();

  let stopping: Promise<void> | null = null;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
    stop() {
      stopping ??= (async () => {
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill('SIGTERM');
          const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(t);
        }
        cleanup();
      })();
      return stopping;
    },
  };
}

/** A `tfjs-newton worker --nats URL` process (the built CLI in dist/), its output so far. */
export interface NatsWorkerProcess {
  proc: ChildProcess;
  output(): string;
  /** resolves when the process has exited */
  exited: Promise<void>;
}

const WORKER_CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

/**
 * Starts `tfjs-newton worker --nats URL` and waits until it serves (20 s at most); `via`
 * wraps the command (e.g. `ip netns exec NAME ...`, which execs it: the pid is the worker's).
 */
export async function startNatsWorker(
  url: string,
  extra: string[] = [],
  via: (argv: string[]) => [string, string[]] = ([cmd, ...args]) => [cmd, args],
): Promise<NatsWorkerProcess> {
  const [cmd, args] = via([process.execPath, WORKER_CLI, 'worker', '--nats', url, ...extra]);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const t0 = Date.now();
  while (!out.includes('serving runs')) {
    if (proc.exitCode !== null || Date.now() - t0 > 20_000) {
      proc.kill('SIGKILL');
      throw new Error(`the worker did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, output: () => out, exited };
}

/** Kills the workers (SIGKILL) and waits until every one has exited. */
export async function killNatsWorkers(ws: NatsWorkerProcess[]): Promise<void> {
  for (const w of ws) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  await Promise.all(ws.map((w) => w.exited));
}
