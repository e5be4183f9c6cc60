/**
 * The tcp transport: node:net, or node:tls when TLS options are given — the baseline every
 * benchmark compares against. Like Erlang Partisan, which opens `parallelism` sockets per
 * channel, it uses one socket per stream: the dialer's first socket is the connection (its
 * "primary", carrying control messages), and every openStream() dials one more socket to the
 * same listener. Each socket starts with a preamble (session id + stream id, tcp-wire.ts) by
 * which the listener groups sockets into one connection.
 *
 * Failure rules:
 * - primary socket dies (error, or FIN without a CLOSE message: a killed peer) → the connection
 *   is closed with an error and every stream is reset;
 * - a stream socket dies → that stream is reset, the connection lives on;
 * - a stream's clean end is an END message on the primary naming its byte count, so a killed
 *   peer's FIN is never mistaken for a clean end.
 */
import { randomBytes } from 'node:crypto';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { TransportError } from '../../util/errors.js';
import { intOption, objectOption, rejectUnknownKeys } from '../../util/options.js';
import type { DialOptions, HostPort, Transport, TransportConnection, TransportListener } from '../transport.js';
import { TcpConnection, type ConnectionSettings, type TcpCounters } from './tcp-connection.js';
import { decodePreamble, encodePreamble, hasMagic, PREAMBLE_BYTES, SESSION_ID_BYTES, SocketKind } from './tcp-wire.js';

export type { TcpCounters } from './tcp-connection.js';

export interface TcpTransportOptions {
  /**
   * Dial with TLS, using these node:tls connect options (ca, cert, key, minVersion…). Default
   * none: plain TCP. Node certificates name nodes, not hosts: pass a `checkServerIdentity` that
   * accepts them and verify the node name in the handshake above the transport.
   */
  tlsClientOptions?: tls.ConnectionOptions;
  /** Listen with TLS, using these node:tls server options (key, cert, ca, requestCert…). Default none: plain TCP. */
  tlsServerOptions?: tls.TlsOptions;
  /** dial() and each dialer-side socket of openStream() give up after this, unless DialOptions.timeoutMs says otherwise; ms. Default 10_000. */
  dialTimeoutMs?: number;
  /** An accepted socket must complete TLS and send its preamble within this; ms. Default 10_000. */
  preambleTimeoutMs?: number;
  /** Acceptor-side openStream() waits this long for the dialer to connect the stream's socket; ms. Default 10_000. */
  openStreamTimeoutMs?: number;
  /** A graceful close waits this long for the peer to close its side before destroying sockets; ms. Default 2_000. */
  closeTimeoutMs?: number;
  /** Unread bytes queued per stream before its socket is paused (receiver backpressure). Default 1 MiB. */
  readBufferBytes?: number;
  /** read() merges queued chunks into one of up to this many bytes (TLS delivers 16 KiB records). Default 256 KiB. */
  readChunkBytes?: number;
  /** Idle time before TCP keepalive probes start, ms; 0 turns keepalive off. Default 10_000. */
  keepAliveMs?: number;
  /** Streams per connection; each is a socket and a file descriptor on both sides. Default 1024. */
  maxStreams?: number;
}

export interface ResolvedTcpOptions extends ConnectionSettings {
  tlsClientOptions: tls.ConnectionOptions | undefined;
  tlsServerOptions: tls.TlsOptions | undefined;
  dialTimeoutMs: number;
  preambleTimeoutMs: number;
  keepAliveMs: number;
}

const KNOWN_OPTIONS = [
  'tlsClientOptions',
  'tlsServerOptions',
  'dialTimeoutMs',
  'preambleTimeoutMs',
  'openStreamTimeoutMs',
  'closeTimeoutMs',
  'readBufferBytes',
  'readChunkBytes',
  'keepAliveMs',
  'maxStreams',
] as const;

const HOUR_MS = 3_600_000;
const GIB = 1024 * 1024 * 1024;

/** Fills defaults and validates; a bad value throws ERR_INVALID_OPTION naming the field. */
export function resolveTcpOptions(options: TcpTransportOptions = {}): ResolvedTcpOptions {
  const o = objectOption('tcp', options);
  rejectUnknownKeys('tcp', o, KNOWN_OPTIONS);
  const tlsOption = <T>(field: string): T | undefined => (o[field] === undefined ? undefined : (objectOption(`tcp.${field}`, o[field]) as T));
  return {
    tlsClientOptions: tlsOption<tls.ConnectionOptions>('tlsClientOptions'),
    tlsServerOptions: tlsOption<tls.TlsOptions>('tlsServerOptions'),
    dialTimeoutMs: intOption('tcp.dialTimeoutMs', o['dialTimeoutMs'], 10_000, 1, HOUR_MS),
    preambleTimeoutMs: intOption('tcp.preambleTimeoutMs', o['preambleTimeoutMs'], 10_000, 1, HOUR_MS),
    openStreamTimeoutMs: intOption('tcp.openStreamTimeoutMs', o['openStreamTimeoutMs'], 10_000, 1, HOUR_MS),
    closeTimeoutMs: intOption('tcp.closeTimeoutMs', o['closeTimeoutMs'], 2_000, 0, HOUR_MS),
    readBufferBytes: intOption('tcp.readBufferBytes', o['readBufferBytes'], 1024 * 1024, 1024, GIB),
    readChunkBytes: intOption('tcp.readChunkBytes', o['readChunkBytes'], 256 * 1024, 1024, GIB),
    keepAliveMs: intOption('tcp.keepAliveMs', o['keepAliveMs'], 10_000, 0, HOUR_MS),
    maxStreams: intOption('tcp.maxStreams', o['maxStreams'], 1024, 1, 1_000_000),
  };
}

