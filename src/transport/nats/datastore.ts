/**
 * Training data over NATS: data sets stored by content digest (datasetDigest) in a
 * JetStream object store, so that workers on other machines fetch exactly the samples the
 * coordinator trains on, and a worker that loads them from a local file can check that
 * its copy is the same.
 *
 * An object is a frame (frames.ts) whose meta is the data set's header
 * ({ kind, n, inputShape, numClasses, targets? }) followed by x (float32), labels (int32)
 * and, when `targets` is true, n × numClasses real-valued targets (float32), all
 * little-endian. Uploads and downloads stream it in chunks: the samples are never
 * concatenated into one more copy on either side.
 */
import { StorageType } from '@nats-io/jetstream';
import { Objm, setSha256Backend, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { datasetDigest, sampleSize, type Dataset } from '../../data/dataset.js';
import { DataError } from '../../data/errors.js';
import { UsageError } from '../../errors.js';
import {
  decodeFrame,
  encodeFrame,
  f32Body,
  frameMetaEnd,
  i32Body,
  MessageError,
} from './frames.js';

export const DATA_BUCKET = 'tfjs-newton-data';
/** The largest data set object put or fetched unless told otherwise (2 GiB). */
export const MAX_DATASET_BYTES = 2 ** 31;
/** The object store's chunk size, when the server allows messages that large */
const CHUNK_BYTES = 1024 * 1024;
const KIND = 'tfjs-newton-dataset';

// the object store hashes every chunk; node:crypto is much faster than its pure-JS default
setSha256Backend('native');

/** A data set that cannot be put into or fetched from the NATS object store, in one line. */
export class DatasetStoreError extends UsageError {
  override name = 'DatasetStoreError';
}

const oneLine = (e: unknown) =>
  String((e as Error)?.message ?? e)
    .replace(/\s+/g, ' ')
    .trim();

/** The bucket, created (file storage) when missing. */
async function bucket(nc: NatsConnection, create: boolean): Promise<ObjectStore> {
  try {
    const objm = new Objm(nc);
    return create
      ? await objm.create(DATA_BUCKET, {
          storage: StorageType.File,
          description: 'tfjs-newton training data sets, named by content digest',
        })
      : await objm.open(DATA_BUCKET);
  } catch (e) {
    const msg = oneLine(e);
    if ((e as Error)?.name === 'JetStreamNotEnabled' || /jetstream.*not enabled/i.test(msg)) {
      throw new DatasetStoreError(
        `the NATS server has no JetStream (${msg}): data sets travel through its object store; start nats-server with -js, or with a jetstream { store_dir: ... } block in its config`,
      );
    }
    if (!create && /object store not found/i.test(msg)) {
      throw new DatasetStoreError(
        `the NATS server holds no data sets yet (no object store '${DATA_BUCKET}'): the coordinator uploads its data set at start; is it connected to the same server?`,
      );
    }
    throw new DatasetStoreError(`cannot open the NATS object store '${DATA_BUCKET}': ${msg}`);
  }
}

/** The header, x, labels and targets (if any) of `data`, as consecutive views (no copy). */
function datasetParts(data: Dataset): Uint8Array[] {
  const m = sampleSize(data);
  if (data.x.length < data.n * m || data.labels.length < data.n)
    throw new Error(
      `the data set has ${data.n} samples of ${m} values, but only ${data.x.length} values and ${data.labels.length} labels`,
    );
  const header = encodeFrame({
    kind: KIND,
    n: data.n,
    inputShape: data.inputShape,
    numClasses: data.numClasses,
    ...(data.targets && { targets: true }),
  });
  return [
    header,
    f32Body(data.x.subarray(0, data.n * m)),
    i32Body(data.labels.subarray(0, data.n)),
    ...(data.targets ? [f32Body(data.targets.subarray(0, data.n * data.numClasses))] : []),
  ];
}

/** `parts` as a stream of slices of at most `slice` bytes (views). */
function streamOf(parts: Uint8Array[], slice: number): ReadableStream<Uint8Array> {
  let i = 0;
  let off = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      while (i < parts.length && off >= parts[i].length) {
        i++;
        off = 0;
      }
      if (i >= parts.length) {
        c.close();
        return;
      }
      const end = Math.min(parts[i].length, off + slice);
      c.enqueue(parts[i].subarray(off, end));
      off = end;
    },
  });
}

