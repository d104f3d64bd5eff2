/**
 * The NATS building blocks against a real nats-server (test/helpers/nats-server.ts):
 * connecting, with and without credentials, one-line errors for wrong credentials and a
 * server that is down or silent; a body over the default 1 MB max payload split into
 * frames and put back together through the server; data sets through the JetStream
 * object store, bit for bit, uploaded once, checked against their digest.
 * Left out where nats-server is not installed, unless TFJS_NEWTON_REQUIRE_NATS=1.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import test, { type ExecutionContext } from 'ava';
import { datasetDigest, type Dataset } from '../src/data/dataset.ts';
import { DataError } from '../src/data/errors.ts';
import {
  connectNats,
  NatsConnectError,
  natsOptionsFromFlags,
  type NatsConnection,
} from '../src/transport/nats/connect.ts';
import {
  checkLocalDataset,
  DATA_BUCKET,
  DatasetStoreError,
  getDataset,
  putDataset,
} from '../src/transport/nats/datastore.ts';
import {
  bodyF32,
  decodeFrame,
  encodeFrame,
  f32Body,
  maxBodyPart,
  Reassembler,
  splitBody,
} from '../src/transport/nats/frames.ts';
import { natsTestRule, startNatsServer, type NatsServerHandle } from './helpers/nats-server.ts';
import { syntheticData } from './helpers/synthetic.ts';

const rule = natsTestRule();
const natsTest = rule.available ? test.serial : test.serial.skip;
if (rule.why !== undefined)
  console.log(
    `NATS server tests: ${rule.required ? 'REQUIRED (TFJS_NEWTON_REQUIRE_NATS=1), will fail' : 'skipped'}: ${rule.why}`,
  );

const servers: NatsServerHandle[] = [];
const conns: NatsConnection[] = [];
async function server(o?: Parameters<typeof startNatsServer>[0]) {
  const s = await startNatsServer(o);
  servers.push(s);
  return s;
}
async function conn(o: Parameters<typeof connectNats>[0]) {
  const nc = await connectNats(o);
  conns.push(nc);
  return nc;
}
test.after.always(async () => {
  await Promise.all(conns.map((c) => c.close().catch(() => {})));
  await Promise.all(servers.map((s) => s.stop()));
});

/** Equal bytes (AVA's deepEqual is slow on megabytes). */
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );

/** The message of the NatsConnectError `p` rejects with, checked to be one line. */
async function connectFailure(t: ExecutionContext, p: Promise<unknown>): Promise<string> {
  const e = await t.throwsAsync(p, { instanceOf: NatsConnectError });
  t.false(e!.message.includes('\n'), `one line: ${e!.message}`);
  return e!.message;
}

natsTest(
  'connect; a token server takes the right token and names the fix for a wrong or missing one',
  async (t) => {
    const open = await server();
    const nc = await conn({ url: open.url, name: 'test-open' });
    t.is(nc.info?.max_payload, 1024 * 1024, 'the default max payload');
    t.truthy(nc.info?.jetstream);
    const big = await server({ maxPayload: '8MB' });
    t.is((await conn({ url: big.url })).info?.max_payload, 8 * 1024 * 1024);

    const s = await server({ token: 's3cret' });
    await conn({ url: s.url, token: 's3cret' });
    const wrong = await connectFailure(t, connectNats({ url: s.url, token: 'nope' }));
    t.is(
      wrong,
      `the NATS server at ${s.url} refused the credentials (Authorization Violation): check --nats-token / --nats-user and --nats-pass / --nats-creds / --nats-nkey`,
    );
    const none = await connectFailure(t, connectNats({ url: s.url }));
    t.regex(
      none,
      /^the NATS server at nats:\/\/127\.0\.0\.1:\d+ requires credentials \(Authorization Violation\): give --nats-token/,
    );

    const up = await server({ user: 'alice', pass: 'pw' });
    await conn({ url: up.url, user: 'alice', pass: 'pw' });
    t.regex(
      await connectFailure(t, connectNats({ url: up.url, user: 'alice', pass: 'bad' })),
      /refused the credentials/,
    );
    // the flags, as the CLI's parseArgs gives them
    const o = natsOptionsFromFlags({ nats: up.url, 'nats-user': 'alice', 'nats-pass': 'pw' }, {})!;
    await conn({ ...o });
  },
);

