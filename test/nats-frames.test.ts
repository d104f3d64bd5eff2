/**
 * The NATS message format without a server: frames round-trip meta and body, every way a
 * frame can be bad is rejected with its own one-line MessageError, bodies split into parts
 * and reassembled in any order, bad part sets rejected, typed-array bodies checked.
 */
import test from 'ava';
import { Membership } from '../src/transport/nats/membership.ts';
import {
  bodyF32,
  bodyF64,
  bodyI32,
  decodeFrame,
  encodeFrame,
  f32Body,
  f64Body,
  FRAME_HEADER_BYTES,
  frameMetaEnd,
  i32Body,
  maxBodyPart,
  MessageError,
  PROTOCOL_VERSION,
  VersionMismatch,
  Reassembler,
  splitBody,
} from '../src/transport/nats/frames.ts';

const bytes = (n: number, seed = 1) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 255);

/** The message of the MessageError `f` throws (fails the test on anything else). */
function rejection(t: import('ava').ExecutionContext, f: () => unknown): string {
  const e = t.throws(f, { instanceOf: MessageError });
  t.false(e!.message.includes('\n'), 'one line');
  t.is(e!.name, 'MessageError');
  return e!.message;
}

test('a frame round-trips its meta and body; the header is magic, version, length', (t) => {
  const meta = {
    kind: 'Gv',
    id: 'r-1',
    part: 0,
    parts: 3,
    nested: { a: [1, 2.5, null], s: 'θ ünïcode' },
  };
  const body = bytes(1000);
  const f = encodeFrame(meta, body);
  t.deepEqual(Array.from(f.subarray(0, 4)), [0x54, 0x46, 0x4a, 0x4e]);
  t.is(f[4], PROTOCOL_VERSION);
  const d = decodeFrame(f);
  t.deepEqual(d.meta, meta);
  t.deepEqual(d.body, body);
  t.is(d.body.buffer, f.buffer, 'the body is a view, not a copy');
  t.is(frameMetaEnd(f), f.length - body.length);
  t.is(frameMetaEnd(f.subarray(0, FRAME_HEADER_BYTES - 1)), null);

  const empty = decodeFrame(encodeFrame({}));
  t.deepEqual(empty.meta, {});
  t.is(empty.body.length, 0);
  // a frame inside a larger buffer, at an odd offset
  const big = new Uint8Array(f.length + 3);
  big.set(f, 3);
  t.deepEqual(decodeFrame(big.subarray(3)).meta, meta);
});

