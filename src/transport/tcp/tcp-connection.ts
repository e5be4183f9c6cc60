import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { TransportError } from '../../util/errors.js';
import type { CloseInfo, HostPort, TransportConnection, TransportStream } from '../transport.js';
import { streamReset, TcpStream, type StreamBuffers, type StreamOwner } from './tcp-stream.js';
import { ControlReader, ControlType, encodeControl } from './tcp-wire.js';

/** Protocol trouble the transport counts instead of crashing (see TcpTransport.counters). */
export interface TcpCounters {
  /** Accepted sockets closed for a malformed preamble. */
  badPreambles: number;
  /** Accepted sockets closed because they sent no complete preamble in time. */
  preambleTimeouts: number;
  /** Stream sockets refused: unknown session, duplicate or unrequested id, other certificate, too many streams. */
  refusedStreams: number;
  /** Connections killed for an unknown control message on the primary socket. */
  badControlMessages: number;
  /** TLS handshakes that failed on a listener. */
  tlsErrors: number;
}

export interface ConnectionSettings extends StreamBuffers {
  maxStreams: number;
  openStreamTimeoutMs: number;
  closeTimeoutMs: number;
}

export interface PeerIdentity {
  remoteKey: Uint8Array | undefined;
  remoteCertificate: Uint8Array | undefined;
}

/** The peer certificate of a TLS socket (DER and, for Ed25519 keys, the raw public key). */
export function peerIdentity(socket: Socket): PeerIdentity {
  if (!(socket instanceof TLSSocket)) return { remoteKey: undefined, remoteCertificate: undefined };
  const cert = socket.getPeerX509Certificate();
  if (!cert) return { remoteKey: undefined, remoteCertificate: undefined };
  const key = cert.publicKey;
  const remoteKey = key.asymmetricKeyType === 'ed25519' ? new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url')) : undefined;
  return { remoteKey, remoteCertificate: new Uint8Array(cert.raw) };
}

interface PendingOpen {
  resolve: (stream: TcpStream) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A connection is its primary socket: created by the dialer's first socket, it carries the
 * control messages, and its death (error, or a FIN without CLOSE) is the connection's death:
 * `closed` resolves with an error and every stream is reset. A stream socket's death resets
 * that stream only. Stream ids: dialer-opened even, acceptor-opened odd (the dialer still
 * dials their sockets, asked by an OPEN message, since only the listener accepts).
 */
export class TcpConnection implements TransportConnection, StreamOwner {
  readonly transport = 'tcp' as const;
  readonly remoteKey: Uint8Array | undefined;
  readonly remoteCertificate: Uint8Array | undefined;
  readonly closed: Promise<CloseInfo>;
  /** Resolves when the listener acknowledged the connection (dialer side); rejects if the primary dies first. */
  readonly accepted: Promise<void>;
  /** Resolves once every socket of the connection is closed (after `closed`); what transport.close() waits for. */
  readonly gone: Promise<void>;
  private resolveGone!: () => void;

  private resolveClosed!: (info: CloseInfo) => void;
  private resolveAccepted!: () => void;
  private rejectAccepted!: (err: Error) => void;
  private isAccepted: boolean;
  private readonly streams = new Map<number, TcpStream>();
  private readonly pendingOpens = new Map<number, PendingOpen>();
  /**
   * END (byte count) or RESET (-1) for streams whose socket has not arrived yet: the primary is
   * another socket, so its messages may overtake a new stream socket. Ids are never reused, so
   * a stale entry is harmless; the map is capped at maxStreams.
   */
  private readonly earlyControl = new Map<number, number>();
  private readonly sockets = new Set<Socket>();
  private handler: ((stream: TransportStream) => void) | undefined;
  private early: TransportStream[] = [];
  private nextStreamId: number;
  private peerClosing = false;
  private closeInfo: CloseInfo | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly control: ControlReader;
  /** Stream sockets being dialed: aborted when the connection dies, and waited for by `gone`. */
  private readonly dials = new AbortController();
  private pendingDials = 0;

