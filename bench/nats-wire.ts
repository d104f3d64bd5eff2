/**
 * CPU per MB of a result on its way through NATS, by part size: our own path (splitBody,
 * encodeFrame, publish; on the other side decodeFrame and the Reassembler), between two
 * connections of this process on one server. Reports this process's CPU (both clients)
 * and, when the server runs on this machine, the server's (from /proc), per MB delivered.
 *
 *   npm run bench:wire -- --nats nats://127.0.0.1:4222 [--parts 16384,65536,262144,max]
 *                         [--megabytes 200] [--reps 3] [--message-bytes 1077288]
 *
 * The default message is one mlp:256,256 result (269,322 float32 values). `max` is the
 * largest part the server's max payload allows, what the transport sends today.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import {
  decodeFrame,
  encodeFrame,
  maxBodyPart,
  Reassembler,
  splitBody,
} from '../src/transport/nats/frames.ts';

const { values } = parseArgs({
  options: {
    nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
    parts: { type: 'string', default: '16384,65536,262144,max' },
    megabytes: { type: 'string', default: '200' },
    reps: { type: 'string', default: '3' },
    'message-bytes': { type: 'string', default: String(4 * 269_322) },
  },
});

/** The nats-server process of this machine (its CPU ms so far), if there is exactly one. */
function serverCpu(): (() => number) | null {
  const pids = readdirSync('/proc').filter((p) => {
    if (!/^\d+$/.test(p)) return false;
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'nats-server';
    } catch {
      return false;
    }
  });
  if (pids.length !== 1) return null;
  const tick = 10; // ms per clock tick (USER_HZ 100 on Linux)
  return () => {
    const f = readFileSync(`/proc/${pids[0]}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * tick;
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const a = await connect({ servers: values.nats });
const b = await connect({ servers: values.nats });
const maxPart = maxBodyPart(a.info?.max_payload ?? 1024 * 1024);
const server = serverCpu();
const messageBytes = Number(values['message-bytes']);
const body = new Uint8Array(messageBytes).map((_, i) => (i * 7) & 255);
const messages = Math.max(1, Math.round((Number(values.megabytes) * 1e6) / messageBytes));
const parts = values.parts!.split(',').map((p) => (p === 'max' ? maxPart : Number(p)));

console.log(
  `${messages} messages of ${messageBytes} bytes per run, median of ${values.reps}; server CPU ${server ? 'from /proc' : 'not on this machine'}`,
);
console.log('part bytes  parts/msg  client ms CPU/MB  server ms CPU/MB  MB/s');
let run = 0;
for (const part of parts) {
  const client: number[] = [];
  const srv: number[] = [];
  const rate: number[] = [];
  for (let rep = 0; rep <= Number(values.reps); rep++) {
    const subject = `tfjs-newton-wire.${run++}`;
    const reassembler = new Reassembler({ maxBytes: messageBytes, maxPending: 8 });
    let whole = 0;
    const done = new Promise<void>((resolve) => {
      const sub = b.subscribe(subject, {
        callback: (err, msg) => {
          if (err) throw err;
          const f = decodeFrame(msg.data);
          const m = f.meta as { id: number; part: number; parts: number; total: number };
          if (
            reassembler.add(String(m.id), m.part, m.parts, m.total, f.body) &&
            ++whole === messages
          ) {
            sub.unsubscribe();
            resolve();
          }
        },
      });
    });
    await b.flush();
    const c0 = process.cpuUsage();
    const s0 = server?.() ?? 0;
    const t0 = performance.now();
    for (let id = 0; id < messages; id++) {
      const pieces = splitBody(body, part);
      pieces.forEach((p, i) =>
        a.publish(
          subject,
          encodeFrame({ id, part: i, parts: pieces.length, total: body.length }, p),
        ),
      );
      // let the subscriber read as a real coordinator would, between results
      if (id % 4 === 3) await new Promise((r) => setImmediate(r));
    }
    await done;
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const mb = (messages * messageBytes) / 1e6;
    if (rep === 0) continue; // warm-up
    client.push((c.user + c.system) / 1000 / mb);
    if (server) srv.push((server() - s0) / mb);
    rate.push(mb / (ms / 1000));
  }
  console.log(
    [
      String(part).padStart(10),
      String(Math.ceil(messageBytes / part)).padStart(9),
      median(client).toFixed(2).padStart(16),
      (server ? median(srv).toFixed(2) : '—').padStart(16),
      median(rate).toFixed(0).padStart(5),
    ].join('  '),
  );
}
await a.close();
await b.close();
