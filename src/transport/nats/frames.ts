/**
 * The bytes of a message over NATS: a small self-describing frame (magic, protocol
 * version, JSON meta, binary body), bodies split into parts that fit the server's max
 * payload and put back together on arrival, and typed arrays as bodies. Everything a
 * peer sends is validated here; a message that fails is rejected with a one-line
 * MessageError saying why.
 *
 * Frame layout: 'TFJN' (4 bytes) | version (u8) | meta length (u32, little-endian) |
 * meta (UTF-8 JSON object) | body (the rest).
 * Typed-array bodies are little-endian (the byte order of every platform Node runs on).
 */

import { errorLine } from '../../errors.js';

/**
 * The version of what coordinator and workers say to each other, in every frame; a change
 * of the messages or of the data set object bumps it. 1: up to stop 23; 2: data set
 * objects may carry real-valued targets, whose held-out pass sums squared errors; 3: a task
 * may name a reduction group (`task.group`), which a worker of 2 would compute as one chunk;
 * 4: an f+grad task may name the next Gv pass's length (`task.gaussNewtonPrefix`), and is
 * then sticky, which a worker of 3 would not place by it in its own pool.
 */
export const PROTOCOL_VERSION = 4;

/** Why a message was rejected, in one line. */
export class MessageError extends Error {
  override name = 'MessageError';
}

/** A frame of another protocol version: a peer running another tfjs-newton version. */
export class VersionMismatch extends MessageError {
  constructor(readonly version: number) {
    super(
      `version mismatch: the message speaks tfjs-newton protocol ${version}, this build ${PROTOCOL_VERSION}: run the same tfjs-newton version on every machine`,
    );
  }
}

const MAGIC = [0x54, 0x46, 0x4a, 0x4e]; // 'TFJN'
/** magic, version, meta length */
export const FRAME_HEADER_BYTES = 9;
/** decodeFrame's default bound on the meta JSON */
export const DEFAULT_MAX_META_BYTES = 64 * 1024;

if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1)
  throw new Error('tfjs-newton frames assume a little-endian platform');

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** A frame holding `meta` (a JSON object) and `body` (copied in). */
export function encodeFrame(
  meta: Record<string, unknown>,
  body: Uint8Array = new Uint8Array(0),
): Uint8Array {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta))
    throw new TypeError('encodeFrame: meta must be a plain object');
  const json = utf8.encode(JSON.stringify(meta));
  const out = new Uint8Array(FRAME_HEADER_BYTES + json.length + body.length);
  out.set(MAGIC, 0);
  out[4] = PROTOCOL_VERSION;
  new DataView(out.buffer).setUint32(5, json.length, true);
  out.set(json, FRAME_HEADER_BYTES);
  out.set(body, FRAME_HEADER_BYTES + json.length);
  return out;
}

/**
 * The meta and body of a frame; the body is a view into `bytes` (no copy). Throws a
 * MessageError for anything but a well-formed frame of this protocol version within the
 * limits (meta: 64 KiB unless told; body: unbounded unless told).
 */
export function decodeFrame(
  bytes: Uint8Array,
  limits: { maxMetaBytes?: number; maxBodyBytes?: number } = {},
): { meta: Record<string, unknown>; body: Uint8Array } {
  if (!(bytes instanceof Uint8Array)) throw new MessageError('not a tfjs-newton message: no bytes');
  for (let i = 0; i < Math.min(4, bytes.length); i++) {
    if (bytes[i] !== MAGIC[i])
      throw new MessageError(
        `not a tfjs-newton message: it starts with ${hex(bytes.subarray(0, 4))}, not 'TFJN'`,
      );
  }
  if (bytes.length < 5)
    throw new MessageError(
      `truncated: ${bytes.length} bytes, a frame has at least ${FRAME_HEADER_BYTES}`,
    );
  if (bytes[4] !== PROTOCOL_VERSION) throw new VersionMismatch(bytes[4]);
  if (bytes.length < FRAME_HEADER_BYTES)
    throw new MessageError(
      `truncated: ${bytes.length} bytes, a frame has at least ${FRAME_HEADER_BYTES}`,
    );
  const metaLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(5, true);
  const maxMeta = limits.maxMetaBytes ?? DEFAULT_MAX_META_BYTES;
  if (metaLen > maxMeta)
    throw new MessageError(`oversized: meta of ${metaLen} bytes, at most ${maxMeta}`);
  if (metaLen > bytes.length - FRAME_HEADER_BYTES)
    throw new MessageError(
      `truncated: meta of ${metaLen} bytes announced, ${bytes.length - FRAME_HEADER_BYTES} follow`,
    );
  const bodyLen = bytes.length - FRAME_HEADER_BYTES - metaLen;
  if (limits.maxBodyBytes !== undefined && bodyLen > limits.maxBodyBytes)
    throw new MessageError(`oversized: body of ${bodyLen} bytes, at most ${limits.maxBodyBytes}`);
  let text: string;
  try {
    text = utf8Strict.decode(bytes.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + metaLen));
  } catch {
    throw new MessageError('bad meta: not UTF-8');
  }
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new MessageError(`bad meta: not JSON (${errorLine(e)})`);
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
    throw new MessageError(
      `bad meta: a JSON ${meta === null ? 'null' : Array.isArray(meta) ? 'array' : typeof meta}, not an object`,
    );
  }
  // a plain Uint8Array view, also when `bytes` is a Node Buffer (whose slice() would not copy)
  const at = FRAME_HEADER_BYTES + metaLen;
  return {
    meta: meta as Record<string, unknown>,
    body: new Uint8Array(bytes.buffer, bytes.byteOffset + at, bytes.length - at),
  };
}