  constructor(
    private readonly primary: Socket,
    readonly remoteAddress: HostPort,
    readonly outbound: boolean,
    private readonly settings: ConnectionSettings,
    private readonly counters: TcpCounters,
    /** Dialer side: connects a stream socket to the listener and sends its preamble; `signal` aborts the attempt. */
    private readonly dialStreamSocket: ((streamId: number, signal: AbortSignal) => Promise<Socket>) | undefined,
  ) {
    ({ remoteKey: this.remoteKey, remoteCertificate: this.remoteCertificate } = peerIdentity(primary));
    this.nextStreamId = outbound ? 2 : 1;
    this.isAccepted = !outbound;
    // One listener per stream socket being dialed; up to maxStreams at once is expected.
    setMaxListeners(settings.maxStreams + 1, this.dials.signal);
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.gone = new Promise((resolve) => {
      this.resolveGone = resolve;
    });
    this.accepted = new Promise((resolve, reject) => {
      this.resolveAccepted = resolve;
      this.rejectAccepted = reject;
    });
    if (!outbound) {
      primary.write(encodeControl(ControlType.accept));
      this.resolveAccepted();
    }
    this.control = new ControlReader((type, id, value) => this.onControl(type, id, value));
    this.track(primary);
    primary.on('data', (chunk: Buffer) => {
      if (!this.control.push(chunk)) {
        this.counters.badControlMessages++;
        this.die({ local: false, error: new TransportError('ERR_TRANSPORT_STREAM_RESET', 'unknown control message on the primary socket') });
      }
    });
    primary.on('end', () => this.onPrimaryGone());
    primary.on('close', () => this.onPrimaryGone());
    primary.on('error', (err) => this.die({ local: false, error: streamReset(`connection lost: ${(err as NodeJS.ErrnoException).code ?? err.message}`, err) }));
  }

  get isClosed(): boolean {
    return this.closeInfo !== undefined;
  }

