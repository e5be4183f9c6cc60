/**
 * The benchmark's traffic: real partisan-ts wire frames (a Message frame whose one envelope
 * carries a binary payload), batched by the wire layer's FrameWriter into ~64 KiB writes.
 * Every frame carries its send time; the receiver counts frames by their length prefix
 * (checking the type byte) and reads that time, but does not msgpack-decode bodies: that
 * would measure msgpackr, not the transport.
 */
import type { Histogram } from 'hdr-histogram-js';
import { DEFAULT_WIRE_LIMITS, FRAME_HEADER_BYTES, FrameType, FrameWriter, encodeFrame } from '../../src/wire/index.js';
import { latencyHistogram, wallClockMs } from '../lib/histogram.js';

export { latencyHistogram, wallClockMs };

const STAMP_BYTES = 8;

export interface FrameTemplate {
  /** One complete frame (header included) of exactly the asked size. */
  frame: Buffer;
  /** Offset of the 8-byte send time (float64 LE ms) inside the frame. */
  stampOffset: number;
}

/** A Message frame `[[0, <payload>]]` whose total encoded size is exactly `frameBytes`. */
export function frameTemplate(frameBytes: number): FrameTemplate {
  // The payload is the frame's tail; msgpack spends 2, 3 or 5 bytes on a bin header.
  for (const overhead of [10, 11, 13]) {
    const payloadBytes = frameBytes - overhead;
    if (payloadBytes < STAMP_BYTES) continue;
    const frame = encodeFrame({ type: FrameType.Message, messages: [[0, Buffer.alloc(payloadBytes)]] }, DEFAULT_WIRE_LIMITS.maxFrameSize);
    if (frame.length === frameBytes) return { frame, stampOffset: frameBytes - payloadBytes };
  }
  throw new RangeError(`cannot build a frame of exactly ${frameBytes} bytes (minimum ${10 + STAMP_BYTES})`);
}

/** Produces stamped batches: as many whole frames as fit in `batchBytes` (at least one). */
export class BatchSource {
  readonly framesPerBatch: number;
  private readonly writer: FrameWriter;

  constructor(
    private readonly template: FrameTemplate,
    batchBytes: number,
  ) {
    this.framesPerBatch = Math.max(1, Math.floor(batchBytes / template.frame.length));
    this.writer = new FrameWriter(DEFAULT_WIRE_LIMITS.maxFrameSize, batchBytes);
  }

  /** A fresh buffer (a transport may hold a written one until its write resolves). */
  next(): Buffer {
    // All frames of a batch leave in one write, so they share the time the batch was built.
    const stamped = Buffer.from(this.template.frame);
    stamped.writeDoubleLE(wallClockMs(), this.template.stampOffset);
    for (let i = 0; i < this.framesPerBatch; i++) this.writer.addEncoded(stamped);
    return this.writer.take()!;
  }
}

/**
 * Counts the frames of one stream, whatever the chunk boundaries, and records each frame's
 * latency. Frames received before `measureFrom` (warm-up) are counted apart.
 */
export class FrameCounter {
  frames = 0;
  bytes = 0;
  warmupFrames = 0;
  private readonly prefix: Buffer;
  private prefixFill = 0;
  /** Bytes of the current frame still to skip after its prefix. */
  private skip = 0;

  constructor(
    private readonly stampOffset: number,
    private readonly histogram: Histogram,
    private readonly measureFrom: () => number,
  ) {
    this.prefix = Buffer.alloc(stampOffset + STAMP_BYTES);
  }

  push(chunk: Uint8Array, now: number): void {
    const measuring = now >= this.measureFrom();
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const prefixBytes = this.prefix.length;
    const end = chunk.length;
    let offset = 0;
    // Consecutive frames of a batch share a stamp: record them with one call.
    let runStamp = 0;
    let runCount = 0;
    let frames = 0;
    while (offset < end) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, end - offset);
        this.skip -= take;
        offset += take;
        continue;
      }
      let length: number;
      let type: number;
      let stamp: number;
      if (this.prefixFill === 0 && end - offset >= prefixBytes) {
        length = view.getUint32(offset);
        type = chunk[offset + 4]!;
        stamp = view.getFloat64(offset + this.stampOffset, true);
        offset += prefixBytes;
      } else {
        const take = Math.min(prefixBytes - this.prefixFill, end - offset);
        this.prefix.set(chunk.subarray(offset, offset + take), this.prefixFill);
        this.prefixFill += take;
        offset += take;
        if (this.prefixFill < prefixBytes) break;
        this.prefixFill = 0;
        length = this.prefix.readUInt32BE(0);
        type = this.prefix[4]!;
        stamp = this.prefix.readDoubleLE(this.stampOffset);
      }
      if (type !== FrameType.Message) throw new Error(`unexpected frame type ${type} after ${this.frames + this.warmupFrames} frames`);
      this.skip = FRAME_HEADER_BYTES + length - prefixBytes;
      frames++;
      if (!measuring) continue;
      if (stamp !== runStamp) {
        if (runCount > 0) this.record(now - runStamp, runCount);
        runStamp = stamp;
        runCount = 0;
      }
      runCount++;
    }
    if (runCount > 0) this.record(now - runStamp, runCount);
    if (measuring) {
      this.frames += frames;
      this.bytes += end;
    } else {
      this.warmupFrames += frames;
    }
  }

  private record(latencyMs: number, count: number): void {
    this.histogram.recordValueWithCount(Math.max(1, Math.round(latencyMs * 1000)), count);
  }
}