/**
 * The length of the frame header plus meta at the start of `bytes` (for reading a frame as
 * it streams in), or null while fewer than FRAME_HEADER_BYTES bytes are there. Checks the
 * magic, the version and the meta limit like decodeFrame.
 */
export function frameMetaEnd(
  bytes: Uint8Array,
  maxMetaBytes = DEFAULT_MAX_META_BYTES,
): number | null {
  if (bytes.length < FRAME_HEADER_BYTES) return null;
  const head = bytes.subarray(0, FRAME_HEADER_BYTES);
  const metaLen = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(5, true);
  // decodeFrame's checks on the header alone: magic, version, then the meta's size
  try {
    decodeFrame(head, { maxMetaBytes });
  } catch (e) {
    if (!(e instanceof MessageError && e.message.startsWith('truncated'))) throw e;
  }
  return FRAME_HEADER_BYTES + metaLen;
}

const hex = (b: Uint8Array) =>
  Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ') || 'nothing';

/** The size of every part but the last when `totalBytes` go in `parts` parts (the last holds the rest). */
export function partSize(totalBytes: number, parts: number): number {
  return Math.ceil(totalBytes / parts);
}

/** How many parts splitBody makes of `totalBytes` with parts of at most `maxPart` bytes. */
export function partCount(totalBytes: number, maxPart: number): number {
  return Math.max(1, Math.ceil(totalBytes / maxPart));
}

/** The largest body part whose frame, with up to `metaReserve` bytes of meta, fits `maxPayload`. */
export function maxBodyPart(maxPayload: number, metaReserve = 4096): number {
  const n = maxPayload - FRAME_HEADER_BYTES - metaReserve;
  if (!(n >= 1))
    throw new RangeError(
      `a max payload of ${maxPayload} bytes leaves no room for a body next to ${metaReserve} bytes of meta`,
    );
  return n;
}

/**
 * `body` in the fewest parts of at most `maxPart` bytes, all of equal size but the last
 * (partSize(total, parts)), so that a part's index says where it goes. Views, no copy; an
 * empty body is one empty part.
 */
export function splitBody(body: Uint8Array, maxPart: number): Uint8Array[] {
  if (!Number.isInteger(maxPart) || maxPart < 1)
    throw new RangeError(`splitBody: maxPart must be a positive integer, got ${maxPart}`);
  const parts = partCount(body.length, maxPart);
  const size = partSize(body.length, parts);
  const out: Uint8Array[] = [];
  for (let i = 0; i < parts; i++)
    out.push(body.subarray(i * size, Math.min(body.length, (i + 1) * size)));
  return out;
}

interface Pending {
  parts: number;
  totalBytes: number;
  size: number;
  buf: Uint8Array;
  got: Uint8Array;
  left: number;
}

/**
 * Puts split bodies back together: parts of one message (`key`) may come in any order.
 * Rejects, with a MessageError, a part whose part count, total size or own size disagree
 * with the split of its message, a duplicate part, a total over `maxBytes`, and a new
 * message when `maxPending` are already waiting; a message with a bad part is dropped as
 * a whole. A one-part message is handed back as is (no copy).
 */
export class Reassembler {
  private readonly pendingByKey = new Map<string, Pending>();

  constructor(private readonly limits: { maxBytes: number; maxPending: number }) {
    if (!(limits.maxBytes >= 0) || !(limits.maxPending >= 1))
      throw new RangeError('Reassembler: maxBytes must be ≥ 0 and maxPending ≥ 1');
  }

  /** Messages waiting for parts. */
  get pending(): number {
    return this.pendingByKey.size;
  }