  onStream(handler: (stream: TransportStream) => void): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const s of early) handler(s);
  }

  async openStream(): Promise<TransportStream> {
    if (this.closeInfo) throw new TransportError('ERR_TRANSPORT_CLOSED', 'connection is closed');
    if (this.streams.size + this.pendingOpens.size >= this.settings.maxStreams) {
      throw new TransportError('ERR_TRANSPORT_CLOSED', `connection has its maximum of ${this.settings.maxStreams} streams`);
    }
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    if (this.dialStreamSocket) {
      const socket = await this.dialStream(id);
      if (this.closeInfo) {
        socket.destroy();
        throw new TransportError('ERR_TRANSPORT_CLOSED', 'connection closed while the stream was opening');
      }
      return this.addStream(id, socket);
    }
    return new Promise<TcpStream>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingOpens.delete(id);
        this.sendControl(ControlType.reset, id);
        reject(new TransportError('ERR_TRANSPORT_DIAL_TIMEOUT', `the dialer did not open stream ${id} within ${this.settings.openStreamTimeoutMs} ms`));
      }, this.settings.openStreamTimeoutMs);
      this.pendingOpens.set(id, { resolve, reject, timer });
      this.sendControl(ControlType.open, id);
    });
  }

  /**
   * Sends CLOSE and resets every stream now; the sockets finish closing in the background
   * (`gone`). Resolving early keeps close() and the peer's `closed` in step: a peer's pending
   * reads reject in the same turn as its `closed` resolves.
   */
  async close(): Promise<void> {
    if (this.closeInfo) return;
    this.sendControl(ControlType.close);
    this.die({ local: true });
  }

  abort(reason?: Error): void {
    this.die({ local: true, ...(reason ? { error: reason } : {}) }, true);
  }

  /**
   * Acceptor side: a stream socket that named this connection's session. Returns false (and
   * the caller counts and closes the socket) when the stream cannot be taken.
   */
  attachStreamSocket(socket: Socket, streamId: number): boolean {
    if (this.closeInfo || this.outbound) return false;
    const pending = streamId % 2 === 1 ? this.pendingOpens.get(streamId) : undefined;
    const acceptable =
      // With TLS, a stream socket must come from the peer that owns the session.
      (!this.remoteCertificate || sameBytes(peerIdentity(socket).remoteCertificate, this.remoteCertificate)) &&
      (pending !== undefined || (streamId % 2 === 0 && streamId !== 0 && !this.streams.has(streamId) && this.streams.size < this.settings.maxStreams));
    if (!acceptable) {
      // Tell the dialer, whose stream would otherwise wait on a socket we just closed.
      this.sendControl(ControlType.reset, streamId);
      return false;
    }
    const stream = this.addStream(streamId, socket);
    if (pending) {
      this.pendingOpens.delete(streamId);
      clearTimeout(pending.timer);
      pending.resolve(stream);
    } else {
      this.announce(stream);
    }
    return true;
  }

  // ---- StreamOwner ----

  sendEnd(streamId: number, bytes: number): void {
    this.sendControl(ControlType.end, streamId, bytes);
  }

  sendReset(streamId: number): void {
    this.sendControl(ControlType.reset, streamId);
  }

  streamFinished(stream: TcpStream): void {
    if (this.streams.get(stream.streamId) === stream) this.streams.delete(stream.streamId);
  }

  // ---- internals ----

  private addStream(id: number, socket: Socket): TcpStream {
    this.track(socket);
    const stream = new TcpStream(id, socket, this, this.settings);
    this.streams.set(id, stream);
    const early = this.earlyControl.get(id);
    if (early !== undefined) {
      this.earlyControl.delete(id);
      if (early < 0) stream.peerReset();
      else stream.peerEnded(early);
    }
    return stream;
  }

  private rememberEarly(id: number, value: number): void {
    this.earlyControl.set(id, value);
    if (this.earlyControl.size > this.settings.maxStreams) this.earlyControl.delete(this.earlyControl.keys().next().value!);
  }

  private announce(stream: TcpStream): void {
    if (stream.failed) return; // reset before anyone could see it
    if (this.handler) this.handler(stream);
    else this.early.push(stream);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.maybeDone();
    });
  }

  private sendControl(type: ControlType, streamId = 0, value = 0): void {
    if (this.closeInfo || this.primary.destroyed || this.primary.writableEnded) return;
    this.primary.write(encodeControl(type, streamId, value));
  }

  private onControl(type: ControlType, id: number, value: number): void {
    if (this.closeInfo) return;
    if (!this.isAccepted) {
      if (type !== ControlType.accept) {
        this.die({ local: false, error: new TransportError('ERR_TRANSPORT_DIAL_FAILED', 'the listener did not accept the connection') });
        return;
      }
      this.isAccepted = true;
      this.resolveAccepted();
      return;
    }
    switch (type) {
      case ControlType.end: {
        const stream = this.streams.get(id);
        if (stream) stream.peerEnded(value);
        else this.rememberEarly(id, value);
        break;
      }
      case ControlType.reset: {
        const pending = this.pendingOpens.get(id);
        if (pending) {
          this.pendingOpens.delete(id);
          clearTimeout(pending.timer);
          pending.reject(streamReset(`the peer refused to open stream ${id}`));
        }
        const stream = this.streams.get(id);
        if (stream) stream.peerReset();
        else if (!pending) this.rememberEarly(id, -1);
        break;
      }
      case ControlType.open:
        this.onOpenRequest(id);
        break;
      case ControlType.close:
        this.peerClosing = true;
        this.die({ local: false });
        break;
      case ControlType.accept:
        break;
    }
  }

  private async dialStream(id: number): Promise<Socket> {
    this.pendingDials++;
    try {
      return await this.dialStreamSocket!(id, this.dials.signal);
    } catch (err) {
      throw this.closeInfo ? new TransportError('ERR_TRANSPORT_CLOSED', 'connection closed while the stream was opening', { cause: err }) : err;
    } finally {
      this.pendingDials--;
      this.maybeDone();
    }
  }

  /** The acceptor opened stream `id`; we dial its socket. */
  private onOpenRequest(id: number): void {
    if (!this.dialStreamSocket || id % 2 === 0 || this.streams.has(id)) {
      this.sendControl(ControlType.reset, id);
      return;
    }
    this.dialStream(id).then(
      (socket) => {
        if (this.closeInfo) {
          socket.destroy();
          return;
        }
        this.announce(this.addStream(id, socket));
      },
      () => this.sendControl(ControlType.reset, id),
    );
  }

  private onPrimaryGone(): void {
    if (this.closeInfo) return;
    // A FIN without CLOSE is what a killed process leaves behind.
    this.die({ local: false, ...(this.peerClosing ? {} : { error: streamReset('connection lost: the peer closed the socket without CLOSE') }) });
  }

  /**
   * The connection ends: every stream fails, every socket goes. A graceful end (our close() or
   * the peer's CLOSE) ends the primary so the CLOSE is flushed; otherwise sockets are destroyed.
   */
  private die(info: CloseInfo, hard = false): void {
    if (this.closeInfo) return;
    this.closeInfo = info;
    const error = info.local
      ? new TransportError('ERR_TRANSPORT_CLOSED', 'connection closed', info.error ? { cause: info.error } : {})
      : streamReset(info.error ? info.error.message : 'connection closed by peer', info.error);
    if (!this.isAccepted) this.rejectAccepted(error);
    for (const stream of [...this.streams.values()]) stream.fail(error);
    this.streams.clear();
    for (const [, pending] of this.pendingOpens) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pendingOpens.clear();
    this.dials.abort();
    this.resolveClosed(info);
    const graceful = !hard && info.error === undefined;
    if (graceful && !this.primary.destroyed) {
      this.primary.end();
      // The peer answers CLOSE by closing its side; don't wait for a peer that never does.
      this.closeTimer = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy();
      }, this.settings.closeTimeoutMs);
    } else {
      for (const socket of this.sockets) socket.destroy();
    }
    this.maybeDone();
  }

  private maybeDone(): void {
    if (!this.closeInfo || this.sockets.size > 0 || this.pendingDials > 0) return;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.resolveGone();
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