test('every bad frame is rejected with its reason', (t) => {
  const good = encodeFrame({ a: 1 }, bytes(10));
  t.regex(
    rejection(t, () => decodeFrame(new Uint8Array(0))),
    /^truncated: 0 bytes/,
  );
  t.regex(
    rejection(t, () => decodeFrame(good.subarray(0, 3))),
    /^truncated: 3 bytes/,
  );
  t.regex(
    rejection(t, () => decodeFrame(good.subarray(0, 7))),
    /^truncated: 7 bytes/,
  );
  t.regex(
    rejection(t, () => decodeFrame(good.subarray(0, 12))),
    /^truncated: meta of 7 bytes announced, 3 follow/,
  );
  t.regex(
    rejection(t, () => decodeFrame(new TextEncoder().encode('{"hello": "json"}'))),
    /^not a tfjs-newton message: it starts with 7b 22 68 65/,
  );
  t.regex(
    rejection(t, () => decodeFrame(new TextEncoder().encode('TF'))),
    /^truncated/,
  ); // a prefix of the magic
  const v2 = good.slice();
  v2[4] = PROTOCOL_VERSION + 1;
  t.is(
    rejection(t, () => decodeFrame(v2)),
    `version mismatch: the message speaks tfjs-newton protocol ${PROTOCOL_VERSION + 1}, this build ${PROTOCOL_VERSION}: run the same tfjs-newton version on every machine`,
  );
  t.true(
    (() => {
      try {
        decodeFrame(v2);
      } catch (e) {
        return e instanceof VersionMismatch && e instanceof MessageError;
      }
      return false;
    })(),
  );

  const frame = (metaText: string, body = new Uint8Array(0)) => {
    const m = new TextEncoder().encode(metaText);
    const f = new Uint8Array(FRAME_HEADER_BYTES + m.length + body.length);
    f.set([0x54, 0x46, 0x4a, 0x4e, PROTOCOL_VERSION]);
    new DataView(f.buffer).setUint32(5, m.length, true);
    f.set(m, FRAME_HEADER_BYTES);
    f.set(body, FRAME_HEADER_BYTES + m.length);
    return f;
  };
  t.deepEqual(decodeFrame(frame('{"ok":true}')).meta, { ok: true }, 'the hand-made frame is right');
  t.regex(
    rejection(t, () => decodeFrame(frame('{"a":'))),
    /^bad meta: not JSON/,
  );
  t.regex(
    rejection(t, () => decodeFrame(frame(''))),
    /^bad meta: not JSON/,
  );
  t.is(
    rejection(t, () => decodeFrame(frame('[1,2]'))),
    'bad meta: a JSON array, not an object',
  );
  t.is(
    rejection(t, () => decodeFrame(frame('null'))),
    'bad meta: a JSON null, not an object',
  );
  t.is(
    rejection(t, () => decodeFrame(frame('"s"'))),
    'bad meta: a JSON string, not an object',
  );
  t.is(
    rejection(t, () => decodeFrame(frame('7'))),
    'bad meta: a JSON number, not an object',
  );
  const badUtf8 = frame('{"a":"xx"}');
  badUtf8[FRAME_HEADER_BYTES + 6] = 0xff;
  t.is(
    rejection(t, () => decodeFrame(badUtf8)),
    'bad meta: not UTF-8',
  );

  // limits
  const bigMeta = encodeFrame({ s: 'x'.repeat(100) }, bytes(50));
  t.regex(
    rejection(t, () => decodeFrame(bigMeta, { maxMetaBytes: 64 })),
    /^oversized: meta of 108 bytes, at most 64$/,
  );
  t.regex(
    rejection(t, () => decodeFrame(bigMeta, { maxBodyBytes: 49 })),
    /^oversized: body of 50 bytes, at most 49$/,
  );
  t.notThrows(() => decodeFrame(bigMeta, { maxMetaBytes: 108, maxBodyBytes: 50 }));
  const hugeLen = good.slice();
  new DataView(hugeLen.buffer).setUint32(5, 0xffffffff, true);
  t.regex(
    rejection(t, () => decodeFrame(hugeLen)),
    /^oversized: meta of 4294967295 bytes/,
    'a lying length is caught before anything is read',
  );
  t.regex(
    rejection(t, () => frameMetaEnd(hugeLen)),
    /^oversized/,
  );
  t.regex(
    rejection(t, () => frameMetaEnd(v2)),
    /^version mismatch/,
  );

  t.throws(() => encodeFrame([] as unknown as Record<string, unknown>), { instanceOf: TypeError });
});

test('splitBody: equal views of at most maxPart bytes, the last holding the rest', (t) => {
  const body = bytes(10);
  const parts = splitBody(body, 4);
  t.deepEqual(
    parts.map((p) => p.length),
    [4, 4, 2],
  );
  t.true(
    parts.every((p) => p.buffer === body.buffer),
    'views',
  );
  t.deepEqual(
    splitBody(bytes(9), 4).map((p) => p.length),
    [3, 3, 3],
    'the fewest parts, of equal size',
  );
  t.deepEqual(
    splitBody(bytes(8), 4).map((p) => p.length),
    [4, 4],
  );
  t.deepEqual(
    splitBody(bytes(3), 4).map((p) => p.length),
    [3],
  );
  t.deepEqual(
    splitBody(new Uint8Array(0), 4).map((p) => p.length),
    [0],
  );
  t.throws(() => splitBody(body, 0), { instanceOf: RangeError });
  // every total and part size: fewest parts, each ≤ maxPart, none empty, together the body
  for (let n = 1; n <= 200; n++) {
    for (const m of [1, 2, 3, 7, 16, 33, 64, 199, 200, 201]) {
      const ps = splitBody(bytes(n), m);
      t.is(ps.length, Math.ceil(n / m));
      if (
        !ps.every((p) => p.length >= 1 && p.length <= m) ||
        ps.reduce((a, p) => a + p.length, 0) !== n
      )
        t.fail(`n ${n}, maxPart ${m}`);
    }
  }
  t.is(maxBodyPart(1024 * 1024), 1024 * 1024 - FRAME_HEADER_BYTES - 4096);
  t.throws(() => maxBodyPart(100, 100), { instanceOf: RangeError });
});

