import type { Clock } from '../util/clock.js';
import { isPartisanError, PartisanError, TransportError, WireError } from '../util/errors.js';
import {
  FrameDecoder,
  FrameSplitter,
  FrameType,
  FrameWriter,
  decodeRawFrame,
  type ControlBody,
  type Envelope,
  type Frame,
  type BufferPool,
  type WireCounters,
  type WireLimits,
} from '../wire/index.js';
import type { TransportStream } from '../transport/transport.js';
import type { ResolvedChannel } from '../channels/channel-options.js';
import type { PartitionKey } from '../channels/stream-selector.js';

/**
 * A lane is one long-lived bidirectional stream of one peer connection, carrying one
 * (channel, slot). Sending: messages wait in a bounded outbound queue, and a write loop packs
 * whatever is queued into one Message frame per ≤ writeBatchBytes and one transport write per
 * batch — never a native call per message. Receiving: ≥ 64 KiB chunks are split into frames
 * (on this thread) or handed on raw (to a channel worker).
 *
 * Flow control: receiver credits, per lane and direction. The sender may start a write only
 * while `sent < limit`; the receiver raises `limit` to consumed + creditBytes as it consumes.
 * An awaited write only means "buffered" (QUIC buffers up to the peer's window), so without
 * credits a bulk lane would queue megabytes ahead of everything else on the connection.
 * Control frames (credit, ping, acks) bypass both the queue and the credit check.
 */

/** The outbound queue a lane drains (src/channels/outbound-queue.ts implements it). */
export interface LaneQueue {
  /** Queue one message of `bytes` (estimated) bytes; may return a Promise (backpressure). */
  enqueue(item: Envelope, bytes: number, key?: PartitionKey): void | Promise<void>;
  /** Remove and return up to `maxMessages` items totalling about `maxBytes` (at least one). */
  take(maxMessages: number, maxBytes: number): Envelope[];
  readonly length: number;
  /** Estimated bytes queued. */
  readonly bytes: number;
  /** Estimated bytes of what the last `take` removed. */
  readonly lastTakeBytes: number;
  /** The lane died: drop what is queued (returned) and fail blocked senders with `error`. */
  close(error: PartisanError): Envelope[];
}

/** Where a lane delivers what it reads. */
export interface LaneSink {
  /** Decoded frames other than credit (decode mode). */
  frames(lane: Lane, frames: Frame[]): void;
  /**
   * Raw mode: whole undecoded frames (headers included) other than credit frames, for a
   * worker to decode. The sink must call `lane.consumedBytes(n)` once they are processed.
   */
  raw(lane: Lane, frames: Uint8Array[], bytes: number): void;
  /** The lane ended: cleanly (no error) or not. Called once. */
  closed(lane: Lane, error: Error | undefined): void;
  /** A message could not be sent (e.g. too large after all); it was dropped. */
  dropped(lane: Lane, count: number, error: PartisanError): void;
  /** Inbound bytes arrived (keepalive bookkeeping). */
  activity(): void;
}

export interface LaneOptions {
  peer: string;
  channel: ResolvedChannel;
  slot: number;
  stream: TransportStream;
  queue: LaneQueue;
  limits: WireLimits;
  counters: WireCounters;
  clock: Clock;
  sink: LaneSink;
  /** Hand frames on undecoded (a worker decodes this channel). Default false. */
  raw?: boolean;
  /** Reused write buffers (shared by the node's lanes). */
  pool?: BufferPool;
}

/** Most messages packed into one frame; bounds the work one flush step does. */
const MAX_BATCH_MESSAGES = 4096;

export class Lane {
  readonly peer: string;
  readonly channel: ResolvedChannel;
  readonly slot: number;
  readonly stream: TransportStream;
  private readonly queue: LaneQueue;
  private readonly limits: WireLimits;
  private readonly sink: LaneSink;
  private readonly decoder: FrameDecoder | undefined;
  private readonly splitter: FrameSplitter | undefined;
  /** Pre-encoded frames waiting to be written (raw mode's outbound side). */
  private encoded: Uint8Array[] = [];
  private encodedBytes = 0;
  private readonly writer: FrameWriter;
  private readonly pool: BufferPool | undefined;
  private control: ControlBody[] = [];
  private acks: number[] = [];
  private writing = false;
  private flushScheduled = false;
  private ended = false;
  /** Bytes this side wrote on the lane, ever. */
  private sent = 0;
  /** Bytes the peer allows us to have written (cumulative), from its credit frames. */
  private limit: number;
  /** Bytes this side consumed from the lane, ever, and what it last granted. */
  private consumed = 0;
  private grantedAt = 0;
  private creditWaiters: Array<() => void> = [];
  private closedReported = false;
  /** Estimated / real encoded size, learned per lane (≥ 1: estimates are upper bounds). */
  private estimateRatio = 1;

