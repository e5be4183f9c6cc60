/**
 * The default transport: QUIC through quinn (Rust), via the napi binding wrapped in
 * ./binding.ts. One UDP endpoint per listener, one dialing endpoint per address family,
 * streams are quinn bidirectional streams. TLS 1.3 always; the peer proves an Ed25519 key,
 * reported as `remoteKey` (its node certificate is checked above, in our handshake).
 *
 * Things a caller should know:
 * - Main thread only: `QuicTransport.create()` rejects with ERR_TRANSPORT_UNAVAILABLE in a
 *   worker, because a dying worker that holds native QUIC objects aborts the process.
 * - A stream from `openStream()` is invisible to the peer until its first byte is written
 *   (quinn opens streams lazily); our upper layer always writes a header first.
 * - `write()` resolves once quinn buffered the bytes (up to the peer's receive window), and
 *   the buffer is referenced by Rust until then: do not reuse it before.
 * - `close()` sends CONNECTION_CLOSE at once; bytes quinn has not sent yet are dropped (the
 *   binding has no way to wait for acknowledgements). Delivery guarantees live above.
 * - Both `close()` and `abort()` look the same to the peer (application close, code 0): the
 *   peer sees `{local: false}` without an error. An idle timeout (killed or unreachable peer)
 *   or a stateless reset (restarted peer) gives `{local: false, error}`.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { NodeKey, generateNodeKey, publicKeyFromPeerId } from '../../security/node-key.js';
import { systemClock, type Clock } from '../../util/clock.js';
import { InvalidOptionError, TransportError, type ErrorCode } from '../../util/errors.js';
import { intOption, objectOption, rejectUnknownKeys } from '../../util/options.js';
import type { CloseInfo, DialOptions, HostPort, Transport, TransportConnection, TransportListener, TransportStream } from '../transport.js';
import {
  bindingErrorMessage,
  loadQuinnBinding,
  type QuinnBinding,
  type QuinnClient,
  type QuinnConfig,
  type QuinnConfigInit,
  type QuinnConnection,
  type QuinnServer,
  type QuinnStream,
  type SocketFamily,
} from './binding.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The binding takes u32 for every size and duration. */
const U32_MAX = 2 ** 32 - 1;

export interface QuicTransportOptions {
  /**
   * This node's identity, proven in every TLS handshake. Default: a fresh in-memory key
   * (`generateNodeKey()`); a node passes its persistent one (`loadOrCreateNodeKey(path)`).
   */
  key?: NodeKey;
  /**
   * A connection with no packet from the peer for this long is dead, ms. Default 10000:
   * a killed or cut-off peer is noticed in seconds, not minutes (Partisan's connection_ping
   * uses 20 s). The smaller of both sides' values applies.
   */
  idleTimeoutMs?: number;
  /**
   * A PING is sent after this much silence, ms; must be below idleTimeoutMs. Default 2000:
   * five chances per idle timeout, so a few lost packets never kill a healthy connection.
   */
  keepAliveIntervalMs?: number;
  /**
   * A dial that has not completed the QUIC/TLS handshake by then fails with
   * ERR_TRANSPORT_DIAL_TIMEOUT, ms. Default 5000: a LAN handshake takes milliseconds, 5 s
   * allows several retransmissions on a lossy WAN path (libp2p's default as well).
   */
  handshakeTimeoutMs?: number;
  /**
   * Bidirectional streams the peer may have open at once. Default 256: one stream per
   * (channel, parallelism slot) leaves room for ~10 channels × 16 slots plus short-lived ones.
   */
  maxConcurrentStreams?: number;
  /**
   * Bytes the peer may send on one stream ahead of our reads. Default 4 MiB (4194304):
   * bandwidth × RTT of ~400 MB/s at 10 ms; bulk channels bound it further with credits.
   */
  streamReceiveWindow?: number;
  /**
   * Bytes the peer may send on the whole connection ahead of our reads. Default 16 MiB
   * (16777216): four streams at full window, and a cap on what one peer can make us buffer.
   */
  connectionReceiveWindow?: number;
  /**
   * SO_RCVBUF of dialing sockets, bytes. Default 4 MiB: absorbs bursts at a few hundred
   * MB/s; the kernel clamps it to net.core.rmem_max. (Listening sockets keep the OS default:
   * the binding does not apply it there.)
   */
  socketReceiveBufferBytes?: number;
  /** SO_SNDBUF of dialing sockets, bytes. Default 4 MiB, for the same reason. */
  socketSendBufferBytes?: number;
  /**
   * Bytes asked for per stream read. Default 64 KiB (65536): measured, 64 KiB reads reach
   * ~310 MB/s on one connection where 4 KiB reads cap at ~53 MB/s.
   */
  readChunkBytes?: number;
  /** Clock for the dial timer. Default the system clock. */
  clock?: Clock;
}

