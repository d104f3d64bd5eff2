/**
 * Connecting to a NATS server: the command line's --nats* and --tls-* flags, their
 * mapping onto the client's connect options (token, user/password, creds file, nkey
 * seed, TLS files), and failures at start as one-line NatsConnectErrors that name the
 * server and say what to fix. A server that is down at start fails the connect within
 * `connectTimeoutMs`, with no reconnect attempts.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { credsAuthenticator, nkeyAuthenticator, type Authenticator } from '@nats-io/nats-core';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { UsageError } from '../../errors.js';
import { readFailure } from '../../paths.js';

export type { NatsConnection } from '@nats-io/transport-node';

export interface NatsOptions {
  /** nats://host:port, or several separated by commas */
  url: string;
  token?: string;
  user?: string;
  pass?: string;
  /** a .creds file (JWT and nkey seed), as `nsc` writes them */
  credsFile?: string;
  /** a file holding an nkey seed (SU...) */
  nkeySeedFile?: string;
  /** CA certificate(s) (PEM) to verify the server with */
  tlsCa?: string;
  /** client certificate (PEM), for servers that verify clients; needs tlsKey */
  tlsCert?: string;
  tlsKey?: string;
  /** the client's name in the server's monitoring pages */
  name?: string;
  /** ms to wait for the server at start (default 5000) */
  connectTimeoutMs?: number;
  /** further options for the client (reconnect policy, ping interval…), applied last */
  clientOptions?: Partial<NodeConnectionOptions>;
}