  constructor(options: LaneOptions) {
    this.peer = options.peer;
    this.channel = options.channel;
    this.slot = options.slot;
    this.stream = options.stream;
    this.queue = options.queue;
    this.limits = options.limits;
    this.sink = options.sink;
    if (options.raw) this.splitter = new FrameSplitter(options.limits.maxFrameSize, options.counters);
    else this.decoder = new FrameDecoder(options.limits.maxFrameSize, options.counters);
    this.pool = options.pool;
    this.writer = new FrameWriter(options.limits.maxFrameSize, options.limits.writeBatchBytes, options.counters, options.pool);
    this.limit = options.channel.creditBytes;
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** Messages waiting in this lane's outbound queue. */
  get queued(): number {
    return this.queue.length;
  }

  /** Start reading; `first` holds bytes that arrived behind the stream's handshake frame. */
  start(first: Uint8Array): void {
    void this.readLoop(first);
  }

  /** Queue one message. Throws ERR_QUEUE_FULL (policy `error`); returns a Promise when it must wait (`block`). */
  send(envelope: Envelope, bytes: number, key?: PartitionKey): void | Promise<void> {
    if (this.ended) throw new TransportError('ERR_NOT_CONNECTED', `lane ${this.channel.name}/${this.slot} to ${this.peer} is closed`);
    const waiting = this.queue.enqueue(envelope, bytes, key);
    this.scheduleFlush();
    return waiting;
  }

  /**
   * Queue whole pre-encoded frames (a worker packed them). Subject to credit like messages;
   * beyond the channel's byte bound the batch is dropped and reported, never buffered.
   */
  sendEncoded(frames: Uint8Array): boolean {
    if (this.ended) return false;
    if (this.encodedBytes + frames.length > this.channel.maxQueueBytes && this.encodedBytes > 0) {
      this.sink.dropped(this, 1, new PartisanError('ERR_QUEUE_FULL', `lane ${this.channel.name}/${this.slot} to ${this.peer} has ${this.encodedBytes} encoded bytes queued`));
      return false;
    }
    this.encoded.push(frames);
    this.encodedBytes += frames.length;
    this.scheduleFlush();
    return true;
  }

  /** Send a control frame ahead of queued messages (not subject to credit). */
  sendControl(body: ControlBody): void {
    if (this.ended) return;
    this.control.push(body);
    this.scheduleFlush();
  }

  /** Acknowledge message ids on this lane (batched into one Ack frame per flush). */
  sendAcks(ids: readonly number[]): void {
    if (this.ended) return;
    for (const id of ids) this.acks.push(id);
    this.scheduleFlush();
  }

  /** End our side cleanly after flushing what is queued. */
  async close(): Promise<void> {
    if (this.ended) return;
    await this.drain();
    this.ended = true;
    try {
      await this.stream.end();
    } catch {
      // Peer already gone.
    }
  }

  /** Drop the lane now. */
  abort(error?: Error): void {
    this.finish(error ?? new TransportError('ERR_TRANSPORT_CLOSED', 'lane aborted'));
    this.stream.abort(error);
  }

  /** Wait until everything queued has been handed to the transport. */
  async drain(): Promise<void> {
    while (!this.ended && (this.queue.length > 0 || this.encoded.length > 0 || this.writing || this.flushScheduled || this.control.length > 0)) {
      await new Promise<void>((resolve) => this.creditWaiters.push(resolve));
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.writing) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: every send of the current macrotask joins the batch.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.writing || this.ended) return;
    this.writing = true;
    void this.writeLoop();
  };