/**
 * Stores `data` in the object store under its digest, unless an object of that name is
 * there already, and returns the digest.
 */
export async function putDataset(
  nc: NatsConnection,
  data: Dataset,
  opts: { maxBytes?: number } = {},
): Promise<string> {
  const digest = datasetDigest(data);
  const parts = datasetParts(data);
  const size = parts.reduce((a, p) => a + p.length, 0);
  const maxBytes = opts.maxBytes ?? MAX_DATASET_BYTES;
  if (size > maxBytes)
    throw new DatasetStoreError(
      `the data set ${digest} takes ${size} bytes, more than the ${maxBytes} a data set may take in the NATS object store`,
    );
  const os = await bucket(nc, true);
  try {
    const have = await os.info(digest);
    if (have !== null && !have.deleted) return digest;
    const chunk = Math.min(CHUNK_BYTES, nc.info?.max_payload ?? CHUNK_BYTES);
    await os.put(
      {
        name: digest,
        description: `n=${data.n} inputShape=${data.inputShape.join('x')} numClasses=${data.numClasses}`,
        options: { max_chunk_size: chunk },
      },
      streamOf(parts, chunk),
    );
  } catch (e) {
    throw new DatasetStoreError(
      `cannot upload the data set ${digest} to the NATS object store '${DATA_BUCKET}': ${oneLine(e)}`,
    );
  }
  return digest;
}

/** Fills x, labels and targets from the object's bytes as they arrive. */
class DatasetReader {
  private head: Uint8Array[] = [];
  private headBytes = 0;
  private data: Dataset | null = null;
  /** where the bytes after the header go: x's, then labels', then the targets' */
  private targets: Uint8Array[] = [];
  private t = 0;
  private pos = 0;

  constructor(
    private readonly digest: string,
    private readonly objectSize: number,
  ) {}

  private bad(why: string): never {
    throw new DatasetStoreError(
      `the object ${this.digest} in the NATS object store '${DATA_BUCKET}' is not a data set: ${why}`,
    );
  }

  push(chunk: Uint8Array): void {
    let c = chunk;
    if (this.data === null) {
      this.head.push(c);
      this.headBytes += c.length;
      const all = this.head.length === 1 ? this.head[0] : concat(this.head, this.headBytes);
      this.head = [all];
      let end: number | null;
      let meta: Record<string, unknown>;
      try {
        end = frameMetaEnd(all);
        if (end === null || all.length < end) return;
        meta = decodeFrame(all.subarray(0, end)).meta;
      } catch (e) {
        if (e instanceof MessageError) this.bad(e.message);
        throw e;
      }
      this.start(meta, end);
      this.head = [];
      c = all.subarray(end);
    }
    while (c.length > 0) {
      if (this.t >= this.targets.length) this.bad('more bytes than its header says');
      const target = this.targets[this.t];
      const k = Math.min(c.length, target.length - this.pos);
      target.set(c.subarray(0, k), this.pos);
      this.pos += k;
      c = c.subarray(k);
      if (this.pos === target.length) {
        this.t++;
        this.pos = 0;
      }
    }
  }

