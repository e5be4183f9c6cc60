import { Packr, Unpackr } from 'msgpackr';
import { WireError } from '../util/errors.js';
import type { BufferPool } from './buffer-pool.js';
import {
  FRAME_HEADER_BYTES,
  FrameType,
  isFrameType,
  type ControlBody,
  type Envelope,
  type Frame,
  type FrameTypeCode,
  type HandshakeBody,
} from './frame.js';

/*
 * One Packr/Unpackr per thread is enough: no `structures` option means record definitions are
 * written inline in each pack() call and forgotten afterwards, so frames share no state.
 */
const packr = new Packr({ useRecords: true, bundleStrings: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: true, bundleStrings: false, moreTypes: false });

/** Counters a stream's decoder and encoder add to; one object may be shared by many streams. */
export interface WireCounters {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Incoming frames rejected: malformed bodies, unknown types, protocol violations. */
  malformedFrames: number;
  /** Incoming frames whose declared length exceeded maxFrameSize. */
  oversizedFrames: number;
  /** Outgoing frames refused before sending because they exceeded maxFrameSize. */
  oversizedOutgoing: number;
}

export function newWireCounters(): WireCounters {
  return { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, malformedFrames: 0, oversizedFrames: 0, oversizedOutgoing: 0 };
}

function bodyOf(frame: Frame): unknown {
  switch (frame.type) {
    case FrameType.Handshake:
      return frame.body;
    case FrameType.Message:
      return frame.messages;
    case FrameType.Ack:
      return frame.ids;
    case FrameType.Control:
      return frame.body;
  }
}

function tooLarge(size: number, maxFrameSize: number, counters?: WireCounters): WireError {
  if (counters) counters.oversizedOutgoing++;
  return new WireError('ERR_WIRE_FRAME_TOO_LARGE', `frame body of ${size} bytes exceeds maxFrameSize ${maxFrameSize}`, {
    details: { size, maxFrameSize },
  });
}

/**
 * Encode one frame (header included) into a fresh buffer the caller owns. Throws
 * ERR_WIRE_FRAME_TOO_LARGE, having produced nothing, when the body is over the limit.
 */
export function encodeFrame(frame: Frame, maxFrameSize: number, counters?: WireCounters): Buffer {
  const body = packr.pack(bodyOf(frame));
  if (body.length > maxFrameSize) throw tooLarge(body.length, maxFrameSize, counters);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  out[4] = frame.type;
  out.set(body, FRAME_HEADER_BYTES);
  if (counters) {
    counters.framesOut++;
    counters.bytesOut += out.length;
  }
  return out;
}

/**
 * Size of `value` once msgpack-encoded, from above, for cheap checks before packing: the
 * outbound queue's byte accounting and the synchronous "too large" check on send. Walks at
 * most until the running total passes `stopAbove`.
 */
export function estimateEncodedSize(value: unknown, stopAbove = Number.MAX_SAFE_INTEGER): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && total <= stopAbove) {
    const v = stack.pop();
    switch (typeof v) {
      case 'string':
        total += (v.length < 256 ? v.length * 3 : Buffer.byteLength(v)) + 5;
        break;
      case 'number':
      case 'bigint':
        total += 9;
        break;
      case 'object':
        if (v === null) {
          total += 1;
        } else if (ArrayBuffer.isView(v)) {
          total += v.byteLength + 6;
        } else if (v instanceof ArrayBuffer) {
          total += v.byteLength + 6;
        } else if (Array.isArray(v)) {
          total += 5;
          for (let i = 0; i < v.length; i++) stack.push(v[i]);
        } else if (v instanceof Map) {
          total += 5;
          for (const [k, x] of v) stack.push(k, x);
        } else if (v instanceof Set) {
          total += 8;
          for (const x of v) stack.push(x);
        } else if (v instanceof Date) {
          total += 15;
        } else {
          total += 8;
          for (const k in v) {
            total += k.length * 3 + 2;
            stack.push((v as Record<string, unknown>)[k]);
          }
        }
        break;
      default:
        total += 3;
    }
  }
  return total;
}

/** Exact encoded size of one value (packs it; use only where the estimate says "maybe too big"). */
export function exactEncodedSize(value: unknown): number {
  return packr.pack(value).length;
}

/**
 * Collects frames into large buffers so a stream sees one native write per ~64 KiB instead of
 * one per frame. The buffers it hands out are fresh: the transport may keep referencing a
 * written buffer until its write resolves, so nothing here is ever reused.
 */
