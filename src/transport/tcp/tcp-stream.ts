import type { Socket } from 'node:net';
import { TransportError } from '../../util/errors.js';
import type { TransportStream } from '../transport.js';

/** What a stream needs from its connection: the control channel, and being forgotten. */
export interface StreamOwner {
  sendEnd(streamId: number, bytes: number): void;
  sendReset(streamId: number): void;
  streamFinished(stream: TcpStream): void;
}

export interface StreamBuffers {
  /** Bytes queued unread before the socket is paused. */
  readBufferBytes: number;
  /** Largest chunk read() builds by merging queued chunks. */
  readChunkBytes: number;
}

const RESOLVED = Promise.resolve();

export function streamReset(message: string, cause?: unknown): TransportError {
  return new TransportError('ERR_TRANSPORT_STREAM_RESET', message, cause === undefined ? {} : { cause });
}

interface ReadWaiter {
  resolve: (chunk: Uint8Array | null) => void;
  reject: (err: Error) => void;
}

interface WriteWaiter {
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * One stream = one socket. User bytes pass through untouched; the stream's clean end (END with
 * a byte count) and its reset (RESET) travel on the connection's primary socket, see
 * tcp-wire.ts. So a FIN or an error on this socket never decides the read side by itself: it
 * fails our write side at once, and the read side waits for the peer's END or RESET, or for
 * the connection's death. That keeps a killed peer (FIN on every socket) a connection-level
 * event: pending reads reject together with `closed`, never before it.
 *
 * RESET rule: each side sends one RESET for a stream it abandons, and a side that receives a
 * RESET abandons the stream and answers with its own, so a side waiting on a dead socket
 * always hears back.
 */
export class TcpStream implements TransportStream {
  readonly id: string;

  // Read side: chunks the socket delivered and nobody has read yet.
  private queue: Buffer[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private received = 0;
  /** Total bytes the peer wrote before its END; -1 until END arrives. */
  private peerEndAt = -1;
  private readWaiter: ReadWaiter | undefined;
  private paused = false;
  private socketGone = false;

  // Write side.
  private written = 0;
  private writeEnded = false;
  private writeError: Error | undefined;
  private writeSeq = 0;
  private flushedSeq = 0;
  private writeWaiters: WriteWaiter[] = [];

  /** Set when the stream failed: every read and write rejects with it. */
  private error: Error | undefined;
  private resetSent = false;
  private finished = false;

  constructor(
    readonly streamId: number,
    private readonly socket: Socket,
    private readonly owner: StreamOwner,
    private readonly buffers: StreamBuffers,
  ) {
    this.id = String(streamId);
    this.onFlushed = this.onFlushed.bind(this);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onSocketGone(undefined));
    socket.on('close', () => this.onSocketGone(undefined));
    socket.on('error', (err) => this.onSocketGone(err));
  }

  /** Whether the stream failed (reset, or its connection died). */
  get failed(): boolean {
    return this.error !== undefined;
  }

  // ---- TransportStream ----

  read(): Promise<Uint8Array | null> {
    if (this.queuedBytes > 0) return Promise.resolve(this.take());
    if (this.error) return Promise.reject(this.error);
    if (this.readDone()) return Promise.resolve(null);
    if (this.readWaiter) return Promise.reject(new TransportError('ERR_TRANSPORT_CLOSED', `concurrent read() on stream ${this.id}`));
    return new Promise((resolve, reject) => {
      this.readWaiter = { resolve, reject };
    });
  }

  write(chunk: Uint8Array): Promise<void> {
    const refused = this.error ?? this.writeError;
    if (refused) return Promise.reject(refused);
    if (this.writeEnded) return Promise.reject(new TransportError('ERR_TRANSPORT_CLOSED', `stream ${this.id} is ended for writing`));
    if (chunk.byteLength === 0) return RESOLVED;
    this.written += chunk.byteLength;
    const seq = ++this.writeSeq;
    this.socket.write(chunk, this.onFlushed);
    // Node keeps a reference to `chunk` until the kernel took it, and the caller may reuse its
    // buffer once write() resolved: resolve now only when the socket took everything at once.
    if (this.socket.writableLength === 0) return RESOLVED;
    return new Promise((resolve, reject) => {
      this.writeWaiters.push({ seq, resolve, reject });
    });
  }

  async end(): Promise<void> {
    if (this.writeEnded || this.error || this.writeError) return;
    this.writeEnded = true;
    this.owner.sendEnd(this.streamId, this.written);
    this.maybeFinish();
  }

  abort(reason?: Error): void {
    if (this.finished) return;
    this.sendResetOnce();
    this.fail(streamReset(`stream ${this.id} aborted locally`, reason));
  }

  // ---- events from the connection's primary socket ----

  /** The peer's END: it wrote `bytes` bytes in total. */
  peerEnded(bytes: number): void {
    if (this.finished || this.peerEndAt >= 0) return;
    if (bytes < this.received || (this.socketGone && bytes > this.received)) {
      this.sendResetOnce();
      this.fail(streamReset(`stream ${this.id}: peer ended at ${bytes} bytes, ${this.received} arrived`));
      return;
    }
    this.peerEndAt = bytes;
    this.settleReadEnd();
    this.maybeFinish();
  }