  /** Allocates the data set the header describes. */
  private start(meta: Record<string, unknown>, headerLen: number) {
    const { kind, n, inputShape, numClasses, targets } = meta;
    const count = (v: unknown): v is number =>
      typeof v === 'number' && Number.isInteger(v) && v >= 0;
    if (kind !== KIND) this.bad(`its kind is ${JSON.stringify(kind)}`);
    if (
      !count(n) ||
      !count(numClasses) ||
      !Array.isArray(inputShape) ||
      inputShape.length === 0 ||
      !inputShape.every((d) => count(d) && d > 0) ||
      (targets !== undefined && targets !== true)
    ) {
      this.bad(`a header of ${JSON.stringify({ n, inputShape, numClasses })}`);
    }
    const shape = inputShape as number[];
    const m = sampleSize({ inputShape: shape });
    const k = targets === true ? numClasses : 0;
    const want = headerLen + n * m * 4 + n * 4 + n * k * 4;
    if (want !== this.objectSize)
      this.bad(`its header says ${want} bytes, the object has ${this.objectSize}`);
    const x = new Float32Array(n * m);
    const labels = new Int32Array(n);
    const y = targets === true ? new Float32Array(n * k) : undefined;
    this.data = { x, labels, n, inputShape: shape, numClasses, ...(y && { targets: y }) };
    this.targets = [f32Body(x), i32Body(labels), ...(y ? [f32Body(y)] : [])].filter(
      (b) => b.length > 0,
    );
  }

  finish(): Dataset {
    if (this.data === null || this.t < this.targets.length) this.bad('it ends early');
    return this.data;
  }
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The data set stored under `digest`, downloaded and checked: its digest recomputed must
 * be `digest`. At most `limits.maxBytes` (default 2 GiB) are fetched.
 */
export async function getDataset(
  nc: NatsConnection,
  digest: string,
  limits: { maxBytes?: number } = {},
): Promise<Dataset> {
  const os = await bucket(nc, false);
  const maxBytes = limits.maxBytes ?? MAX_DATASET_BYTES;
  let data: Dataset;
  try {
    const info = await os.info(digest);
    if (info === null || info.deleted) {
      throw new DatasetStoreError(
        `no data set ${digest} in the NATS object store '${DATA_BUCKET}': the coordinator uploads its data set at start; is this worker connected to the same server as the coordinator, and for the same run?`,
      );
    }
    if (info.size > maxBytes)
      throw new DatasetStoreError(
        `the data set ${digest} in the NATS object store takes ${info.size} bytes, more than the ${maxBytes} this worker accepts`,
      );
    const r = await os.get(digest);
    if (r === null)
      throw new DatasetStoreError(
        `the data set ${digest} went away from the NATS object store '${DATA_BUCKET}' while being fetched`,
      );
    const streamError = r.error.then(
      (e) => e,
      (e: unknown) => e,
    ); // settled either way, never unhandled
    const reader = new DatasetReader(digest, r.info.size);
    const rd = r.data.getReader();
    try {
      for (;;) {
        const { done, value } = await rd.read();
        if (done) break;
        if (value !== undefined && value.length > 0) reader.push(value);
      }
    } catch (e) {
      await rd.cancel().catch(() => {});
      throw e;
    }
    const err = await streamError;
    if (err) throw err;
    data = reader.finish();
  } catch (e) {
    if (e instanceof DatasetStoreError) throw e;
    throw new DatasetStoreError(
      `cannot fetch the data set ${digest} from the NATS object store '${DATA_BUCKET}': ${oneLine(e)}`,
    );
  }
  const got = datasetDigest(data);
  if (got !== digest) {
    throw new DatasetStoreError(
      `the data set stored as ${digest} in the NATS object store '${DATA_BUCKET}' has digest ${got}: it is not the data it is named after; delete the object (nats object del ${DATA_BUCKET} ${digest}) and restart the coordinator to upload it again`,
    );
  }
  return data;
}

/**
 * For a worker that loads the training data from `source` (a local path) rather than from
 * NATS: a DataError naming the path when its samples are not the coordinator's (`digest`).
 */
export function checkLocalDataset(data: Dataset, digest: string, source: string): void {
  const got = datasetDigest(data);
  if (got !== digest) {
    throw new DataError(
      source,
      'training data',
      `digest ${got}, but the coordinator trains on ${digest}: give this worker the same data file and preprocessing flags as the coordinator, or no local data so that it fetches the data set from NATS`,
    );
  }
}