  /** The whole body once `bytes` completes message `key`, else null. */
  add(
    key: string,
    part: number,
    parts: number,
    totalBytes: number,
    bytes: Uint8Array,
  ): Uint8Array | null {
    const p = this.pendingByKey.get(key);
    try {
      if (!Number.isInteger(parts) || parts < 1)
        throw new MessageError(`bad part set for ${key}: ${parts} parts`);
      if (!Number.isInteger(part) || part < 0 || part >= parts)
        throw new MessageError(`bad part set for ${key}: part ${part} of ${parts}`);
      if (!Number.isInteger(totalBytes) || totalBytes < 0)
        throw new MessageError(`bad part set for ${key}: a total of ${totalBytes} bytes`);
      if (totalBytes > this.limits.maxBytes)
        throw new MessageError(
          `oversized: ${key} has ${totalBytes} bytes, at most ${this.limits.maxBytes}`,
        );
      if (p !== undefined && (p.parts !== parts || p.totalBytes !== totalBytes)) {
        throw new MessageError(
          `inconsistent parts for ${key}: ${p.parts} parts of ${p.totalBytes} bytes announced, this part says ${parts} of ${totalBytes}`,
        );
      }
      const size = partSize(totalBytes, parts);
      if (totalBytes === 0 ? parts !== 1 : (parts - 1) * size >= totalBytes)
        throw new MessageError(
          `bad part set for ${key}: ${totalBytes} bytes do not make ${parts} parts`,
        );
      const want = Math.min(size, totalBytes - part * size);
      if (bytes.length !== want)
        throw new MessageError(
          `inconsistent parts for ${key}: part ${part} of ${parts} has ${bytes.length} bytes, ${want} expected for a total of ${totalBytes}`,
        );
      if (parts === 1) return bytes;
      if (p === undefined) {
        if (this.pendingByKey.size >= this.limits.maxPending)
          throw new MessageError(
            `too many messages pending: ${this.limits.maxPending} wait for parts already, ${key} refused`,
          );
        const q: Pending = {
          parts,
          totalBytes,
          size,
          buf: new Uint8Array(totalBytes),
          got: new Uint8Array(parts),
          left: parts,
        };
        this.pendingByKey.set(key, q);
        return this.place(key, q, part, bytes);
      }
      if (p.got[part]) throw new MessageError(`duplicate part ${part} of ${parts} for ${key}`);
      return this.place(key, p, part, bytes);
    } catch (e) {
      if (p !== undefined) this.pendingByKey.delete(key);
      throw e;
    }
  }

  private place(key: string, p: Pending, part: number, bytes: Uint8Array): Uint8Array | null {
    p.buf.set(bytes, part * p.size);
    p.got[part] = 1;
    if (--p.left > 0) return null;
    this.pendingByKey.delete(key);
    return p.buf;
  }

  /** Forgets message `key` and its parts (given up on, timed out). */
  drop(key: string): void {
    this.pendingByKey.delete(key);
  }
}

/** The bytes of `a` (a view, no copy). */
export function f32Body(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The bytes of `a` (a view, no copy). */
export function i32Body(a: Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The bytes of `a` (a view, no copy). */
export function f64Body(a: Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function typed<T>(
  b: Uint8Array,
  bytesPer: number,
  what: string,
  expectedLength: number | undefined,
  make: (buf: ArrayBufferLike, off: number, len: number) => T,
): T {
  if (b.byteLength % bytesPer !== 0)
    throw new MessageError(
      `bad body: ${b.byteLength} bytes are not a whole number of ${what} values`,
    );
  const n = b.byteLength / bytesPer;
  if (expectedLength !== undefined && n !== expectedLength)
    throw new MessageError(`bad body: ${n} ${what} values, ${expectedLength} expected`);
  if (b.byteOffset % bytesPer === 0) return make(b.buffer, b.byteOffset, n);
  const copy = new Uint8Array(b); // a fresh, aligned copy (not b.slice(): a Node Buffer's slice is a view)
  return make(copy.buffer, 0, n);
}

/** The float32 values in `b`: a view when `b` is aligned, else an aligned copy. MessageError on a wrong length. */
export function bodyF32(b: Uint8Array, expectedLength?: number): Float32Array {
  return typed(b, 4, 'float32', expectedLength, (buf, off, len) => new Float32Array(buf, off, len));
}

/** The int32 values in `b`: a view when `b` is aligned, else an aligned copy. MessageError on a wrong length. */
export function bodyI32(b: Uint8Array, expectedLength?: number): Int32Array {
  return typed(b, 4, 'int32', expectedLength, (buf, off, len) => new Int32Array(buf, off, len));
}

/** The float64 values in `b`: a view when `b` is aligned, else an aligned copy. MessageError on a wrong length. */
export function bodyF64(b: Uint8Array, expectedLength?: number): Float64Array {
  return typed(b, 8, 'float64', expectedLength, (buf, off, len) => new Float64Array(buf, off, len));
}