export class FrameWriter {
  private chunks: Buffer[] = [];
  private current: Buffer | undefined;
  private used = 0;
  private pending = 0;

  constructor(
    private readonly maxFrameSize: number,
    private readonly batchBytes: number,
    private readonly counters?: WireCounters,
    /** Where write buffers come from; the caller releases what `takeAll` returned after writing it. */
    private readonly pool?: BufferPool,
  ) {}

  /** Bytes added and not yet taken. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Encode and append one frame; throws ERR_WIRE_FRAME_TOO_LARGE and appends nothing if too large. */
  add(frame: Frame): number {
    return this.addBody(frame.type, packr.pack(bodyOf(frame)));
  }

  /** Append a batch of messages as one Message frame. */
  addMessages(messages: readonly Envelope[]): number {
    return this.addBody(FrameType.Message, packr.pack(messages));
  }

  /** Append an already encoded frame (header included). */
  addEncoded(frame: Uint8Array): void {
    this.flushCurrent();
    this.chunks.push(Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
    this.pending += frame.length;
  }

  /**
   * Everything added so far as buffers to write in order, without copying them together.
   * With a pool, each is a view of a pooled buffer: release it once its write resolved.
   */
  takeAll(): Buffer[] {
    this.flushCurrent();
    const out = this.chunks;
    this.chunks = [];
    this.pending = 0;
    return out;
  }

  /** Everything added so far, as one buffer, or undefined when nothing is pending. */
  take(): Buffer | undefined {
    this.flushCurrent();
    if (this.chunks.length === 0) return undefined;
    const out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.pending);
    this.chunks = [];
    this.pending = 0;
    return out;
  }

  private addBody(type: FrameTypeCode, body: Uint8Array): number {
    if (body.length > this.maxFrameSize) throw tooLarge(body.length, this.maxFrameSize, this.counters);
    const size = FRAME_HEADER_BYTES + body.length;
    if (this.current && this.used + size > this.current.length) this.flushCurrent();
    if (!this.current) {
      const capacity = Math.max(this.batchBytes, size);
      this.current = this.pool ? this.pool.acquire(capacity) : Buffer.allocUnsafe(capacity);
      this.used = 0;
    }
    const buf = this.current;
    buf.writeUInt32BE(body.length, this.used);
    buf[this.used + 4] = type;
    buf.set(body, this.used + FRAME_HEADER_BYTES);
    this.used += size;
    this.pending += size;
    if (this.counters) {
      this.counters.framesOut++;
      this.counters.bytesOut += size;
    }
    return size;
  }

  private flushCurrent(): void {
    if (this.current && this.used > 0) this.chunks.push(this.current.subarray(0, this.used));
    else if (this.current) this.pool?.release(this.current);
    this.current = undefined;
    this.used = 0;
  }
}

/** Decode a frame body of a known type; any failure is ERR_WIRE_MALFORMED_FRAME. */
export function decodeFrameBody(type: number, body: Uint8Array): Frame {
  if (!isFrameType(type)) {
    throw new WireError('ERR_WIRE_UNKNOWN_FRAME_TYPE', `unknown frame type 0x${type.toString(16)}`, { details: { type } });
  }
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch (err) {
    throw malformed(`undecodable ${frameTypeName(type)} body: ${(err as Error).message}`, err);
  }
  switch (type) {
    case FrameType.Handshake:
      return { type, body: checkHandshake(value) };
    case FrameType.Message:
      return { type, messages: checkMessages(value) };
    case FrameType.Ack:
      return { type, ids: checkAcks(value) };
    case FrameType.Control:
      return { type, body: checkControl(value) };
  }
}

export function frameTypeName(type: number): string {
  switch (type) {
    case FrameType.Handshake:
      return 'handshake';
    case FrameType.Message:
      return 'message';
    case FrameType.Ack:
      return 'ack';
    case FrameType.Control:
      return 'control';
    default:
      return `type-0x${type.toString(16)}`;
  }
}

function malformed(message: string, cause?: unknown): WireError {
  return new WireError('ERR_WIRE_MALFORMED_FRAME', message, cause === undefined ? {} : { cause });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && !(v instanceof Map);
}