export interface ResolvedQuicOptions {
  readonly key: NodeKey;
  readonly idleTimeoutMs: number;
  readonly keepAliveIntervalMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxConcurrentStreams: number;
  readonly streamReceiveWindow: number;
  readonly connectionReceiveWindow: number;
  readonly socketReceiveBufferBytes: number;
  readonly socketSendBufferBytes: number;
  readonly readChunkBytes: number;
  readonly clock: Clock;
}

const OPTION_KEYS = [
  'key',
  'idleTimeoutMs',
  'keepAliveIntervalMs',
  'handshakeTimeoutMs',
  'maxConcurrentStreams',
  'streamReceiveWindow',
  'connectionReceiveWindow',
  'socketReceiveBufferBytes',
  'socketSendBufferBytes',
  'readChunkBytes',
  'clock',
] as const;

/** Fill defaults and validate; a bad value is ERR_INVALID_OPTION naming `quic.<field>`. */
export function resolveQuicOptions(options: QuicTransportOptions | undefined, field = 'quic'): ResolvedQuicOptions {
  const raw = objectOption(field, options);
  rejectUnknownKeys(field, raw, OPTION_KEYS);
  const f = (name: string): string => `${field}.${name}`;
  if (raw.key !== undefined && !(raw.key instanceof NodeKey)) {
    throw new InvalidOptionError(f('key'), raw.key, 'expected a NodeKey (generateNodeKey() or loadOrCreateNodeKey())');
  }
  const clock = raw.clock ?? systemClock;
  if (typeof clock !== 'object' || clock === null || typeof (clock as Partial<Clock>).setTimeout !== 'function') {
    throw new InvalidOptionError(f('clock'), clock, 'expected a Clock');
  }
  const idleTimeoutMs = intOption(f('idleTimeoutMs'), raw.idleTimeoutMs, 10_000, 10, 3_600_000);
  const keepAliveIntervalMs = intOption(f('keepAliveIntervalMs'), raw.keepAliveIntervalMs, 2_000, 1, 3_600_000);
  if (keepAliveIntervalMs >= idleTimeoutMs) {
    throw new InvalidOptionError(f('keepAliveIntervalMs'), keepAliveIntervalMs, `must be below idleTimeoutMs (${idleTimeoutMs}), or idle connections time out`);
  }
  return Object.freeze({
    key: (raw.key as NodeKey | undefined) ?? generateNodeKey(),
    idleTimeoutMs,
    keepAliveIntervalMs,
    handshakeTimeoutMs: intOption(f('handshakeTimeoutMs'), raw.handshakeTimeoutMs, 5_000, 1, 3_600_000),
    maxConcurrentStreams: intOption(f('maxConcurrentStreams'), raw.maxConcurrentStreams, 256, 1, 1_000_000),
    streamReceiveWindow: intOption(f('streamReceiveWindow'), raw.streamReceiveWindow, 4 * MiB, 4 * KiB, U32_MAX),
    connectionReceiveWindow: intOption(f('connectionReceiveWindow'), raw.connectionReceiveWindow, 16 * MiB, 4 * KiB, U32_MAX),
    socketReceiveBufferBytes: intOption(f('socketReceiveBufferBytes'), raw.socketReceiveBufferBytes, 4 * MiB, 4 * KiB, 2 ** 31 - 1),
    socketSendBufferBytes: intOption(f('socketSendBufferBytes'), raw.socketSendBufferBytes, 4 * MiB, 4 * KiB, 2 ** 31 - 1),
    readChunkBytes: intOption(f('readChunkBytes'), raw.readChunkBytes, 64 * KiB, 1 * KiB, 16 * MiB),
    clock: clock as Clock,
  });
}