/** The errno code of a socket error (ECONNREFUSED, EADDRINUSE…), kept in error details. */
function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export class TcpTransport implements Transport {
  readonly name = 'tcp' as const;
  readonly options: ResolvedTcpOptions;
  /** Protocol trouble met so far; garbage never crashes the transport, it is counted here. */
  readonly counters: TcpCounters = { badPreambles: 0, preambleTimeouts: 0, refusedStreams: 0, badControlMessages: 0, tlsErrors: 0 };
  private readonly listeners = new Set<TcpListener>();
  private readonly connections = new Set<TcpConnection>();
  private isClosed = false;

  constructor(options: TcpTransportOptions = {}) {
    this.options = resolveTcpOptions(options);
  }

  async listen(address: HostPort, onConnection: (connection: TransportConnection) => void): Promise<TransportListener> {
    if (this.isClosed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    const listener = new TcpListener(this.options, this.counters, onConnection, () => this.listeners.delete(listener));
    await listener.start(address);
    this.listeners.add(listener);
    return listener;
  }

  async dial(address: HostPort, options: DialOptions = {}): Promise<TransportConnection> {
    if (this.isClosed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    options.signal?.throwIfAborted();
    const timeoutMs = options.timeoutMs ?? this.options.dialTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const sessionId = randomBytes(SESSION_ID_BYTES);
    const primary = await this.connectSocket(address, encodePreamble({ kind: SocketKind.primary, sessionId, streamId: 0 }), timeoutMs, options.signal);
    const dialStream = (streamId: number, signal: AbortSignal): Promise<Socket> =>
      this.connectSocket(address, encodePreamble({ kind: SocketKind.stream, sessionId, streamId }), this.options.dialTimeoutMs, signal);
    const connection = new TcpConnection(primary, { host: address.host, port: address.port }, true, this.options, this.counters, dialStream);
    // The listener answers ACCEPT once it registered the session: stream sockets can't race it.
    await awaitAccept(connection, deadline, options.signal);
    if (this.isClosed) {
      connection.abort();
      throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport closed while dialing');
    }
    this.connections.add(connection);
    void connection.gone.then(() => this.connections.delete(connection));
    return connection;
  }

  async close(): Promise<void> {
    this.isClosed = true;
    await Promise.all([...this.listeners].map((l) => l.close()));
    await Promise.all(
      [...this.connections].map(async (c) => {
        await c.close();
        await c.gone;
      }),
    );
  }

  /** Connect one socket (TLS when configured) and send its preamble; rejects with a coded dial error. */
  private connectSocket(address: HostPort, preamble: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
    const tlsOptions = this.options.tlsClientOptions;
    const socket: Socket = tlsOptions ? tls.connect({ ...tlsOptions, host: address.host, port: address.port }) : net.connect({ host: address.host, port: address.port });
    const where = `${address.host}:${address.port}`;
    return new Promise<Socket>((resolve, reject) => {
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off(tlsOptions ? 'secureConnect' : 'connect', onConnect);
        if (err) {
          socket.destroy();
          reject(err);
          return;
        }
        resolve(socket);
      };
      const onConnect = (): void => {
        configureSocket(socket, this.options.keepAliveMs);
        socket.write(preamble);
        settle();
      };
      const onError = (err: Error): void =>
        settle(new TransportError('ERR_TRANSPORT_DIAL_FAILED', `dial ${where} failed: ${errno(err) ?? err.message}`, { cause: err, details: { address, errno: errno(err) } }));
      // Like fetch(): an aborted dial rejects with the signal's reason.
      const onAbort = (): void => settle(signal!.reason as Error);
      const timer = setTimeout(() => settle(new TransportError('ERR_TRANSPORT_DIAL_TIMEOUT', `dial ${where} timed out after ${timeoutMs} ms`, { details: { address } })), timeoutMs);
      socket.on('error', onError);
      socket.once(tlsOptions ? 'secureConnect' : 'connect', onConnect);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Wait for the listener's ACCEPT within the dial deadline and signal; abort the connection otherwise. */
async function awaitAccept(connection: TcpConnection, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const giveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TransportError('ERR_TRANSPORT_DIAL_TIMEOUT', 'the listener did not accept the connection in time')), Math.max(0, deadline - Date.now()));
    onAbort = () => reject(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([connection.accepted, giveUp]);
  } catch (err) {
    connection.abort();
    if (signal?.aborted && err === signal.reason) throw err;
    if (err instanceof TransportError && err.code !== 'ERR_TRANSPORT_STREAM_RESET') throw err;
    throw new TransportError('ERR_TRANSPORT_DIAL_FAILED', 'the connection died before the listener accepted it', { cause: err });
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

function configureSocket(socket: Socket, keepAliveMs: number): void {
  // Frames are batched above us; Nagle would only add latency to the last small write.
  socket.setNoDelay(true);
  if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs);
}

class TcpListener implements TransportListener {
  address!: HostPort;
  private readonly server: net.Server;
  /** Accepted connections by session id (hex), for stream sockets to find them. */
  private readonly sessions = new Map<string, TcpConnection>();
  /** Sockets still in their preamble. */
  private readonly pending = new Set<Socket>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: ResolvedTcpOptions,
    private readonly counters: TcpCounters,
    private readonly onConnection: (connection: TransportConnection) => void,
    private readonly onClosed: () => void,
  ) {
    const serverOptions = { allowHalfOpen: false, noDelay: true, keepAlive: options.keepAliveMs > 0, keepAliveInitialDelay: options.keepAliveMs };
    if (options.tlsServerOptions) {
      const server = tls.createServer({ ...options.tlsServerOptions, ...serverOptions });
      server.on('secureConnection', (socket) => this.onSocket(socket));
      server.on('tlsClientError', (_err, socket) => {
        this.counters.tlsErrors++;
        socket.destroy();
      });
      this.server = server;
    } else {
      this.server = net.createServer(serverOptions, (socket) => this.onSocket(socket));
    }
  }

  start(address: HostPort): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server.off('listening', onListening);
        reject(new TransportError('ERR_TRANSPORT_LISTEN_FAILED', `listen on ${address.host}:${address.port} failed: ${errno(err) ?? err.message}`, { cause: err, details: { address, errno: errno(err) } }));
      };
      const onListening = (): void => {
        this.server.off('error', onError);
        // Errors after listening (EMFILE on accept…) must not crash the process; accept goes on.
        this.server.on('error', () => {});
        const bound = this.server.address() as net.AddressInfo;
        this.address = { host: bound.address, port: bound.port };
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen({ host: address.host, port: address.port });
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const socket of this.pending) socket.destroy();
      await Promise.all(
        [...this.sessions.values()].map(async (c) => {
          await c.close();
          await c.gone;
        }),
      );
      await stopped;
      this.onClosed();
    })();
    return this.closing;
  }

  /** A new socket (TLS done): read its preamble, then hand it to a new or an existing connection. */
  private onSocket(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.pending.add(socket);
    socket.on('error', noop); // until an owner takes it; errors in the preamble just close it
    let head: Buffer | undefined;
    const timer = setTimeout(() => {
      this.counters.preambleTimeouts++;
      done();
      socket.destroy();
    }, this.options.preambleTimeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', done);
      this.pending.delete(socket);
    };
    const onData = (chunk: Buffer): void => {
      head = head ? Buffer.concat([head, chunk]) : chunk;
      // Reject garbage as soon as the magic is wrong rather than waiting for a full preamble.
      if (head.length >= 4 && !hasMagic(head)) {
        this.refuse(socket, done, 'badPreambles');
        return;
      }
      if (head.length < PREAMBLE_BYTES) return;
      socket.pause();
      done();
      if (head.length > PREAMBLE_BYTES) socket.unshift(head.subarray(PREAMBLE_BYTES));
      this.onPreamble(socket, head.subarray(0, PREAMBLE_BYTES));
    };
    socket.on('data', onData);
    socket.once('close', done);
  }

  private onPreamble(socket: Socket, head: Buffer): void {
    const preamble = decodePreamble(head);
    if (typeof preamble === 'string') {
      this.refuse(socket, noop, 'badPreambles');
      return;
    }
    const key = preamble.sessionId.toString('hex');
    if (preamble.kind === SocketKind.stream) {
      const connection = this.sessions.get(key);
      if (!connection?.attachStreamSocket(socket, preamble.streamId)) {
        this.refuse(socket, noop, 'refusedStreams');
        return;
      }
      socket.off('error', noop);
      socket.resume();
      return;
    }
    if (this.sessions.has(key)) {
      this.refuse(socket, noop, 'badPreambles');
      return;
    }
    const connection = new TcpConnection(socket, { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }, false, this.options, this.counters, undefined);
    socket.off('error', noop);
    socket.resume();
    this.sessions.set(key, connection);
    void connection.gone.then(() => this.sessions.delete(key));
    this.onConnection(connection);
  }

  private refuse(socket: Socket, done: () => void, counter: 'badPreambles' | 'refusedStreams'): void {
    this.counters[counter]++;
    done();
    socket.destroy();
  }
}

function noop(): void {}