test('Reassembler: parts in any order give back the body; one part comes back as is', (t) => {
  const r = new Reassembler({ maxBytes: 1 << 20, maxPending: 4 });
  const body = bytes(1000, 3);
  const parts = splitBody(body, 128); // 8 parts of 125
  const order = [5, 0, 7, 2, 1, 6, 4, 3];
  let out: Uint8Array | null = null;
  for (const [k, i] of order.entries()) {
    out = r.add('m1', i, parts.length, body.length, parts[i].slice());
    if (k < order.length - 1) t.is(out, null);
    t.is(r.pending, k < order.length - 1 ? 1 : 0);
  }
  t.deepEqual(out, body);

  const one = bytes(50);
  t.is(r.add('m2', 0, 1, 50, one), one, 'no copy for a single part');
  t.deepEqual(r.add('m3', 0, 1, 0, new Uint8Array(0)), new Uint8Array(0));
  // two messages interleaved
  const a = bytes(300, 1);
  const b = bytes(301, 2);
  const pa = splitBody(a, 100);
  const pb = splitBody(b, 100);
  t.is(r.add('a', 2, 3, 300, pa[2]), null);
  t.is(r.add('b', 3, 4, 301, pb[3]), null);
  t.is(r.add('a', 0, 3, 300, pa[0]), null);
  t.is(r.add('b', 0, 4, 301, pb[0]), null);
  t.is(r.add('b', 1, 4, 301, pb[1]), null);
  t.deepEqual(r.add('a', 1, 3, 300, pa[1]), a);
  t.deepEqual(r.add('b', 2, 4, 301, pb[2]), b);
  t.is(r.pending, 0);
});

test('Reassembler: bad part sets are rejected and the message dropped', (t) => {
  const r = new Reassembler({ maxBytes: 1000, maxPending: 2 });
  const p = splitBody(bytes(300), 100); // 3 × 100
  const reject = (f: () => unknown) => rejection(t, f);

  t.is(r.add('k', 0, 3, 300, p[0]), null);
  t.regex(
    reject(() => r.add('k', 0, 3, 300, p[0])),
    /^duplicate part 0 of 3 for k$/,
  );
  t.is(r.pending, 0, 'the message is dropped');

  t.is(r.add('k', 0, 3, 300, p[0]), null);
  t.regex(
    reject(() => r.add('k', 1, 4, 300, p[1])),
    /^inconsistent parts for k: 3 parts of 300 bytes announced, this part says 4 of 300$/,
  );
  t.is(r.add('k', 0, 3, 300, p[0]), null);
  t.regex(
    reject(() => r.add('k', 1, 3, 301, p[1])),
    /^inconsistent parts for k: 3 parts of 300 bytes announced, this part says 3 of 301$/,
  );
  t.regex(
    reject(() => r.add('k', 1, 3, 300, p[1].subarray(1))),
    /^inconsistent parts for k: part 1 of 3 has 99 bytes, 100 expected/,
  );
  t.regex(
    reject(() => r.add('k', 2, 3, 299, p[2])),
    /^inconsistent parts for k: part 2 of 3 has 100 bytes, 99 expected/,
  );
  t.regex(
    reject(() => r.add('k', 3, 3, 300, p[0])),
    /^bad part set for k: part 3 of 3$/,
  );
  t.regex(
    reject(() => r.add('k', -1, 3, 300, p[0])),
    /^bad part set for k: part -1 of 3$/,
  );
  t.regex(
    reject(() => r.add('k', 0, 0, 300, p[0])),
    /^bad part set for k: 0 parts$/,
  );
  t.regex(
    reject(() => r.add('k', 0, 1.5, 300, p[0])),
    /^bad part set for k: 1.5 parts$/,
  );
  t.regex(
    reject(() => r.add('k', 0, 3, -1, p[0])),
    /^bad part set for k: a total of -1 bytes$/,
  );
  t.regex(
    reject(() => r.add('k', 0, 5, 4, bytes(1))),
    /^bad part set for k: 4 bytes do not make 5 parts$/,
  );
  t.regex(
    reject(() => r.add('k', 0, 2, 0, new Uint8Array(0))),
    /^bad part set for k: 0 bytes do not make 2 parts$/,
  );
  t.regex(
    reject(() => r.add('k', 0, 11, 1001, bytes(91))),
    /^oversized: k has 1001 bytes, at most 1000$/,
  );
  t.regex(
    reject(() => r.add('k', 0, 1, 5, bytes(4))),
    /^inconsistent parts for k: part 0 of 1 has 4 bytes, 5 expected/,
  );
  t.is(r.pending, 0);

  t.is(r.add('x', 0, 3, 300, p[0]), null);
  t.is(r.add('y', 0, 3, 300, p[0]), null);
  t.regex(
    reject(() => r.add('z', 0, 3, 300, p[0])),
    /^too many messages pending: 2 wait for parts already, z refused$/,
  );
  t.is(r.pending, 2, 'the waiting ones stay');
  r.drop('x');
  t.is(r.pending, 1);
  t.is(r.add('z', 0, 3, 300, p[0]), null, 'room again after a drop');
  t.regex(
    reject(() => r.add('y', 0, 1, 3, bytes(3))),
    /^inconsistent parts for y/,
  );
  t.is(r.pending, 1, 'y dropped, z waits');
  t.is(r.add('z', 2, 3, 300, p[2]), null);
  t.deepEqual(r.add('z', 1, 3, 300, p[1]), bytes(300));
});