/**
 * The binding configuration for resolved options. @internal: for the transport benchmark's
 * bare-binding baseline, which must run with exactly our configuration.
 */
export function quinnConfigInit(options: ResolvedQuicOptions): QuinnConfigInit {
  return {
    privateKeyProto: options.key.libp2pPrivateKeyProto(),
    handshakeTimeout: options.handshakeTimeoutMs,
    maxIdleTimeout: options.idleTimeoutMs,
    keepAliveInterval: options.keepAliveIntervalMs,
    maxConcurrentStreamLimit: options.maxConcurrentStreams,
    maxStreamData: options.streamReceiveWindow,
    maxConnectionData: options.connectionReceiveWindow,
    receiveBufferSize: options.socketReceiveBufferBytes,
    sendBufferSize: options.socketSendBufferBytes,
  };
}

/**
 * Pending inbound handshakes served at once per listener: the binding completes a handshake
 * inside its accept call, so a single loop would let one slow client stall all others.
 */
const ACCEPT_CONCURRENCY = 4;

const noop = (): void => {};

function transportError(code: ErrorCode, message: string, cause?: unknown, details?: Record<string, unknown>): TransportError {
  return new TransportError(code, message, { ...(cause === undefined ? {} : { cause }), ...(details ? { details } : {}) });
}