natsTest(
  'TLS: --tls-ca makes a self-signed server trusted; without it, the one-line TLS error',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'nats-tls-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { encoding: 'utf8' },
    );
    if (made.status !== 0) {
      t.log(
        `no openssl to make a certificate (${made.error?.message ?? made.stderr.trim()}): TLS not tested`,
      );
      t.pass();
      return;
    }
    const s = await server({ tls: { certFile: cert, keyFile: key } });
    const nc = await conn({ url: s.url, tlsCa: cert });
    await nc.flush();
    t.is(
      await connectFailure(t, connectNats({ url: s.url })),
      `the TLS connection to the NATS server at ${s.url} failed (DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate): check --tls-ca / --tls-cert / --tls-key and the server's tls settings`,
    );
  },
);

natsTest(
  'a server that is down or silent fails the connect within the timeout, in one line',
  async (t) => {
    const s = await startNatsServer();
    const url = s.url;
    s.kill();
    await s.stop();
    let t0 = Date.now();
    const down = await connectFailure(t, connectNats({ url, connectTimeoutMs: 2000 }));
    t.is(
      down,
      `cannot reach the NATS server at ${url} (ECONNREFUSED): is nats-server running there, and is its port open to this machine? (see README: Running on several machines)`,
    );
    t.true(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);

    // a port that accepts and then says nothing: no INFO, the connect must give up on time
    const sockets: Socket[] = [];
    const silent: Server = createServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      t0 = Date.now();
      const msg = await connectFailure(
        t,
        connectNats({ url: `nats://127.0.0.1:${port}`, connectTimeoutMs: 700 }),
      );
      const took = Date.now() - t0;
      t.is(
        msg,
        `no answer from the NATS server at nats://127.0.0.1:${port} within 700 ms: is nats-server running there, and is its port open to this machine? (see README: Running on several machines)`,
      );
      t.true(took >= 650 && took < 2000, `${took} ms`);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  },
);

test('options: bad files and flag combinations are named (no server needed)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nats-opts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const url = 'nats://127.0.0.1:1';
  t.is(
    await connectFailure(t, connectNats({ url, credsFile: join(dir, 'none.creds') })),
    `${join(dir, 'none.creds')}: not found: the NATS credentials file that --nats-creds names`,
  );
  const junk = join(dir, 'junk.creds');
  writeFileSync(junk, 'hello\n');
  t.regex(
    await connectFailure(t, connectNats({ url, credsFile: junk })),
    new RegExp(`^the NATS credentials file ${junk} \\(--nats-creds\\) holds no user JWT`),
  );
  t.regex(
    await connectFailure(t, connectNats({ url, nkeySeedFile: junk })),
    new RegExp(`^the nkey seed file ${junk} \\(--nats-nkey\\) holds no nkey seed`),
  );
  t.regex(
    await connectFailure(t, connectNats({ url, tlsCa: join(dir, 'ca.pem') })),
    /^.*ca\.pem: not found: the CA certificate file that --tls-ca names$/,
  );
  t.is(await connectFailure(t, connectNats({ url, tlsCert: junk })), '--tls-cert needs --tls-key');
  t.is(await connectFailure(t, connectNats({ url, user: 'a' })), '--nats-user needs --nats-pass');
  t.is(
    await connectFailure(t, connectNats({ url, token: 'x', user: 'a', pass: 'b' })),
    'give one way to authenticate with the NATS server, not --nats-token and --nats-user/--nats-pass',
  );
  t.regex(
    await connectFailure(t, connectNats({ url: 'http://127.0.0.1:4222' })),
    /scheme http: use nats:\/\/host:port/,
  );
  t.regex(
    await connectFailure(t, connectNats({ url: 'nats://no-such-host.invalid:4222' })),
    /^cannot resolve the host of the NATS server nats:\/\/no-such-host\.invalid:4222 \((ENOTFOUND|EAI_AGAIN)\)/,
  );
  t.regex(
    await connectFailure(t, connectNats({ url: 'nats://bob:hunter2@127.0.0.1:1' })),
    /nats:\/\/bob:\*\*\*@127\.0\.0\.1:1/,
    'no password in messages',
  );
  t.is(natsOptionsFromFlags({}), null);
  t.throws(() => natsOptionsFromFlags({ 'nats-token': 'x' }), {
    instanceOf: NatsConnectError,
    message: '--nats-token needs --nats URL (the NATS server to connect to)',
  });
  t.deepEqual(natsOptionsFromFlags({ nats: 'h:1' }, { NATS_TOKEN: 'env' })?.token, 'env');
});

