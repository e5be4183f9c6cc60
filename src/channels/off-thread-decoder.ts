/**
 * Decoding for channels with `decode: 'worker'` (DESIGN.md, head-of-line rules: keep bulk
 * decoding off the thread that serves latency-sensitive channels). Their lanes run raw: the
 * main thread only splits frames. Each batch a lane hands over is one postMessage to the
 * node's decode worker; frame buffers that are wholly one frame (a large frame assembled from
 * several reads) are moved, small frames are copied into one buffer. The worker answers in
 * order, moving binary payloads back, and only then is the batch's credit released, so a
 * backed-up worker slows that channel's senders and nobody else.
 *
 * If the worker dies, the batches it held are counted lost (their credit released, so the
 * lanes go on) and the next batch starts a new worker: acknowledged messages are resent by
 * their senders, the others were at-most-once anyway.
 */
import type { Worker } from 'node:worker_threads';
import type { Lane } from '../connections/lane.js';
import { WireError, type ErrorCode } from '../util/errors.js';
import { siblingModuleUrl, startWorker, wholeTransferable } from '../util/worker.js';
import type { Envelope } from '../wire/index.js';

export interface DecodeRequest {
  seq: number;
  frames: Uint8Array[];
}

/** How deep a payload is searched for binary values, in the worker and back here (GPS records are shallow). */
export const PAYLOAD_SEARCH_DEPTH = 4;

export interface DecodeReply {
  seq: number;
  envelopes: Envelope[];
  /** Whether any payload holds binary values (they arrive as Uint8Arrays and are made Buffers again). */
  binaries: boolean;
  acks: number[];
  error?: { code: string; message: string };
}

export interface OffThreadDecoderEvents {
  /** Decoded messages of one batch, in the lane's order. */
  messages(from: string, lane: Lane, envelopes: Envelope[]): void;
  acks(from: string, ids: number[]): void;
  /** A batch failed to decode: the lane is aborted with this error. */
  malformed(from: string, lane: Lane, error: WireError): void;
  /** Batches lost with a dead worker. */
  lost(batches: number, error: Error): void;
}

interface Pending {
  seq: number;
  from: string;
  lane: Lane;
  bytes: number;
}

export class OffThreadDecoder {
  private worker: Worker | undefined;
  private pending: Pending[] = [];
  private seq = 0;
  private stopped = false;
  readonly counters = { batches: 0, frames: 0, bytes: 0, movedBytes: 0, copiedBytes: 0, restarts: 0, lostBatches: 0 };

  constructor(private readonly events: OffThreadDecoderEvents) {}

  /** Hand over one lane's batch of whole frames; call from the lane's raw event. */
  push(from: string, lane: Lane, frames: Uint8Array[], bytes: number): void {
    if (this.stopped) {
      lane.consumedBytes(bytes);
      return;
    }
    const out: Uint8Array[] = [];
    const transfer: ArrayBuffer[] = [];
    let small: Uint8Array[] = [];
    let smallBytes = 0;
    const flushSmall = (): void => {
      if (small.length === 0) return;
      // Small frames are views into a read chunk: one copy for all of them, then moved.
      const joined = new Uint8Array(smallBytes);
      let at = 0;
      for (const f of small) {
        joined.set(f, at);
        out.push(joined.subarray(at, at + f.length));
        at += f.length;
      }
      transfer.push(joined.buffer);
      this.counters.copiedBytes += smallBytes;
      small = [];
      smallBytes = 0;
    };
    for (const f of frames) {
      const whole = wholeTransferable(f);
      if (whole) {
        flushSmall();
        out.push(f);
        transfer.push(whole);
        this.counters.movedBytes += f.length;
      } else {
        small.push(f);
        smallBytes += f.length;
      }
    }
    flushSmall();
    const seq = ++this.seq;
    this.pending.push({ seq, from, lane, bytes });
    this.counters.batches++;
    this.counters.frames += frames.length;
    this.counters.bytes += bytes;
    const worker = this.ensureWorker();
    try {
      worker.postMessage({ seq, frames: out } satisfies DecodeRequest, transfer);
    } catch {
      // A buffer some transport hands us that cannot be moved (nothing is moved when the
      // clone fails): send copies instead.
      const copies = out.map((f) => new Uint8Array(f));
      this.counters.copiedBytes += bytes;
      worker.postMessage({ seq, frames: copies } satisfies DecodeRequest, copies.map((c) => c.buffer));
    }
  }

  /** Batches handed over and not answered yet. */
  get inFlight(): number {
    return this.pending.length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    this.worker = undefined;
    this.pending = [];
    if (worker) await worker.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker(siblingModuleUrl(import.meta.url, './decode-worker'), { name: 'partisan-decode' });
    // The worker must not keep the process alive on its own: lanes and timers do that.
    worker.unref();
    worker.on('message', (reply: DecodeReply) => this.onReply(worker, reply));
    worker.on('error', (err) => this.onDeath(worker, err));
    worker.on('exit', (code) => this.onDeath(worker, new Error(`decode worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private onReply(worker: Worker, reply: DecodeReply): void {
    if (worker !== this.worker) return;
    const p = this.pending.shift();
    if (!p || p.seq !== reply.seq) {
      // Cannot happen with one worker answering in order; treat it as a dead worker.
      if (p) this.pending.unshift(p);
      this.onDeath(worker, new Error(`decode worker answered batch ${reply.seq} out of order`));
      return;
    }
    p.lane.consumedBytes(p.bytes);
    if (reply.error) {
      this.events.malformed(p.from, p.lane, new WireError(reply.error.code as ErrorCode, reply.error.message));
      return;
    }
    if (reply.acks.length > 0) this.events.acks(p.from, reply.acks);
    if (reply.envelopes.length > 0) this.events.messages(p.from, p.lane, reply.binaries ? reply.envelopes.map(asBuffers) : reply.envelopes);
  }

  private onDeath(worker: Worker, error: Error): void {
    if (worker !== this.worker) return;
    this.worker = undefined;
    const lost = this.pending;
    this.pending = [];
    if (this.stopped) return;
    this.counters.restarts++;
    this.counters.lostBatches += lost.length;
    for (const p of lost) p.lane.consumedBytes(p.bytes);
    void worker.terminate();
    if (lost.length > 0) this.events.lost(lost.length, error);
  }
}

/**
 * Structured clone turns Buffers into plain Uint8Arrays; give the payload the Buffers a
 * main-thread decode would have produced (views, no copy). Searched as deep as the worker moved.
 */
function asBuffers(e: Envelope): Envelope {
  const payload = rebuffer(e[1], 0);
  if (payload === e[1]) return e;
  return e.length === 3 ? [e[0], payload, e[2]] : [e[0], payload];
}

function rebuffer(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object' || depth > PAYLOAD_SEARCH_DEPTH) return value;
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = rebuffer(value[i], depth + 1);
    return value;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) value.set(k, rebuffer(v, depth + 1));
    return value;
  }
  if (value instanceof Set || value instanceof Date || value instanceof RegExp || value instanceof Error) return value;
  const record = value as Record<string, unknown>;
  for (const k in record) record[k] = rebuffer(record[k], depth + 1);
  return value;
}