const HANDSHAKE_FIELDS: Record<string, Record<string, 'string' | 'number'>> = {
  hello: { version: 'number', clusterId: 'string', node: 'string', expect: 'string', incarnation: 'number' },
  welcome: { version: 'number', clusterId: 'string', node: 'string', incarnation: 'number' },
  refuse: { code: 'string', reason: 'string' },
  stream: { version: 'number', channel: 'string', slot: 'number' },
};

function checkHandshake(value: unknown): HandshakeBody {
  if (!isPlainObject(value) || typeof value.t !== 'string') throw malformed('handshake body is not an object with a type');
  const fields = HANDSHAKE_FIELDS[value.t];
  if (!fields) throw malformed(`unknown handshake type ${JSON.stringify(value.t)}`);
  for (const [name, kind] of Object.entries(fields)) {
    if (typeof value[name] !== kind) throw malformed(`handshake ${value.t}: field ${name} must be a ${kind}`);
  }
  if (value.cert !== undefined && !(value.cert instanceof Uint8Array)) throw malformed(`handshake ${value.t}: cert must be bytes`);
  return value as unknown as HandshakeBody;
}

function checkMessages(value: unknown): Envelope[] {
  if (!Array.isArray(value)) throw malformed('message body is not an array');
  for (let i = 0; i < value.length; i++) {
    const e = value[i] as unknown;
    if (!Array.isArray(e) || e.length < 2 || e.length > 3) throw malformed(`message ${i} is not [target, payload, meta?]`);
    const target = e[0] as unknown;
    if (typeof target !== 'number' && typeof target !== 'string') throw malformed(`message ${i} has a bad target`);
    if (e.length === 3 && !isPlainObject(e[2])) throw malformed(`message ${i} has a bad meta`);
  }
  return value as Envelope[];
}

function checkAcks(value: unknown): number[] {
  if (!Array.isArray(value)) throw malformed('ack body is not an array');
  for (const id of value) if (typeof id !== 'number') throw malformed('ack id is not a number');
  return value as number[];
}

function checkControl(value: unknown): ControlBody {
  if (!isPlainObject(value) || typeof value.t !== 'string') throw malformed('control body is not an object with a type');
  return value as ControlBody;
}

/**
 * Splits a byte stream into frames and decodes them. Chunks may cut frames anywhere; frames
 * wholly inside a chunk are decoded in place, a frame spread over chunks is assembled into one
 * buffer sized from its header (see FrameSplitter). The first bad frame throws a WireError and
 * the decoder stays failed: the caller closes the stream (a stream that lied once cannot be
 * re-synchronised). Frames decoded before the bad one in the same chunk are lost with it; the
 * stream is closing anyway.
 */
export class FrameDecoder {
  private readonly splitter: FrameSplitter;
  private failed: WireError | undefined;

  constructor(
    maxFrameSize: number,
    private readonly counters?: WireCounters,
  ) {
    this.splitter = new FrameSplitter(maxFrameSize, counters);
  }

  /** True while a frame is partly received (useful to tell a clean end from a cut one). */
  get midFrame(): boolean {
    return this.splitter.midFrame;
  }

  /** The frames completed by `chunk`, in order. Throws a WireError on the first bad frame. */
  push(chunk: Uint8Array): Frame[] {
    if (this.failed) throw this.failed;
    const raw = this.splitter.push(chunk);
    const out: Frame[] = new Array(raw.length);
    try {
      for (let i = 0; i < raw.length; i++) out[i] = decodeRawFrame(raw[i]!);
    } catch (err) {
      this.failed = err instanceof WireError ? err : malformed(`frame decoding failed: ${(err as Error).message}`, err);
      if (this.counters) this.counters.malformedFrames++;
      throw this.failed;
    }
    return out;
  }
}

function readLength(chunk: Uint8Array, offset: number): number {
  return ((chunk[offset]! << 24) >>> 0) + (chunk[offset + 1]! << 16) + (chunk[offset + 2]! << 8) + chunk[offset + 3]!;
}

/**
 * Pull the first complete frame off the front of `bytes`: `{ frame, rest }`, or undefined when
 * more bytes are needed. Used where a stream's first frame (its handshake) decides what the
 * rest of the stream is — the rest may be decoded here or handed on raw to a worker.
 */