  /** The peer abandoned the stream; answer with our own RESET (it may be waiting for one). */
  peerReset(): void {
    if (this.finished) return;
    this.sendResetOnce();
    this.fail(streamReset(`stream ${this.id} reset by peer`));
  }

  /** Fail everything now (the connection died, or a reset): no more messages are sent. */
  fail(err: Error): void {
    if (this.finished) return;
    this.error = err;
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    const reader = this.readWaiter;
    this.readWaiter = undefined;
    reader?.reject(err);
    this.failWrites(err);
    this.finish();
    this.socket.destroy();
  }

  // ---- socket events ----

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    this.received += chunk.length;
    if (this.peerEndAt >= 0 && this.received > this.peerEndAt) {
      this.sendResetOnce();
      this.fail(streamReset(`stream ${this.id}: bytes after the peer's end`));
      return;
    }
    const reader = this.readWaiter;
    if (reader) {
      // The reader keeps up: hand the chunk over as is, no queueing, no copy.
      this.readWaiter = undefined;
      reader.resolve(chunk);
    } else {
      this.queue.push(chunk);
      this.queuedBytes += chunk.length;
      if (this.queuedBytes >= this.buffers.readBufferBytes && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
    }
    if (this.peerEndAt === this.received) {
      this.settleReadEnd();
      this.maybeFinish();
    }
  }

  /**
   * FIN, close or error on this socket before the stream finished. The peer FINs cleanly only
   * after our END, so with our side still open this is abandonment: fail our writes and say
   * RESET. An error means bytes may be lost: RESET too. The read side waits for the primary.
   */
  private onSocketGone(err: Error | undefined): void {
    this.socketGone = true;
    if (this.finished) return;
    if (err || !this.writeEnded) {
      this.sendResetOnce();
      this.failWrites(streamReset(`stream ${this.id}: socket ${err ? `error ${(err as NodeJS.ErrnoException).code ?? err.message}` : 'closed by peer'}`, err));
    }
    if (this.peerEndAt >= 0 && this.received < this.peerEndAt) {
      this.fail(streamReset(`stream ${this.id}: socket closed after ${this.received} of ${this.peerEndAt} bytes`));
      return;
    }
    this.maybeFinish();
  }

  private onFlushed(err?: Error | null): void {
    this.flushedSeq++;
    if (err) {
      this.failWrites(this.error ?? streamReset(`stream ${this.id}: write failed`, err));
      return;
    }
    const writers = this.writeWaiters;
    let n = 0;
    while (n < writers.length && writers[n]!.seq <= this.flushedSeq) n++;
    if (n === 0) return;
    for (const w of writers.splice(0, n)) w.resolve();
  }

  // ---- helpers ----

  private sendResetOnce(): void {
    if (this.resetSent) return;
    this.resetSent = true;
    this.owner.sendReset(this.streamId);
  }

  private failWrites(err: Error): void {
    this.writeError ??= err;
    const writers = this.writeWaiters;
    this.writeWaiters = [];
    for (const w of writers) w.reject(err);
  }

  private readDone(): boolean {
    return this.peerEndAt >= 0 && this.received === this.peerEndAt && this.queuedBytes === 0;
  }

  private settleReadEnd(): void {
    if (this.readWaiter && this.readDone()) {
      const reader = this.readWaiter;
      this.readWaiter = undefined;
      reader.resolve(null);
    }
  }

  /** Next chunk from the queue; several small queued chunks are merged into one (bigger reads, fewer hand-offs). */
  private take(): Buffer {
    const first = this.queue[this.queueHead]!;
    let chunk = first;
    let count = 1;
    if (this.queue.length - this.queueHead > 1 && first.length < this.buffers.readChunkBytes) {
      let bytes = first.length;
      while (this.queueHead + count < this.queue.length && bytes + this.queue[this.queueHead + count]!.length <= this.buffers.readChunkBytes) {
        bytes += this.queue[this.queueHead + count]!.length;
        count++;
      }
      if (count > 1) chunk = Buffer.concat(this.queue.slice(this.queueHead, this.queueHead + count), bytes);
    }
    this.queueHead += count;
    this.queuedBytes -= chunk.length;
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    if (this.paused && this.queuedBytes < this.buffers.readBufferBytes) {
      this.paused = false;
      this.socket.resume();
    }
    return chunk;
  }

  /**
   * Both directions done cleanly: close the socket once our bytes are flushed. A read side that
   * ended with our writes failed is done too (the RESET already went out).
   */
  private maybeFinish(): void {
    if (this.finished || this.peerEndAt < 0 || this.received !== this.peerEndAt) return;
    if (this.paused) {
      // Every byte is in; keep reading so the peer's FIN is seen and the socket can close.
      this.paused = false;
      this.socket.resume();
    }
    if (this.writeEnded) {
      this.finish();
      this.socket.end();
    } else if (this.writeError) {
      this.finish();
      this.socket.destroy();
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.owner.streamFinished(this);
  }
}
