/**
 * Worker "machines" that are not this machine's loopback: each is a Linux network
 * namespace of its own, joined to this one by a veth link (host side 10.213.k.1, worker
 * side 10.213.k.2), optionally with a `tc netem` delay on both ends. What crosses the link
 * goes through the kernel's network stack as between two hosts: TCP, the veth device and
 * its queue, not the loopback shortcut. Made and removed by the benchmark or test that
 * uses them (root and iproute2's `ip` needed; netem needs the kernel's sch_netem, which
 * some kernels lack: then the link has no added delay, and `delay` says why).
 */
import { spawnSync } from 'node:child_process';
import { UsageError } from '../errors.js';

export interface NetnsHost {
  /** the namespace's name (`ip netns exec NAME ...`) */
  namespace: string;
  /** this machine's end of the link: the worker reaches the server here */
  hostAddress: string;
  /** the worker's end */
  workerAddress: string;
}

export interface NetnsHosts {
  hosts: NetnsHost[];
  /** the delay added on each end of every link (ms), 0 when none */
  delayMs: number;
  /** why the asked-for delay is not there (the kernel has no netem), else absent */
  delayUnavailable?: string;
  /** round-trip time over the first link to the NATS server, ms (measureRtt; NaN before) */
  rttMs: number;
  /** Measures rttMs: NATS PINGs from the first namespace to the server's `port` on this side. */
  measureRtt(port: number): number;
  /** one line for tables: the link and its measured round trip */
  describe(): string;
  /** the command that runs `argv` on host k: ['ip', ['netns', 'exec', NAME, ...argv]] */
  command(k: number, argv: string[]): [string, string[]];
  /** Removes the namespaces and links (idempotent; also at exit). */
  close(): void;
}

function ip(args: string[], what: string): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new UsageError(`cannot run 'ip' (iproute2) to ${what}: ${r.error.message}`);
  if (r.status !== 0)
    throw new UsageError(`'ip ${args.join(' ')}' failed (${what}): ${r.stderr.trim()}`);
}

/** Whether this process may make namespaces: root and `ip` on PATH; else why not. */
export function netnsAvailable(): { ok: true } | { ok: false; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: 'network namespaces are Linux' };
  if (process.getuid?.() !== 0) return { ok: false, why: 'making network namespaces needs root' };
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    return {
      ok: false,
      why: "iproute2's 'ip netns' is not available (Debian: apt-get install iproute2)",
    };
  return { ok: true };
}

const open = new Set<NetnsHosts>();
let exitHook = false;

/**
 * `count` worker hosts, each its own namespace and veth link (addresses 10.213.k.1/.2 for
 * k = 1..count), with `delayMs` of netem delay on both ends of each link when the kernel
 * has netem. Throws a UsageError when namespaces cannot be made here.
 */
export function openNetnsHosts(count: number, opts: { delayMs?: number } = {}): NetnsHosts {
  const can = netnsAvailable();
  if (!can.ok) throw new UsageError(`cannot make worker hosts in network namespaces: ${can.why}`);
  if (!Number.isInteger(count) || count < 1 || count > 200)
    throw new RangeError(`netns hosts: between 1 and 200, got ${count}`);
  const tag = `tfjn${process.pid % 100000}`;
  const hosts: NetnsHost[] = [];
  const links: string[] = [];
  const close = () => {
    for (const l of links) spawnSync('ip', ['link', 'del', l]);
    for (const h of hosts) spawnSync('ip', ['netns', 'del', h.namespace]);
    links.length = 0;
    hosts.length = 0;
    open.delete(handle);
  };
  const delayMs = opts.delayMs ?? 0;
  const handle: NetnsHosts = {
    hosts,
    delayMs: 0,
    rttMs: NaN,
    describe() {
      const delay =
        this.delayMs > 0
          ? `, netem ${this.delayMs} ms each way`
          : this.delayUnavailable
            ? ` (no delay added: ${this.delayUnavailable})`
            : '';
      return `veth between network namespaces${delay}, round trip ${this.rttMs.toFixed(3)} ms`;
    },
    command: (k, argv) => ['ip', ['netns', 'exec', hosts[k].namespace, ...argv]],
    measureRtt(port) {
      return (this.rttMs = natsRttMs(hosts[0], port));
    },
    close,
  };
  open.add(handle);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => [...open].forEach((h) => h.close()));
  }
  try {
    for (let k = 1; k <= count; k++) {
      const ns = `${tag}-${k}`;
      const outer = `${tag}h${k}`.slice(0, 15);
      const inner = `${tag}w${k}`.slice(0, 15);
      const h = { namespace: ns, hostAddress: `10.213.${k}.1`, workerAddress: `10.213.${k}.2` };
      ip(['netns', 'add', ns], `make namespace ${ns}`);
      hosts.push(h);
      ip(['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner], 'make a veth link');
      links.push(outer);
      ip(['link', 'set', inner, 'netns', ns], 'move the link into its namespace');
      ip(['addr', 'add', `${h.hostAddress}/24`, 'dev', outer], 'address the link');
      ip(['link', 'set', outer, 'up'], 'bring the link up');
      const inNs = (args: string[], what: string) => ip(['netns', 'exec', ns, 'ip', ...args], what);
      inNs(['addr', 'add', `${h.workerAddress}/24`, 'dev', inner], 'address the link');
      inNs(['link', 'set', inner, 'up'], 'bring the link up');
      inNs(['link', 'set', 'lo', 'up'], 'bring loopback up');
      if (delayMs > 0 && handle.delayUnavailable === undefined) {
        const tc = (args: string[]) => spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
        const d = `${delayMs}ms`;
        const a = tc(['tc', 'qdisc', 'add', 'dev', outer, 'root', 'netem', 'delay', d]);
        const b = tc([
          'ip',
          'netns',
          'exec',
          ns,
          'tc',
          'qdisc',
          'add',
          'dev',
          inner,
          'root',
          'netem',
          'delay',
          d,
        ]);
        const failed = [a, b].find((r) => r.error || r.status !== 0);
        if (failed)
          handle.delayUnavailable = `tc netem: ${(failed.stderr || String(failed.error)).trim()}`;
        else handle.delayMs = delayMs;
      }
    }
  } catch (e) {
    close();
    throw e;
  }
  return handle;
}

/**
 * The median round trip of 7 NATS PINGs from the worker side of host `k` to the server at
 * port `port` on the host side, ms (a node process in the namespace; NaN if it fails).
 */
function natsRttMs(h: NetnsHost, port: number): number {
  const script = `
const s = require('net').connect(${port}, '${h.hostAddress}');
let buf = '', t0 = -1; const times = [];
const ping = () => { t0 = performance.now(); s.write('PING\\r\\n'); };
s.on('data', (d) => {
  buf += d;
  if (t0 < 0 && buf.includes('INFO')) { buf = ''; s.write('CONNECT {"verbose":false}\\r\\n'); ping(); }
  else if (buf.includes('PONG')) {
    times.push(performance.now() - t0); buf = '';
    if (times.length < 7) ping(); else { console.log(JSON.stringify(times)); s.end(); }
  }
});
setTimeout(() => process.exit(1), 5000).unref();`;
  const r = spawnSync('ip', ['netns', 'exec', h.namespace, process.execPath, '-e', script], {
    encoding: 'utf8',
  });
  try {
    const times = (JSON.parse(r.stdout) as number[]).sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  } catch {
    return NaN;
  }
}
