/**
 * The one interface every transport implements (quic, tcp, webtransport, memory). It moves
 * bytes on multiplexed, ordered, reliable, bidirectional streams inside one connection per
 * peer; framing, handshakes and channels live above it. test/contract/transport.ts is the
 * compliance suite each implementation passes.
 *
 * Semantics every implementation keeps:
 * - `read()` resolves with the next chunk (any size ≥ 1 byte), `null` once the peer ended its
 *   side cleanly, and rejects with ERR_TRANSPORT_STREAM_RESET when the stream or connection
 *   dies. Chunk boundaries mean nothing.
 * - `write()` resolves when the transport has taken the bytes (buffered, not delivered). The
 *   caller must not modify a buffer until its write resolved.
 * - Closing a connection ends all its streams; `closed` resolves (never rejects) once the
 *   connection is gone for any reason, with the reason when it was not a local close.
 * - Nothing rejects without a handler: a dial to a closed port rejects the dial promise with
 *   a coded error and leaves nothing else behind.
 */

export interface HostPort {
  host: string;
  port: number;
  /**
   * SHA-256 of the listener's TLS certificate, hex, for transports that pin certificates by
   * hash (WebTransport; libp2p's `/certhash`). Listeners that have one report it in `address`,
   * so it travels in node specs; a dial uses it when present.
   */
  certHash?: string;
}

export type TransportName = 'quic' | 'tcp' | 'webtransport' | 'memory';

/** Why a connection ended, as seen from this side. */
export interface CloseInfo {
  /** True when this side called close()/abort(). */
  local: boolean;
  /** The error, when the connection died rather than closed cleanly. */
  error?: Error;
}

export interface TransportStream {
  /** Transport-specific id, unique within its connection; for logs. */
  readonly id: string;
  /** Next chunk, `null` at a clean end of the peer's side; rejects when the stream is reset. */
  read(): Promise<Uint8Array | null>;
  /** Queue bytes for sending; resolves once the transport took them. */
  write(chunk: Uint8Array): Promise<void>;
  /** End our sending side cleanly (the peer's read() gets null after the data). */
  end(): Promise<void>;
  /** Drop the stream in both directions at once; pending reads reject. */
  abort(reason?: Error): void;
}

export interface TransportConnection {
  readonly transport: TransportName;
  /** Address of the peer as this side sees it. */
  readonly remoteAddress: HostPort;
  /**
   * The peer's public key as proven by the transport's own handshake (QUIC/TLS), raw Ed25519
   * bytes, or undefined when the transport proves no key (plain tcp, memory).
   */
  readonly remoteKey: Uint8Array | undefined;
  /** DER of the certificate the peer presented in the transport's TLS handshake, if any. */
  readonly remoteCertificate?: Uint8Array | undefined;
  /** Whether this side dialed. */
  readonly outbound: boolean;
  /** Open a new bidirectional stream. The peer learns of it when the first bytes arrive. */
  openStream(): Promise<TransportStream>;
  /** Register the handler for streams the peer opens. Set once, right after connecting. */
  onStream(handler: (stream: TransportStream) => void): void;
  /** Resolves once the connection is gone (never rejects). */
  readonly closed: Promise<CloseInfo>;
  /** Close gracefully: pending writes are flushed where the transport allows. */
  close(): Promise<void>;
  /** Drop the connection at once. */
  abort(reason?: Error): void;
}

export interface TransportListener {
  /** The bound address (with the real port when 0 was asked for). */
  readonly address: HostPort;
  /** Stop accepting and release the port; existing connections are closed too. */
  close(): Promise<void>;
}

export interface DialOptions {
  signal?: AbortSignal;
  /** Give up after this many ms with ERR_TRANSPORT_DIAL_TIMEOUT. */
  timeoutMs?: number;
}

export interface Transport {
  readonly name: TransportName;
  /** Listen on `address`; every accepted connection is given to `onConnection`. */
  listen(address: HostPort, onConnection: (connection: TransportConnection) => void): Promise<TransportListener>;
  dial(address: HostPort, options?: DialOptions): Promise<TransportConnection>;
  /** Close every listener and connection and release native resources. */
  close(): Promise<void>;
}