export function splitFirstFrame(bytes: Uint8Array, maxFrameSize: number): { frame: Frame; rest: Uint8Array } | undefined {
  if (bytes.length < FRAME_HEADER_BYTES) return undefined;
  const length = readLength(bytes, 0);
  const type = bytes[4]!;
  if (length > maxFrameSize) {
    throw new WireError('ERR_WIRE_FRAME_TOO_LARGE', `incoming frame of ${length} bytes exceeds maxFrameSize ${maxFrameSize}`, {
      details: { size: length, maxFrameSize },
    });
  }
  if (bytes.length < FRAME_HEADER_BYTES + length) return undefined;
  const frame = decodeFrameBody(type, bytes.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length));
  return { frame, rest: bytes.subarray(FRAME_HEADER_BYTES + length) };
}

/**
 * Splits a byte stream into whole raw frames without decoding bodies — what the main thread
 * does for a channel whose frames a worker decodes. Frames inside one chunk come back as
 * views into it; a frame spread over chunks is copied into one buffer. Because every frame is
 * self-contained, a worker that restarts loses only the frames it was holding, never the
 * stream's sync. Header checks (size, type) are done here, so a bad peer is cut off early.
 */
export class FrameSplitter {
  private header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;
  private failed: WireError | undefined;

  constructor(
    private readonly maxFrameSize: number,
    private readonly counters?: WireCounters,
  ) {}

  /** True while a frame is partly received. */
  get midFrame(): boolean {
    return this.headerFill > 0 || this.body !== undefined;
  }

  /** Whole frames (header included) completed by `chunk`. Throws a WireError on a bad header. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw this.failed;
    if (this.counters) this.counters.bytesIn += chunk.length;
    const out: Uint8Array[] = [];
    try {
      let offset = 0;
      const end = chunk.length;
      while (offset < end) {
        if (this.body) {
          const take = Math.min(end - offset, this.body.length - this.bodyFill);
          this.body.set(chunk.subarray(offset, offset + take), this.bodyFill);
          this.bodyFill += take;
          offset += take;
          if (this.bodyFill === this.body.length) {
            out.push(this.body);
            this.body = undefined;
          }
          continue;
        }
        if (this.headerFill === 0 && end - offset >= FRAME_HEADER_BYTES) {
          const length = readLength(chunk, offset);
          this.check(length, chunk[offset + 4]!);
          if (end - offset >= FRAME_HEADER_BYTES + length) {
            out.push(chunk.subarray(offset, offset + FRAME_HEADER_BYTES + length));
            offset += FRAME_HEADER_BYTES + length;
          } else {
            this.start(chunk.subarray(offset, offset + FRAME_HEADER_BYTES), length);
            offset += FRAME_HEADER_BYTES;
          }
          continue;
        }
        const take = Math.min(end - offset, FRAME_HEADER_BYTES - this.headerFill);
        this.header.set(chunk.subarray(offset, offset + take), this.headerFill);
        this.headerFill += take;
        offset += take;
        if (this.headerFill === FRAME_HEADER_BYTES) {
          this.headerFill = 0;
          const length = this.header.readUInt32BE(0);
          this.check(length, this.header[4]!);
          if (length === 0) out.push(Buffer.from(this.header));
          else this.start(this.header, length);
        }
      }
    } catch (err) {
      this.failed = err instanceof WireError ? err : malformed(`frame splitting failed: ${(err as Error).message}`, err);
      if (this.counters) {
        if (this.failed.code === 'ERR_WIRE_FRAME_TOO_LARGE') this.counters.oversizedFrames++;
        else this.counters.malformedFrames++;
      }
      throw this.failed;
    }
    if (this.counters) this.counters.framesIn += out.length;
    return out;
  }

  private check(length: number, type: number): void {
    if (length > this.maxFrameSize) {
      throw new WireError('ERR_WIRE_FRAME_TOO_LARGE', `incoming frame of ${length} bytes exceeds maxFrameSize ${this.maxFrameSize}`, {
        details: { size: length, maxFrameSize: this.maxFrameSize },
      });
    }
    if (!isFrameType(type)) throw new WireError('ERR_WIRE_UNKNOWN_FRAME_TYPE', `unknown frame type 0x${type.toString(16)}`, { details: { type } });
  }

  private start(header: Uint8Array, length: number): void {
    this.body = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
    this.body.set(header, 0);
    this.bodyFill = FRAME_HEADER_BYTES;
  }
}

/** Decode the whole frames `FrameSplitter` produced (header included). */
export function decodeRawFrame(frame: Uint8Array): Frame {
  return decodeFrameBody(frame[4]!, frame.subarray(FRAME_HEADER_BYTES));
}