export class QuicTransport implements Transport {
  readonly name = 'quic' as const;
  /** Our raw Ed25519 public key: what peers see as `remoteKey`. */
  readonly localKey: Uint8Array;
  readonly options: ResolvedQuicOptions;
  private readonly listeners = new Set<QuicListener>();
  private readonly connections = new Set<QuicConnection>();
  /** Lazily created dialing endpoints, one per address family. */
  private readonly clients = new Map<SocketFamily, QuinnClient>();
  /** Native dials still in flight (they settle once their client is aborted). */
  private readonly pendingDials = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly binding: QuinnBinding,
    private readonly config: QuinnConfig,
    options: ResolvedQuicOptions,
  ) {
    this.options = options;
    this.localKey = options.key.publicKeyRaw;
  }

  /** Validate options, load the binding (main thread only) and build the TLS identity. */
  static async create(options: QuicTransportOptions = {}): Promise<QuicTransport> {
    const resolved = resolveQuicOptions(options);
    const binding = await loadQuinnBinding();
    let config: QuinnConfig;
    try {
      config = binding.createConfig(quinnConfigInit(resolved));
    } catch (err) {
      throw transportError('ERR_TRANSPORT_UNAVAILABLE', `quic configuration rejected by the binding: ${bindingErrorMessage(err)}`, err);
    }
    return new QuicTransport(binding, config, resolved);
  }

  async listen(address: HostPort, onConnection: (connection: TransportConnection) => void): Promise<TransportListener> {
    this.assertOpen();
    const fail = (reason: string, cause?: unknown): TransportError =>
      transportError('ERR_TRANSPORT_LISTEN_FAILED', `cannot listen on ${address.host}:${address.port}: ${reason}`, cause, { address });
    let ip: string;
    try {
      ip = (await resolveHost(address.host)).ip;
    } catch (err) {
      throw fail(bindingErrorMessage(err), err);
    }
    this.assertOpen();
    let server: QuinnServer;
    try {
      server = this.binding.createServer(this.config, ip, address.port);
    } catch (err) {
      throw fail(bindingErrorMessage(err), err);
    }
    const listener = new QuicListener(
      server,
      { host: ip, port: server.port() },
      (raw) => this.adopt(raw, false),
      onConnection,
      () => this.listeners.delete(listener),
    );
    this.listeners.add(listener);
    return listener;
  }

  dial(address: HostPort, options: DialOptions = {}): Promise<TransportConnection> {
    if (this.closing) return Promise.reject(closedTransport());
    const { signal } = options;
    if (options.timeoutMs !== undefined && !(typeof options.timeoutMs === 'number' && options.timeoutMs > 0)) {
      return Promise.reject(new InvalidOptionError('timeoutMs', options.timeoutMs, 'expected a positive number of ms'));
    }
    const details = { address };
    if (signal?.aborted) return Promise.reject(dialAborted(address, signal.reason));
    // Our own timer: the binding's handshake only ends at the idle timeout, and DNS has none.
    const timeoutMs = Math.min(options.timeoutMs ?? Infinity, this.options.handshakeTimeoutMs);
    return new Promise<TransportConnection>((resolve, reject) => {
      let settled = false;
      const settle = (): void => {
        settled = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: Error): void => {
        if (settled) return;
        settle();
        reject(err);
      };
      const onAbort = (): void => fail(dialAborted(address, signal?.reason));
      const timer = this.options.clock.setTimeout(
        () => fail(transportError('ERR_TRANSPORT_DIAL_TIMEOUT', `dial ${address.host}:${address.port} timed out after ${timeoutMs} ms`, undefined, details)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.connect(address).then(
        (raw) => {
          if (settled || this.closing) {
            raw.abort(); // too late: the caller has gone, or the transport is closing
            fail(closedTransport());
            return;
          }
          settle();
          const connection = this.adopt(raw, true);
          if (connection) resolve(connection);
          else reject(transportError('ERR_TRANSPORT_DIAL_FAILED', `dial ${address.host}:${address.port}: the peer proved no Ed25519 key`, undefined, details));
        },
        (err: unknown) => fail(this.closing ? closedTransport() : dialError(address, err)),
      );
    });
  }

  /** Close every listener and connection, then release the dialing endpoints. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.listeners].map((l) => l.close()));
      const connections = [...this.connections];
      for (const c of connections) c.abort();
      await Promise.all(connections.map((c) => c.drained()));
      for (const client of this.clients.values()) client.abort();
      this.clients.clear();
      await Promise.allSettled([...this.pendingDials]);
    })();
    return this.closing;
  }

  /** Resolve the host, pick the family's client and start the native dial. */
  private async connect(address: HostPort): Promise<QuinnConnection> {
    const { ip, family } = await resolveHost(address.host);
    if (this.closing) throw closedTransport();
    let client = this.clients.get(family);
    if (!client) {
      client = this.binding.createClient(this.config, family);
      this.clients.set(family, client);
    }
    const pending = client.outboundConnection(ip, address.port);
    this.pendingDials.add(pending);
    const forget = (): void => {
      this.pendingDials.delete(pending);
    };
    pending.then(forget, forget);
    return pending;
  }

  /** Wrap a handshaken native connection; undefined (and the connection dropped) if the peer's identity is unusable. */
  private adopt(raw: QuinnConnection, outbound: boolean): QuicConnection | undefined {
    let remote: { address: HostPort; key: Uint8Array };
    try {
      remote = parseRemote(raw.remoteMultiaddr());
    } catch {
      raw.abort();
      return undefined;
    }
    const connection = new QuicConnection(raw, remote.address, remote.key, outbound, this.options.readChunkBytes);
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
    return connection;
  }

  private assertOpen(): void {
    if (this.closing) throw closedTransport();
  }
}

/** `QuicTransport.create(options)`, for symmetry with the other transports' factories. */
export function createQuicTransport(options?: QuicTransportOptions): Promise<QuicTransport> {
  return QuicTransport.create(options);
}

class QuicListener implements TransportListener {
  private readonly connections = new Set<QuicConnection>();
  private readonly acceptLoops: Promise<void>;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly server: QuinnServer,
    readonly address: HostPort,
    private readonly adopt: (raw: QuinnConnection) => QuicConnection | undefined,
    private readonly onConnection: (connection: TransportConnection) => void,
    private readonly onClosed: () => void,
  ) {
    this.acceptLoops = Promise.all(Array.from({ length: ACCEPT_CONCURRENCY }, () => this.acceptLoop())).then(noop);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const connections = [...this.connections];
      for (const c of connections) c.abort();
      // Closes the endpoint (peers get CONNECTION_CLOSE), waits for it to drain and unbinds
      // the socket, so the port is free once this resolves; pending accepts then reject.
      await this.server.abort().catch(noop);
      await this.acceptLoops;
      await Promise.all(connections.map((c) => c.drained()));
      this.onClosed();
    })();
    return this.closing;
  }

  private async acceptLoop(): Promise<void> {
    while (!this.closing) {
      let raw: QuinnConnection;
      try {
        raw = await this.server.inboundConnection();
      } catch (err) {
        // A failed handshake (timeout, TLS) leaves the endpoint serving; only abort() ends it.
        if (bindingErrorMessage(err) === 'server closed') break;
        continue;
      }
      if (this.closing) {
        raw.abort();
        break;
      }
      const connection = this.adopt(raw);
      if (!connection) continue;
      this.connections.add(connection);
      void connection.closed.then(() => this.connections.delete(connection));
      try {
        this.onConnection(connection);
      } catch (err) {
        // The user's handler threw: that connection is unusable, the listener is not.
        connection.abort(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}

class QuicConnection implements TransportConnection {
  readonly transport = 'quic' as const;
  /** The binding does not expose the TLS certificate; node certificates travel in our handshake. */
  readonly remoteCertificate = undefined;
  readonly closed: Promise<CloseInfo>;
  private resolveClosed!: (info: CloseInfo) => void;
  private info: CloseInfo | undefined;
  /** The error every stream operation fails with once the connection is gone. */
  private deadError: TransportError | undefined;
  private readonly streams = new Set<QuicStream>();
  private handler: ((stream: TransportStream) => void) | undefined;
  private early: QuicStream[] = [];
  private readonly acceptDone: Promise<void>;

  constructor(
    private readonly raw: QuinnConnection,
    readonly remoteAddress: HostPort,
    readonly remoteKey: Uint8Array,
    readonly outbound: boolean,
    private readonly readChunkBytes: number,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.acceptDone = this.acceptStreams();
  }

  async openStream(): Promise<TransportStream> {
    if (this.deadError) throw this.deadError;
    let raw: QuinnStream;
    try {
      // Waits while the peer's concurrent-stream limit is reached.
      raw = await this.raw.outboundStream();
    } catch (err) {
      throw this.deadError ?? transportError('ERR_TRANSPORT_CLOSED', `cannot open a stream: ${bindingErrorMessage(err)}`, err);
    }
    if (this.deadError) {
      resetRaw(raw);
      throw this.deadError;
    }
    return this.track(raw, this.outbound);
  }

  onStream(handler: (stream: TransportStream) => void): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const stream of early) this.deliver(stream);
  }

  async close(): Promise<void> {
    this.abort();
  }

  abort(reason?: Error): void {
    if (this.info) return;
    this.raw.abort();
    this.finish(reason ? { local: true, error: reason } : { local: true });
  }

  /** Resolves once the binding has settled every call of this connection (after a close). */
  drained(): Promise<void> {
    return this.acceptDone;
  }

  /**
   * The error a failed stream operation reports, or undefined when the connection itself is
   * being lost: then finish() fails the operation with the connection's reason, right when
   * `closed` resolves, so callers see one consistent error in one event-loop turn.
   */
  streamError(id: string, op: 'read' | 'write', err: unknown): TransportError | undefined {
    if (this.deadError) return this.deadError;
    const message = bindingErrorMessage(err);
    if (message === 'connection lost') return undefined;
    const code: ErrorCode = message === 'closed stream' ? 'ERR_TRANSPORT_CLOSED' : 'ERR_TRANSPORT_STREAM_RESET';
    return transportError(code, `${op} on stream ${id} failed: ${message}`, err);
  }

  /** The connection's own death error, once `closed` has resolved. */
  async deathError(): Promise<TransportError> {
    await this.closed;
    return this.deadError!;
  }

  forget(stream: QuicStream): void {
    this.streams.delete(stream);
  }

  /**
   * Accepting streams doubles as the connection's death watch: the binding's accept rejects
   * exactly when the connection is gone, with quinn's reason as message.
   */
  private async acceptStreams(): Promise<void> {
    for (;;) {
      let raw: QuinnStream;
      try {
        raw = await this.raw.inboundStream();
      } catch (err) {
        this.finish(closeInfoOf(bindingErrorMessage(err), err));
        return;
      }
      if (this.info) {
        resetRaw(raw);
        continue;
      }
      const stream = this.track(raw, !this.outbound);
      if (this.handler) this.deliver(stream);
      else this.early.push(stream);
    }
  }

  private deliver(stream: QuicStream): void {
    try {
      this.handler!(stream);
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Stream ids name the initiator ('c' dialer, 's' acceptor), so both sides log the same id. */
  private track(raw: QuinnStream, byDialer: boolean): QuicStream {
    let index: string;
    try {
      index = raw.id();
    } catch {
      index = '?';
    }
    const stream = new QuicStream(raw, `${byDialer ? 'c' : 's'}${index}`, this, this.readChunkBytes);
    this.streams.add(stream);
    return stream;
  }

  private finish(info: CloseInfo): void {
    if (this.info) return;
    this.info = info;
    this.deadError = info.local
      ? transportError('ERR_TRANSPORT_CLOSED', 'connection closed', info.error)
      : transportError('ERR_TRANSPORT_STREAM_RESET', info.error ? info.error.message : 'connection closed by peer', info.error);
    for (const s of this.streams) s.kill(this.deadError);
    this.streams.clear();
    this.early = [];
    this.resolveClosed(info);
  }
}

class QuicStream implements TransportStream {
  private readError: TransportError | undefined;
  private writeError: TransportError | undefined;
  private readEnded = false;
  private writeEnded = false;
  /** Rejects the read in flight: abort() must fail it at once, the native read may linger. */
  private rejectRead: ((err: Error) => void) | undefined;

  constructor(
    private readonly raw: QuinnStream,
    readonly id: string,
    private readonly connection: QuicConnection,
    private readonly chunkBytes: number,
  ) {}

  read(): Promise<Uint8Array | null> {
    if (this.readError) return Promise.reject(this.readError);
    if (this.readEnded) return Promise.resolve(null);
    if (this.rejectRead) return Promise.reject(transportError('ERR_TRANSPORT_CLOSED', `concurrent read() on stream ${this.id}`));
    return new Promise((resolve, reject) => {
      this.rejectRead = reject;
      this.raw.read(this.chunkBytes).then(
        (chunk) => {
          this.rejectRead = undefined;
          if (this.readError) {
            reject(this.readError);
          } else if (chunk === null) {
            this.readEnded = true;
            this.settleIfDone();
            resolve(null);
          } else {
            resolve(chunk);
          }
        },
        (err: unknown) => {
          const error = this.readError ?? this.connection.streamError(this.id, 'read', err);
          if (!error) return; // the connection is going: kill() rejects this read
          this.rejectRead = undefined;
          this.readError = error;
          this.settleIfDone();
          reject(error);
        },
      );
    });
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.writeError) return Promise.reject(this.writeError);
    if (this.writeEnded) return Promise.reject(transportError('ERR_TRANSPORT_CLOSED', `stream ${this.id} was ended for writing`));
    let pending: Promise<void>;
    try {
      pending = this.raw.write(chunk);
    } catch (err) {
      return Promise.reject(transportError('ERR_TRANSPORT_CLOSED', `write on stream ${this.id} refused: ${bindingErrorMessage(err)}`, err));
    }
    return pending.then(undefined, async (err: unknown) => {
      this.writeError ??= this.connection.streamError(this.id, 'write', err) ?? (await this.connection.deathError());
      this.settleIfDone();
      throw this.writeError;
    });
  }

  async end(): Promise<void> {
    if (this.writeEnded || this.writeError) return;
    this.writeEnded = true;
    // FIN goes after the writes already queued (the binding serialises them).
    await this.raw.finishWrite().catch(noop);
    this.settleIfDone();
  }

  abort(reason?: Error): void {
    if (this.readError && this.writeError) return;
    this.kill(transportError('ERR_TRANSPORT_STREAM_RESET', `stream ${this.id} aborted locally`, reason));
    resetRaw(this.raw);
  }

  /** Fail everything from now on with `err` (the stream or its connection is gone). */
  kill(err: TransportError): void {
    this.readError ??= err;
    this.writeError ??= err;
    const reject = this.rejectRead;
    this.rejectRead = undefined;
    reject?.(err);
    this.connection.forget(this);
  }

  private settleIfDone(): void {
    if ((this.readEnded || this.readError) && (this.writeEnded || this.writeError)) this.connection.forget(this);
  }
}

/** RESET_STREAM and STOP_SENDING; each waits for a pending write/read of its direction. */
function resetRaw(raw: QuinnStream): void {
  raw.resetWrite().catch(noop);
  raw.stopRead().catch(noop);
}

/** How the connection ended, from the binding's (quinn's) reason text. */
function closeInfoOf(message: string, cause: unknown): CloseInfo {
  if (message === 'closed') return { local: true };
  // Every close through the binding is an application close with code 0.
  if (message === 'closed by peer: 0') return { local: false };
  const why = message === 'timed out' ? 'idle timeout: no packet from the peer' : message;
  return { local: false, error: transportError('ERR_TRANSPORT_STREAM_RESET', `connection lost: ${why}`, cause) };
}

const REMOTE_MULTIADDR = /^\/ip[46]\/([^/]+)\/udp\/(\d+)\/quic-v1\/p2p\/([1-9A-HJ-NP-Za-km-z]+)$/;

function parseRemote(multiaddr: string): { address: HostPort; key: Uint8Array } {
  const m = REMOTE_MULTIADDR.exec(multiaddr);
  if (!m) throw new Error(`unexpected remote multiaddr ${multiaddr}`);
  return { address: { host: m[1]!, port: Number(m[2]) }, key: publicKeyFromPeerId(m[3]!) };
}

async function resolveHost(host: string): Promise<{ ip: string; family: SocketFamily }> {
  const version = isIP(host);
  if (version !== 0) return { ip: host, family: version === 6 ? 'ipv6' : 'ipv4' };
  const { address, family } = await lookup(host);
  return { ip: address, family: family === 6 ? 'ipv6' : 'ipv4' };
}

function closedTransport(): TransportError {
  return transportError('ERR_TRANSPORT_CLOSED', 'quic transport is closed');
}

function dialAborted(address: HostPort, reason: unknown): TransportError {
  return transportError('ERR_TRANSPORT_DIAL_FAILED', `dial ${address.host}:${address.port} aborted`, reason, { address, aborted: true });
}

function dialError(address: HostPort, err: unknown): TransportError {
  const message = bindingErrorMessage(err);
  const code: ErrorCode = message === 'timed out' ? 'ERR_TRANSPORT_DIAL_TIMEOUT' : 'ERR_TRANSPORT_DIAL_FAILED';
  return transportError(code, `dial ${address.host}:${address.port} failed: ${message}`, err, { address });
}