/** A NATS connection that could not be made, said in one line with what to fix. Shown like a UsageError. */
export class NatsConnectError extends UsageError {
  override name = 'NatsConnectError';
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const README_HINT = '(see README: Running on several machines)';

/** The flags `natsOptionsFromFlags` reads, for node:util parseArgs. */
/** How a run uses a NATS server: the connection, and what the coordinator does with it. */
export interface NatsRunOptions extends NatsOptions {
  /** how long a pass waits while no worker is there before it fails (default 60 000 ms) */
  waitForWorkersMs?: number;
  /**
   * false: the data sets are not uploaded (data that may not leave its machines); every
   * worker must then hold them locally (`tfjs-newton worker --data ...`), checked by digest
   */
  upload?: boolean;
  /** where the transport's few status lines go (default: stderr) */
  onStatus?: (line: string) => void;
}

export const NATS_FLAGS = {
  nats: { type: 'string' },
  'nats-token': { type: 'string' },
  'nats-user': { type: 'string' },
  'nats-pass': { type: 'string' },
  'nats-creds': { type: 'string' },
  'nats-nkey': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

/**
 * The NATS options given on the command line (parseArgs values, keys without dashes), or
 * null when there is no --nats and no other NATS flag. Secrets can also come from the
 * environment: NATS_TOKEN, NATS_USER, NATS_PASS (a flag wins).
 */
export function natsOptionsFromFlags(
  flags: Record<string, string | boolean | undefined>,
  env: Record<string, string | undefined> = process.env,
): NatsOptions | null {
  const str = (k: string): string | undefined => {
    const v = flags[k];
    if (v === undefined || v === false) return undefined;
    if (typeof v !== 'string' || v === '') throw new NatsConnectError(`--${k} expects a value`);
    return v;
  };
  const url = str('nats');
  const given = Object.keys(NATS_FLAGS).filter((k) => k !== 'nats' && str(k) !== undefined);
  if (url === undefined) {
    if (given.length > 0)
      throw new NatsConnectError(`--${given[0]} needs --nats URL (the NATS server to connect to)`);
    return null;
  }
  return {
    url,
    token: str('nats-token') ?? env.NATS_TOKEN,
    user: str('nats-user') ?? env.NATS_USER,
    pass: str('nats-pass') ?? env.NATS_PASS,
    credsFile: str('nats-creds'),
    nkeySeedFile: str('nats-nkey'),
    tlsCa: str('tls-ca'),
    tlsCert: str('tls-cert'),
    tlsKey: str('tls-key'),
  };
}

/** The servers of a --nats value; `host:port` alone means nats://host:port. */
export function natsServers(url: string): string[] {
  const servers = url
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (servers.length === 0)
    throw new NatsConnectError(
      `--nats expects a server URL such as nats://127.0.0.1:4222, got '${url}'`,
    );
  for (const s of servers) {
    const m = /^([a-z]+):\/\//i.exec(s);
    if (m && !['nats', 'tls'].includes(m[1].toLowerCase())) {
      throw new NatsConnectError(
        `the NATS server URL ${redact(s)} has scheme ${m[1]}: use nats://host:port (or tls://host:port)`,
      );
    }
  }
  return servers;
}

/** A URL as it may be shown: without a password in it. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^/@:]*):[^/@]*@/g, '$1:***@').replace(/(\/\/)([^/@:]+)@/g, '$1***@');
}

function readFlagFile(file: string, what: string, flag: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new NatsConnectError(`${file}: ${readFailure(e)}: the ${what} that ${flag} names`);
  }
}

/** The client's connect options for `o`; reads the creds, nkey and TLS files (errors name the file). */
export function natsConnectOptions(o: NatsOptions): NodeConnectionOptions {
  const servers = natsServers(o.url);
  const timeout = o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!(timeout > 0))
    throw new NatsConnectError(`the NATS connect timeout must be > 0 ms, got ${timeout}`);
  const opts: NodeConnectionOptions = {
    servers,
    timeout,
    waitOnFirstConnect: false,
    name: o.name ?? 'tfjs-newton',
  };

  if ((o.user === undefined) !== (o.pass === undefined)) {
    throw new NatsConnectError(
      o.user === undefined ? '--nats-pass needs --nats-user' : '--nats-user needs --nats-pass',
    );
  }
  const methods = [
    o.token !== undefined && '--nats-token',
    o.user !== undefined && '--nats-user/--nats-pass',
    o.credsFile !== undefined && '--nats-creds',
    o.nkeySeedFile !== undefined && '--nats-nkey',
  ].filter(Boolean);
  if (methods.length > 1)
    throw new NatsConnectError(
      `give one way to authenticate with the NATS server, not ${methods.join(' and ')}`,
    );
  if (o.token !== undefined) opts.token = o.token;
  if (o.user !== undefined) {
    opts.user = o.user;
    opts.pass = o.pass;
  }
  const auth: Authenticator[] = [];
  if (o.credsFile !== undefined) {
    const creds = readFlagFile(o.credsFile, 'NATS credentials file', '--nats-creds');
    const text = new TextDecoder().decode(creds);
    if (
      !/-----BEGIN NATS USER JWT-----/.test(text) ||
      !/-----BEGIN USER NKEY SEED-----/.test(text)
    ) {
      throw new NatsConnectError(
        `the NATS credentials file ${o.credsFile} (--nats-creds) holds no user JWT and nkey seed: expected a .creds file as nsc writes it`,
      );
    }
    auth.push(credsAuthenticator(creds));
  }
  if (o.nkeySeedFile !== undefined) {
    const raw = new TextDecoder().decode(
      readFlagFile(o.nkeySeedFile, 'nkey seed file', '--nats-nkey'),
    );
    const seed = /\bS[A-Z][A-Z2-7]{50,}\b/.exec(raw)?.[0];
    if (seed === undefined)
      throw new NatsConnectError(
        `the nkey seed file ${o.nkeySeedFile} (--nats-nkey) holds no nkey seed (a line starting with 'SU')`,
      );
    auth.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  if (auth.length > 0) opts.authenticator = auth;

  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) {
    throw new NatsConnectError(
      o.tlsCert === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key',
    );
  }
  const wantTls =
    servers.some((s) => /^tls:\/\//i.test(s)) || o.tlsCa !== undefined || o.tlsCert !== undefined;
  if (wantTls) {
    const pem = (file: string | undefined, what: string, flag: string) =>
      file === undefined ? undefined : new TextDecoder().decode(readFlagFile(file, what, flag));
    const tls: NonNullable<NodeConnectionOptions['tls']> = {};
    const ca = pem(o.tlsCa, 'CA certificate file', '--tls-ca');
    const cert = pem(o.tlsCert, 'client certificate file', '--tls-cert');
    const key = pem(o.tlsKey, 'client key file', '--tls-key');
    if (ca !== undefined) tls.ca = ca;
    if (cert !== undefined) tls.cert = cert;
    if (key !== undefined) tls.key = key;
    // the client verifies an IP-addressed server against 'localhost' (it sends no server
    // name for IPs): have node's check use the address given instead
    const ip = servers.length === 1 ? ipHost(servers[0]) : null;
    if (ip !== null) Object.assign(tls, { host: ip });
    opts.tls = tls;
  }
  return { ...opts, ...o.clientOptions };
}

/** The host of a server URL when it is an IP address, else null. */
function ipHost(server: string): string | null {
  try {
    const host = new URL(
      /^[a-z]+:\/\//i.test(server) ? server : `nats://${server}`,
    ).hostname.replace(/^\[|\]$/g, '');
    return isIP(host) !== 0 ? host : null;
  } catch {
    return null;
  }
}

const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/;

/** One line: the message of `e` with its whitespace collapsed. */
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/** A failure to connect to `url`, in the library's words. */
export function describeConnectError(
  e: unknown,
  o: NatsOptions,
  timeoutMs: number,
): NatsConnectError {
  const url = redact(o.url);
  const err = e as Error & { code?: string; cause?: { code?: string; message?: string } };
  const code = err?.code ?? err?.cause?.code;
  const msg = oneLine(err?.message ?? String(e));
  const hasAuth =
    o.token !== undefined ||
    o.user !== undefined ||
    o.credsFile !== undefined ||
    o.nkeySeedFile !== undefined;
  if (
    err?.name === 'AuthorizationError' ||
    /authorization violation|authentication (timeout|expired)/i.test(msg)
  ) {
    return hasAuth
      ? new NatsConnectError(
          `the NATS server at ${url} refused the credentials (${msg}): check --nats-token / --nats-user and --nats-pass / --nats-creds / --nats-nkey`,
        )
      : new NatsConnectError(
          `the NATS server at ${url} requires credentials (${msg}): give --nats-token, --nats-user and --nats-pass, --nats-creds or --nats-nkey`,
        );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new NatsConnectError(
      `cannot resolve the host of the NATS server ${url} (${code}): check the host name given to --nats`,
    );
  }
  if (
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    code === 'EPIPE'
  ) {
    return new NatsConnectError(
      `cannot reach the NATS server at ${url} (${code}): is nats-server running there, and is its port open to this machine? ${README_HINT}`,
    );
  }
  if (err?.name === 'TimeoutError' || err?.name === 'NatsConnectTimeout') {
    return new NatsConnectError(
      `no answer from the NATS server at ${url} within ${timeoutMs} ms: is nats-server running there, and is its port open to this machine? ${README_HINT}`,
    );
  }
  if ((code !== undefined && TLS_CODE.test(code)) || /\btls\b|ssl|certificate/i.test(msg)) {
    return new NatsConnectError(
      `the TLS connection to the NATS server at ${url} failed (${code ?? msg}${code !== undefined ? `: ${msg}` : ''}): check --tls-ca / --tls-cert / --tls-key and the server's tls settings`,
    );
  }
  return new NatsConnectError(`cannot connect to the NATS server at ${url}: ${msg} ${README_HINT}`);
}

/**
 * A connection to the NATS server(s) of `o`. Fails within `connectTimeoutMs` (default
 * 5 s) with a one-line NatsConnectError when the server is unreachable, refuses the
 * credentials or the TLS handshake fails. Once connected, the client reconnects on its
 * own (its defaults, unless `clientOptions` says otherwise).
 */
export async function connectNats(o: NatsOptions): Promise<NatsConnection> {
  const opts = natsConnectOptions(o);
  const timeoutMs = o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const pending = connect(opts);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = new Error('connect timed out');
      e.name = 'NatsConnectTimeout';
      reject(e);
    }, timeoutMs);
  });
  try {
    return await Promise.race([pending, deadline]);
  } catch (e) {
    // a connection that arrives after the deadline is closed, not leaked
    pending.then((nc) => nc.close()).catch(() => {});
    throw describeConnectError(e, o, timeoutMs);
  } finally {
    clearTimeout(timer);
  }
}