test('typed bodies: views when aligned, aligned copies when not, wrong lengths rejected', (t) => {
  const a = Float32Array.from([1.5, -0, NaN, 3.4028234663852886e38, 1e-45]);
  const b = f32Body(a);
  t.is(b.buffer, a.buffer);
  const back = bodyF32(b, 5);
  t.is(back.buffer, a.buffer, 'aligned: a view');
  t.deepEqual(
    new Uint8Array(back.buffer, back.byteOffset, back.byteLength),
    b,
    'bit for bit, -0 and NaN too',
  );

  // through a frame: the body sits at an offset that is rarely a multiple of 4
  for (const meta of [{}, { k: 1 }, { kk: 1 }, { kkk: 1 }]) {
    const f = decodeFrame(encodeFrame(meta, b));
    const v = bodyF32(f.body, 5);
    t.deepEqual(Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)), Array.from(b));
    t.is(v.byteOffset % 4, 0);
  }
  const i = Int32Array.from([0, -1, 2 ** 31 - 1, -(2 ** 31)]);
  t.deepEqual(bodyI32(decodeFrame(encodeFrame({ x: 1 }, i32Body(i))).body, 4), i);
  const d = Float64Array.from([Math.PI, -1e-300, 1 / 3]);
  t.deepEqual(bodyF64(decodeFrame(encodeFrame({ xy: 1 }, f64Body(d))).body, 3), d);

  t.regex(
    rejection(t, () => bodyF32(bytes(7))),
    /^bad body: 7 bytes are not a whole number of float32 values$/,
  );
  t.regex(
    rejection(t, () => bodyF32(bytes(8), 3)),
    /^bad body: 2 float32 values, 3 expected$/,
  );
  t.regex(
    rejection(t, () => bodyI32(bytes(6))),
    /^bad body: 6 bytes are not a whole number of int32 values$/,
  );
  t.regex(
    rejection(t, () => bodyF64(bytes(12))),
    /^bad body: 12 bytes are not a whole number of float64 values$/,
  );
  t.is(bodyF32(new Uint8Array(0), 0).length, 0);
});

test("a coordinator's membership: a hello of another protocol version is said once as a version mismatch, and no worker joins", (t) => {
  const lines: string[] = [];
  const joined: string[] = [];
  const members = new Membership<unknown>('nats://x', 1000, {
    joined: (w) => joined.push(w.wid),
    dropped: () => {},
    status: (l) => lines.push(l),
  });
  const hello = encodeFrame({ type: 'hello', wid: 'w-1', threads: 1 });
  const old = hello.slice();
  old[4] = PROTOCOL_VERSION - 1;
  for (let i = 0; i < 3; i++) members.hello(old);
  t.deepEqual(lines, [
    `ignored a worker's hello: version mismatch: the message speaks tfjs-newton protocol ${PROTOCOL_VERSION - 1}, this build ${PROTOCOL_VERSION}: run the same tfjs-newton version on every machine`,
  ]);
  t.deepEqual(joined, []);
  members.hello(hello);
  t.deepEqual(joined, ['w-1']);
  // a malformed hello is still called one, each time
  members.hello(encodeFrame({ type: 'hello', wid: '../x', threads: 1 }));
  t.regex(lines.at(-1)!, /^ignored a malformed hello: bad hello message: wid is/);
});