natsTest(
  'a body over the max payload goes through the server in parts and comes back whole',
  async (t) => {
    const s = await server();
    const a = await conn({ url: s.url });
    const b = await conn({ url: s.url });
    const maxPayload = a.info!.max_payload;
    const theta = Float32Array.from({ length: 270_000 }, (_, i) => Math.sin(i) * 1e3); // 1.08 MB > 1 MB
    t.true(theta.byteLength > maxPayload);
    const part = maxBodyPart(maxPayload);

    /** Sends `body` to `subject` as frames of at most the max payload (last part first, to exercise reordering). */
    const send = (nc: NatsConnection, subject: string, id: string, body: Uint8Array) => {
      const parts = splitBody(body, part);
      for (let i = parts.length - 1; i >= 0; i--) {
        const f = encodeFrame({ id, part: i, parts: parts.length, total: body.length }, parts[i]);
        if (f.length > maxPayload) throw new Error('a frame over the max payload');
        nc.publish(subject, f);
      }
    };
    /** Reassembles what arrives on `subject`, handing each whole body to `done`. */
    const receive = (
      nc: NatsConnection,
      subject: string,
      done: (id: string, body: Uint8Array) => void,
    ) => {
      const r = new Reassembler({ maxBytes: 8 << 20, maxPending: 8 });
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) throw err;
          const { meta, body } = decodeFrame(msg.data);
          const whole = r.add(
            meta.id as string,
            meta.part as number,
            meta.parts as number,
            meta.total as number,
            body,
          );
          if (whole !== null) done(meta.id as string, whole);
        },
      });
    };
    // b echoes every body back to a
    receive(b, 'test.echo', (id, body) => send(b, 'test.back', id, body));
    const back = new Map<string, (body: Uint8Array) => void>();
    receive(a, 'test.back', (id, body) => back.get(id)!(body));
    await b.flush();
    const times: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now();
      const got = await new Promise<Uint8Array>((resolve) => {
        back.set(`r${k}`, resolve);
        send(a, 'test.echo', `r${k}`, f32Body(theta));
      });
      times.push(performance.now() - t0);
      const echoed = bodyF32(got, theta.length);
      t.true(sameBytes(echoed, theta), 'bit for bit');
    }
    t.log(
      `1.08 MB there and back in 2 parts each way: ${times.map((x) => x.toFixed(1)).join(', ')} ms`,
    );
  },
);