  private async writeLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.ended) return;
        this.packControl();
        // Fill one write up to writeBatchBytes of real bytes: each native write costs a round
        // trip to the transport's thread, so fewer, fuller writes are what sets throughput.
        const batchBytes = this.limits.writeBatchBytes;
        while (this.writer.pendingBytes < batchBytes && this.sent + this.writer.pendingBytes < this.limit) {
          const room = Math.min(batchBytes - this.writer.pendingBytes, this.limit - this.sent - this.writer.pendingBytes);
          if (this.encoded.length > 0) this.packEncoded(room);
          else if (this.queue.length > 0) this.packMessages(room);
          else break;
        }
        const buffers = this.writer.takeAll();
        if (buffers.length === 0) break;
        for (const bytes of buffers) {
          this.sent += bytes.length;
          await this.stream.write(bytes);
          // Written means the transport let go of it: the buffer can serve the next batch.
          this.pool?.release(bytes);
        }
      }
    } catch (err) {
      this.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.writing = false;
      this.wake();
    }
  }

  private packControl(): void {
    if (this.acks.length > 0) {
      const ids = this.acks;
      this.acks = [];
      // Chunk so no Ack frame approaches the frame limit.
      for (let i = 0; i < ids.length; i += 65_536) this.writer.add({ type: FrameType.Ack, ids: ids.slice(i, i + 65_536) });
    }
    if (this.control.length > 0) {
      const bodies = this.control;
      this.control = [];
      for (const body of bodies) this.writer.add({ type: FrameType.Control, body });
    }
  }

  private packEncoded(allowance: number): void {
    let budget = Math.max(1, Math.min(allowance, this.limits.writeBatchBytes));
    while (this.encoded.length > 0 && budget > 0) {
      const frames = this.encoded.shift()!;
      this.encodedBytes -= frames.length;
      this.writer.addEncoded(frames);
      budget -= frames.length;
    }
  }

  /**
   * One Message frame of about `room` real bytes. Queue sizes are upper-bound estimates
   * (records encode far smaller), so the ratio seen so far scales how many estimated bytes to take.
   */
  private packMessages(room: number): void {
    const batch = this.queue.take(MAX_BATCH_MESSAGES, Math.max(1, room * this.estimateRatio));
    if (batch.length === 0) return;
    // Not `bytes` before minus after: a take lets blocked senders in, which refills the queue.
    const estimated = this.queue.lastTakeBytes;
    const written = this.packBatch(batch);
    if (written > 0 && estimated > 0) this.estimateRatio = Math.max(1, this.estimateRatio * 0.75 + (estimated / written) * 0.25);
  }

  /** Pack a batch into frames (bytes written); a batch over the frame limit is split, a single oversized message dropped. */
  private packBatch(batch: Envelope[]): number {
    try {
      return this.writer.addMessages(batch);
    } catch (err) {
      if (!isPartisanError(err, 'ERR_WIRE_FRAME_TOO_LARGE')) throw err;
      if (batch.length === 1) {
        this.sink.dropped(this, 1, err);
        return 0;
      }
      const half = batch.length >> 1;
      return this.packBatch(batch.slice(0, half)) + this.packBatch(batch.slice(half));
    }
  }

  private async readLoop(first: Uint8Array): Promise<void> {
    try {
      if (first.length > 0) this.consume(first);
      for (;;) {
        const chunk = await this.stream.read();
        if (chunk === null) {
          this.finish(undefined);
          return;
        }
        this.consume(chunk);
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (err instanceof WireError) this.stream.abort(err);
      this.finish(error);
    }
  }

  private consume(chunk: Uint8Array): void {
    this.sink.activity();
    if (this.splitter) {
      this.consumeRaw(chunk, this.splitter);
      return;
    }
    const frames = this.decoder!.push(chunk);
    let deliver = frames;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if (f.type === FrameType.Control && f.body.t === 'credit') {
        // Strip credit frames out of what the sink sees (rarely present; copy only then).
        deliver = frames.filter((x) => !(x.type === FrameType.Control && x.body.t === 'credit'));
        for (const c of frames) if (c.type === FrameType.Control && c.body.t === 'credit') this.onCredit(c.body);
        break;
      }
    }
    if (deliver.length > 0) this.sink.frames(this, deliver);
    this.consumedBytes(chunk.length);
  }

  /** Raw mode: credit frames are handled here, everything else goes to the sink undecoded. */
  private consumeRaw(chunk: Uint8Array, splitter: FrameSplitter): void {
    const frames = splitter.push(chunk);
    const handed: Uint8Array[] = [];
    let handedBytes = 0;
    let creditBytes = 0;
    for (const f of frames) {
      if (f[4] === FrameType.Control) {
        const frame = decodeRawFrame(f);
        if (frame.type === FrameType.Control && frame.body.t === 'credit') {
          this.onCredit(frame.body);
          creditBytes += f.length;
          continue;
        }
      }
      handed.push(f);
      handedBytes += f.length;
    }
    // Every byte belongs to one frame: credit frames are consumed here, the sink reports the rest.
    if (creditBytes > 0) this.consumedBytes(creditBytes);
    if (handed.length > 0) this.sink.raw(this, handed, handedBytes);
  }

  /** Account bytes as consumed and grant the peer more room when a quarter window was used. */
  consumedBytes(n: number): void {
    this.consumed += n;
    if (this.consumed - this.grantedAt >= this.channel.creditBytes / 4) {
      this.grantedAt = this.consumed;
      this.sendControl({ t: 'credit', limit: this.consumed + this.channel.creditBytes });
    }
  }

  private onCredit(body: ControlBody): void {
    const limit = body.limit;
    if (typeof limit !== 'number' || !(limit > this.limit)) return;
    this.limit = limit;
    if (this.queue.length > 0) this.scheduleFlush();
  }

  private finish(error: Error | undefined): void {
    if (this.closedReported) return;
    this.closedReported = true;
    this.ended = true;
    const closedError = new PartisanError('ERR_NOT_CONNECTED', `lane ${this.channel.name}/${this.slot} to ${this.peer} closed`, error ? { cause: error } : {});
    const dropped = this.queue.close(closedError).length + this.encoded.length;
    this.encoded = [];
    this.encodedBytes = 0;
    if (dropped > 0) {
      this.sink.dropped(this, dropped, new PartisanError('ERR_NOT_CONNECTED', `lane ${this.channel.name}/${this.slot} to ${this.peer} closed with ${dropped} messages queued`));
    }
    this.wake();
    this.sink.closed(this, error);
  }

  private wake(): void {
    const waiters = this.creditWaiters;
    this.creditWaiters = [];
    for (const w of waiters) w();
  }
}