natsTest(
  'data sets: put once, get bit for bit with their digest; unknown and corrupt ones refused',
  async (t) => {
    const s = await server();
    const nc = await conn({ url: s.url });
    const data = syntheticData(3000, [8, 8, 1], 10, 5); // 780 kB: several object chunks
    const digest = datasetDigest(data);

    t.regex(
      (await t.throwsAsync(getDataset(nc, digest), { instanceOf: DatasetStoreError }))!.message,
      /^the NATS server holds no data sets yet \(no object store 'tfjs-newton-data'\)/,
    );
    t.is(await putDataset(nc, data), digest);
    const got = await getDataset(nc, digest);
    t.deepEqual(got.inputShape, data.inputShape);
    t.is(got.n, data.n);
    t.is(got.numClasses, data.numClasses);
    t.true(sameBytes(got.x, data.x), 'x bit for bit');
    t.true(sameBytes(got.labels, data.labels), 'labels bit for bit');
    t.is(datasetDigest(got), digest);

    const os = await new Objm(nc).open(DATA_BUCKET);
    const rev = (await os.info(digest))!.revision;
    t.is(await putDataset(nc, data), digest);
    t.is((await os.info(digest))!.revision, rev, 'the second put uploads nothing');
    t.is((await os.list()).length, 1);

    // an empty data set and a subarray-backed one
    const empty: Dataset = {
      x: new Float32Array(0),
      labels: new Int32Array(0),
      n: 0,
      inputShape: [3],
      numClasses: 2,
    };
    t.deepEqual(await getDataset(nc, await putDataset(nc, empty)), empty);
    const backing = new Float32Array(1 + 4 * 3);
    backing.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 1);
    const sub: Dataset = {
      x: backing.subarray(1),
      labels: Int32Array.from([0, 1, 1, 0]),
      n: 4,
      inputShape: [3],
      numClasses: 2,
    };
    const subBack = await getDataset(nc, await putDataset(nc, sub));
    t.deepEqual(Array.from(subBack.x), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

    const unknown = 'sha256:0123456789abcdef0123456789abcdef';
    const e = await t.throwsAsync(getDataset(nc, unknown), { instanceOf: DatasetStoreError });
    t.is(
      e!.message,
      `no data set ${unknown} in the NATS object store 'tfjs-newton-data': the coordinator uploads its data set at start; is this worker connected to the same server as the coordinator, and for the same run?`,
    );

    // an object named after one digest holding another data set, and one that is no data set at all
    const other = syntheticData(10, [8, 8, 1], 10, 6);
    const otherDigest = await putDataset(nc, other);
    const liar = 'sha256:ffffffffffffffffffffffffffffffff';
    await os.putBlob({ name: liar }, await os.getBlob(otherDigest));
    const bad = await t.throwsAsync(getDataset(nc, liar), { instanceOf: DatasetStoreError });
    t.is(
      bad!.message,
      `the data set stored as ${liar} in the NATS object store 'tfjs-newton-data' has digest ${otherDigest}: it is not the data it is named after; delete the object (nats object del tfjs-newton-data ${liar}) and restart the coordinator to upload it again`,
    );
    await os.putBlob({ name: 'sha256:junk' }, new TextEncoder().encode('not a frame at all'));
    t.regex(
      (await t.throwsAsync(getDataset(nc, 'sha256:junk'), { instanceOf: DatasetStoreError }))!
        .message,
      /^the object sha256:junk in the NATS object store 'tfjs-newton-data' is not a data set: not a tfjs-newton message/,
    );
    const truncated = (await os.getBlob(otherDigest))!;
    await os.putBlob({ name: 'sha256:short' }, truncated.subarray(0, truncated.length - 4));
    t.regex(
      (await t.throwsAsync(getDataset(nc, 'sha256:short'), { instanceOf: DatasetStoreError }))!
        .message,
      /is not a data set: its header says \d+ bytes, the object has \d+$/,
    );
    t.regex(
      (await t.throwsAsync(getDataset(nc, digest, { maxBytes: 1000 }), {
        instanceOf: DatasetStoreError,
      }))!.message,
      /takes \d+ bytes, more than the 1000 this worker accepts$/,
    );
  },
);

natsTest('data sets on a server without JetStream: the error says how to turn it on', async (t) => {
  const s = await server({ jetstream: false });
  const nc = await conn({ url: s.url });
  const data = syntheticData(5, [2], 2, 1);
  for (const p of [putDataset(nc, data), getDataset(nc, datasetDigest(data))]) {
    const e = await t.throwsAsync(p, { instanceOf: DatasetStoreError });
    t.regex(
      e!.message,
      /^the NATS server has no JetStream \(.*\): data sets travel through its object store; start nats-server with -js, or with a jetstream \{ store_dir: \.\.\. \} block in its config$/,
    );
  }
});

test("checkLocalDataset names the local path when its samples are not the coordinator's", (t) => {
  const data = syntheticData(20, [4], 3, 1);
  const digest = datasetDigest(data);
  t.notThrows(() => checkLocalDataset(data, digest, '/data/train.csv'));
  const changed = { ...data, x: data.x.slice() };
  changed.x[7] += 1e-6;
  const e = t.throws(() => checkLocalDataset(changed, digest, '/data/train.csv'), {
    instanceOf: DataError,
  });
  t.regex(
    e!.message,
    new RegExp(
      `^/data/train\\.csv: training data: digest sha256:[0-9a-f]{32}, but the coordinator trains on ${digest}: `,
    ),
  );
});
