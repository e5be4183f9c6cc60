/**
 * The webtransport transport, on @fails-components/webtransport: WebTransport over HTTP/3 when
 * the package's native part (webtransport-transport-http3-quiche) loads, otherwise WebTransport
 * over HTTP/2 (TCP + TLS) from the same package. It lets browsers and edge gateways speak to a
 * node. A WebTransport session is a TransportConnection, a bidirectional WebTransport stream a
 * TransportStream.
 *
 * Trust: WebTransport clients pin server certificates by SHA-256 hash (what browsers do with
 * `serverCertificateHashes`); there are no client certificates, so `remoteKey` is undefined
 * and nodes prove their identity in the handshake above the transport.
 */
import { randomBytes } from 'node:crypto';
import type { ReadableStream, ReadableStreamDefaultReader, WritableStream, WritableStreamDefaultWriter } from 'node:stream/web';
import { InvalidOptionError, TransportError } from '../../util/errors.js';
import { enumOption, intOption, objectOption, rejectUnknownKeys, stringOption } from '../../util/options.js';
import type { CloseInfo, DialOptions, HostPort, Transport, TransportConnection, TransportListener, TransportStream } from '../transport.js';

export type WebTransportMode = 'http3' | 'http2';

export interface WebTransportTransportOptions {
  /** `auto`: HTTP/3 when the native part loads, else HTTP/2; or force one (`http3` fails with ERR_TRANSPORT_UNAVAILABLE when it cannot load). Default `auto`. */
  mode?: 'auto' | WebTransportMode;
  /**
   * Server certificate and key, PEM, for listen(). Default: a fresh self-signed ECDSA P-256
   * certificate valid 13 days, made by create() (browsers pin hashes only of ECDSA
   * certificates valid at most 14 days).
   */
  certificate?: { certificatePem: string; privateKeyPem: string };
  /** SHA-256 hashes of the server certificates dial() accepts. Default: the hash of this transport's own certificate. */
  serverCertificateHashes?: readonly Uint8Array[];
  /** URL path of the WebTransport endpoint. Default `/partisan`. */
  path?: string;
  /** dial() gives up after this unless DialOptions.timeoutMs says otherwise, ms. Default 10_000. */
  dialTimeoutMs?: number;
  /**
   * Session flow-control window, bytes. Default 15 MiB. Over HTTP/2 on Node < 21.7 the peers
   * cannot exchange it (no custom SETTINGS), so every node must use the same value; the
   * package's own 16 KiB default stalls a session after 16 KiB.
   */
  sessionWindowBytes?: number;
  /**
   * Initial per-stream flow-control window, bytes (auto-tuned up to 6 MiB). Bigger is faster
   * for bulk (measured over HTTP/2 on loopback, 64 KiB writes: 64 KiB → 80 MB/s, 1 MiB → 205,
   * 6 MiB → 266). Same caveat as sessionWindowBytes. Default 1 MiB.
   */
  streamWindowBytes?: number;
  /** Bidirectional streams the peer may have open at once. Same caveat as sessionWindowBytes. Default 1024. */
  maxStreams?: number;
  /** listener.close() waits this long for clients to leave before dropping their HTTP/2 sessions, ms. Default 2_000. */
  closeTimeoutMs?: number;
}

export interface ResolvedWebTransportOptions {
  mode: 'auto' | WebTransportMode;
  certificate: { certificatePem: string; privateKeyPem: string } | undefined;
  serverCertificateHashes: readonly Uint8Array[] | undefined;
  path: string;
  dialTimeoutMs: number;
  sessionWindowBytes: number;
  streamWindowBytes: number;
  maxStreams: number;
  closeTimeoutMs: number;
}

const KNOWN_OPTIONS = [
  'mode',
  'certificate',
  'serverCertificateHashes',
  'path',
  'dialTimeoutMs',
  'sessionWindowBytes',
  'streamWindowBytes',
  'maxStreams',
  'closeTimeoutMs',
] as const;

const MIB = 1024 * 1024;

/** Fills defaults and validates; a bad value throws ERR_INVALID_OPTION naming the field. */
export function resolveWebTransportOptions(options: WebTransportTransportOptions = {}): ResolvedWebTransportOptions {
  const o = objectOption('webtransport', options);
  rejectUnknownKeys('webtransport', o, KNOWN_OPTIONS);
  let certificate: ResolvedWebTransportOptions['certificate'];
  if (o['certificate'] !== undefined) {
    const c = objectOption('webtransport.certificate', o['certificate']);
    rejectUnknownKeys('webtransport.certificate', c, ['certificatePem', 'privateKeyPem']);
    certificate = {
      certificatePem: stringOption('webtransport.certificate.certificatePem', c['certificatePem'], '', /-----BEGIN CERTIFICATE-----/),
      privateKeyPem: stringOption('webtransport.certificate.privateKeyPem', c['privateKeyPem'], '', /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
    };
  }
  const hashes = o['serverCertificateHashes'];
  if (hashes !== undefined && (!Array.isArray(hashes) || hashes.some((h) => !(h instanceof Uint8Array) || h.byteLength !== 32))) {
    throw new InvalidOptionError('webtransport.serverCertificateHashes', hashes, 'expected an array of 32-byte SHA-256 hashes');
  }
  return {
    mode: enumOption('webtransport.mode', o['mode'], 'auto', ['auto', 'http3', 'http2']),
    certificate,
    serverCertificateHashes: hashes as readonly Uint8Array[] | undefined,
    path: stringOption('webtransport.path', o['path'], '/partisan', /^\/[A-Za-z0-9._~\-/]*$/),
    dialTimeoutMs: intOption('webtransport.dialTimeoutMs', o['dialTimeoutMs'], 10_000, 1, 3_600_000),
    sessionWindowBytes: intOption('webtransport.sessionWindowBytes', o['sessionWindowBytes'], 15 * MIB, 64 * 1024, 1024 * MIB),
    streamWindowBytes: intOption('webtransport.streamWindowBytes', o['streamWindowBytes'], MIB, 16 * 1024, 64 * MIB),
    maxStreams: intOption('webtransport.maxStreams', o['maxStreams'], 1024, 1, 1_000_000),
    closeTimeoutMs: intOption('webtransport.closeTimeoutMs', o['closeTimeoutMs'], 2_000, 0, 3_600_000),
  };
}

// ---- the slice of @fails-components/webtransport this file uses (its own typings need the DOM lib) ----

interface WtBidiStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

interface WtCloseInfo {
  closeCode?: number;
  reason?: string;
}

interface WtSession {
  ready: Promise<unknown>;
  closed: Promise<WtCloseInfo>;
  incomingBidirectionalStreams: ReadableStream<WtBidiStream>;
  createBidirectionalStream(options?: { waitUntilAvailable?: boolean }): Promise<WtBidiStream>;
  close(info?: WtCloseInfo): void;
  readonly peerAddress?: string | undefined;
}

interface WtServer {
  ready: Promise<unknown>;
  closed: Promise<unknown>;
  startServer(): void;
  stopServer(): void;
  address(): { port: number; host: string } | null;
  sessionStream(path: string): ReadableStream<WtSession>;
  /** Internal: the HTTP/2 server (node:http2) behind Http2Server; used to drop sessions at close. */
  transportInt?: { serverInt?: import('node:http2').Http2SecureServer };
}

interface WtModule {
  Http2Server: new (init: Record<string, unknown>) => WtServer;
  Http3Server: new (init: Record<string, unknown>) => WtServer;
  WebTransport: new (url: string, init: Record<string, unknown>) => WtSession;
  quicheLoaded: Promise<unknown>;
}

const HTTP3_PACKAGE = '@fails-components/webtransport-transport-http3-quiche';
/** What the package prints (stdout and stderr) when its optional native part is missing. */
const LOADER_NOISE = /^(http3 loader:|Problem loading http3-quiche transport|Did you install @fails-components\/webtransport-transport-http3-quiche)/;

let library: Promise<{ lib: WtModule; http3: boolean }> | undefined;

/**
 * Import the package once, on first use. Its modules try to import the native HTTP/3 part at
 * load and print a complaint when it is missing; those lines (only those) are filtered out of
 * console.log/console.error while the loaders settle, then the console is restored.
 */
function loadLibrary(): Promise<{ lib: WtModule; http3: boolean }> {
  library ??= (async () => {
    const { log, error } = console;
    const filter =
      (write: (...args: unknown[]) => void) =>
      (...args: unknown[]): void => {
        if (typeof args[0] === 'string' && LOADER_NOISE.test(args[0])) return;
        write(...args);
      };
    console.log = filter(log);
    console.error = filter(error);
    try {
      const lib = (await import('@fails-components/webtransport')) as unknown as WtModule;
      await lib.quicheLoaded;
      let http3 = false;
      try {
        await import(HTTP3_PACKAGE);
        http3 = true;
      } catch {
        // HTTP/2 mode.
      }
      // The server module's loader settles in the same turn as ours; let its catch handlers run.
      await new Promise((resolve) => setImmediate(resolve));
      return { lib, http3 };
    } finally {
      console.log = log;
      console.error = error;
    }
  })();
  return library;
}

/** The reason our close() puts in the WebTransport close: anything else means the peer died or aborted. */
const CLOSE_REASON = 'partisan:close';

function streamReset(message: string, cause?: unknown): TransportError {
  return new TransportError('ERR_TRANSPORT_STREAM_RESET', message, cause === undefined ? {} : { cause });
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class WtStream implements TransportStream {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Set by abort() and by the connection's end: wins over whatever the library says next. */
  private error: Error | undefined;
  private ended = false;

  constructor(
    readonly id: string,
    stream: WtBidiStream,
    private readonly connection: WtConnection,
  ) {
    this.reader = stream.readable.getReader();
    this.writer = stream.writable.getWriter();
    // A close/abort error surfaces on this promise even when nobody writes.
    this.writer.closed.catch(() => {});
  }

  read(): Promise<Uint8Array | null> {
    if (this.error) return Promise.reject(this.error);
    return this.reader.read().then(
      (result) => {
        if (this.error) throw this.error;
        return result.done ? null : result.value;
      },
      (err: unknown) => {
        throw this.error ?? this.connection.streamError(this.id, err);
      },
    );
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.reject(new TransportError('ERR_TRANSPORT_CLOSED', `stream ${this.id} is ended for writing`));
    // The package hands the chunk to node:http2 by reference and resolves before it is flushed;
    // the caller may reuse its buffer once write() resolved, so the package gets a copy.
    return this.writer.write(new Uint8Array(chunk)).catch((err: unknown) => {
      throw this.error ?? this.connection.streamError(this.id, err);
    });
  }

  async end(): Promise<void> {
    if (this.ended || this.error) return;
    this.ended = true;
    try {
      await this.writer.close();
    } catch (err) {
      throw this.error ?? this.connection.streamError(this.id, err);
    }
  }

  abort(reason?: Error): void {
    if (this.error) return;
    this.error = streamReset(`stream ${this.id} aborted locally`, reason);
    // RESET_STREAM and STOP_SENDING; a pending read resolves "done" on cancel, `error` turns it into a rejection.
    this.writer.abort(reason).catch(() => {});
    this.reader.cancel(reason).catch(() => {});
  }
}

class WtConnection implements TransportConnection {
  readonly transport = 'webtransport' as const;
  readonly remoteKey = undefined;
  readonly remoteCertificate = undefined;
  readonly closed: Promise<CloseInfo>;
  private localClose: CloseInfo | undefined;
  private handler: ((stream: TransportStream) => void) | undefined;
  private early: TransportStream[] = [];
  /** Stream ids for logs: even for streams the dialer opened, odd for the acceptor's. */
  private nextId: number;
  private nextPeerId: number;
  private isClosed = false;

  constructor(
    private readonly session: WtSession,
    readonly remoteAddress: HostPort,
    readonly outbound: boolean,
  ) {
    this.nextId = outbound ? 0 : 1;
    this.nextPeerId = outbound ? 1 : 0;
    // Resolved straight from the session's own promise (no timers in between), so pending reads
    // reject in the same turn as `closed` resolves.
    this.closed = session.closed.then(
      (info): CloseInfo => this.finish(info),
      (err: unknown): CloseInfo => this.finish(undefined, err),
    );
    void this.acceptStreams();
  }

  onStream(handler: (stream: TransportStream) => void): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const s of early) handler(s);
  }

  async openStream(): Promise<TransportStream> {
    if (this.isClosed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'connection is closed');
    let stream: WtBidiStream;
    try {
      stream = await this.session.createBidirectionalStream({ waitUntilAvailable: true });
    } catch (err) {
      throw new TransportError(this.isClosed ? 'ERR_TRANSPORT_CLOSED' : 'ERR_TRANSPORT_STREAM_RESET', `cannot open a stream: ${describeError(err)}`, { cause: err });
    }
    const id = this.nextId;
    this.nextId += 2;
    return new WtStream(String(id), stream, this);
  }

  async close(): Promise<void> {
    this.shut({ local: true }, 0, CLOSE_REASON);
  }

  abort(reason?: Error): void {
    this.shut({ local: true, ...(reason ? { error: reason } : {}) }, 1, 'abort');
  }

  /** The error a stream's read/write gets from the library, as a coded error. */
  streamError(id: string, err: unknown): TransportError {
    if (this.isClosed && this.localClose) return new TransportError('ERR_TRANSPORT_CLOSED', `stream ${id}: connection closed`, { cause: err });
    return streamReset(`stream ${id}: ${describeError(err)}`, err);
  }

  private shut(info: CloseInfo, closeCode: number, reason: string): void {
    if (this.isClosed || this.localClose) return;
    this.localClose = info;
    try {
      this.session.close({ closeCode, reason });
    } catch {
      // Already failed: `closed` settles on its own.
    }
  }

  private finish(info: WtCloseInfo | undefined, err?: unknown): CloseInfo {
    this.isClosed = true;
    if (this.localClose) return this.localClose;
    if (info && info.reason === CLOSE_REASON) return { local: false };
    const why = info ? `code ${info.closeCode ?? 0}${info.reason ? `, ${info.reason}` : ''}` : describeError(err);
    return { local: false, error: streamReset(`connection lost (${why})`, err) };
  }

  private async acceptStreams(): Promise<void> {
    const reader = this.session.incomingBidirectionalStreams.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const id = this.nextPeerId;
        this.nextPeerId += 2;
        const stream = new WtStream(String(id), value, this);
        if (this.handler) this.handler(stream);
        else this.early.push(stream);
      }
    } catch {
      // The session ended; `closed` reports how.
    } finally {
      reader.releaseLock();
    }
  }
}

class WtListener implements TransportListener {
  address!: HostPort;
  private readonly connections = new Set<WtConnection>();
  private readonly http2Sessions = new Set<import('node:http2').ServerHttp2Session>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly server: WtServer,
    private readonly options: ResolvedWebTransportOptions,
    private readonly onConnection: (connection: TransportConnection) => void,
    private readonly onClosed: () => void,
    /** Our certificate's hash, published in `address` so peers can pin it. */
    private readonly certHash: string,
  ) {}

  async start(address: HostPort): Promise<void> {
    const sessions = this.server.sessionStream(this.options.path);
    this.server.startServer();
    try {
      await this.server.ready;
    } catch (err) {
      throw new TransportError('ERR_TRANSPORT_LISTEN_FAILED', `listen on ${address.host}:${address.port} failed: ${describeError(err)}`, {
        cause: err,
        details: { address, errno: (err as NodeJS.ErrnoException).code },
      });
    }
    // The package leaves HTTP/2 sessions to the clients; track them so close() can end them.
    this.server.transportInt?.serverInt?.on('session', (session) => {
      this.http2Sessions.add(session);
      session.once('close', () => this.http2Sessions.delete(session));
    });
    const bound = this.server.address();
    this.address = { host: bound?.host ?? address.host, port: bound?.port ?? address.port, certHash: this.certHash };
    void this.acceptSessions(sessions);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = this.server.closed;
      for (const c of this.connections) await c.close();
      this.server.stopServer();
      for (const s of this.http2Sessions) s.close();
      const timer = setTimeout(() => {
        for (const s of this.http2Sessions) s.destroy();
      }, this.options.closeTimeoutMs);
      try {
        await closed;
      } finally {
        clearTimeout(timer);
      }
      this.onClosed();
    })();
    return this.closing;
  }

  private async acceptSessions(sessions: ReadableStream<WtSession>): Promise<void> {
    const reader = sessions.getReader();
    try {
      for (;;) {
        const { value: session, done } = await reader.read();
        if (done) break;
        session.closed.catch(() => {});
        try {
          await session.ready;
        } catch {
          continue;
        }
        if (this.closing) {
          session.close({ closeCode: 0, reason: CLOSE_REASON });
          continue;
        }
        const connection = new WtConnection(session, parsePeerAddress(session.peerAddress), false);
        this.connections.add(connection);
        void connection.closed.then(() => this.connections.delete(connection));
        this.onConnection(connection);
      }
    } catch {
      // The server stopped.
    }
  }
}

function parsePeerAddress(peer: string | undefined): HostPort {
  const at = peer?.lastIndexOf(':') ?? -1;
  if (!peer || at < 0) return { host: '', port: 0 };
  return { host: peer.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(peer.slice(at + 1)) || 0 };
}

/** Same as WebTransportTransport.create(). */
export function createWebTransportTransport(options: WebTransportTransportOptions = {}): Promise<WebTransportTransport> {
  return WebTransportTransport.create(options);
}

export class WebTransportTransport implements Transport {
  readonly name = 'webtransport' as const;
  private readonly listeners = new Set<WtListener>();
  private readonly connections = new Set<WtConnection>();
  private isClosed = false;

  /** Loads the package (first call only), picks the mode and makes a certificate unless one was given. */
  static async create(options: WebTransportTransportOptions = {}): Promise<WebTransportTransport> {
    const resolved = resolveWebTransportOptions(options);
    const { lib, http3 } = await loadLibrary();
    if (resolved.mode === 'http3' && !http3) {
      throw new TransportError('ERR_TRANSPORT_UNAVAILABLE', `WebTransport over HTTP/3 needs ${HTTP3_PACKAGE}, which did not load`);
    }
    const mode: WebTransportMode = resolved.mode === 'auto' ? (http3 ? 'http3' : 'http2') : resolved.mode;
    let certificate = resolved.certificate;
    let ownHash: Uint8Array | undefined;
    if (!certificate) {
      const { selfSignedCertificate } = await import('../../security/certificates.js');
      const made = await selfSignedCertificate();
      certificate = { certificatePem: made.certificatePem, privateKeyPem: made.privateKeyPem };
      ownHash = made.sha256;
    } else {
      const { certificateSha256, pemToDer } = await import('../../security/certificates.js');
      ownHash = certificateSha256(pemToDer(certificate.certificatePem));
    }
    return new WebTransportTransport(lib, mode, resolved, certificate, resolved.serverCertificateHashes ?? [ownHash], ownHash);
  }

  private constructor(
    private readonly lib: WtModule,
    /** Which WebTransport runs: `http3` (QUIC, native part loaded) or `http2` (TCP + TLS). */
    readonly mode: WebTransportMode,
    readonly options: ResolvedWebTransportOptions,
    private readonly certificate: { certificatePem: string; privateKeyPem: string },
    private readonly trustedHashes: readonly Uint8Array[],
    private readonly ownHash: Uint8Array,
  ) {}

  /** Flow-control settings both ends must agree on (see sessionWindowBytes). */
  private flowControl(): Record<string, number> {
    return {
      initialSessionFlowControlWindow: this.options.sessionWindowBytes,
      sessionFlowControlWindowSizeLimit: this.options.sessionWindowBytes,
      initialStreamFlowControlWindow: this.options.streamWindowBytes,
      initialBidirectionalStreams: this.options.maxStreams,
      initialBidirectionalSendStreams: this.options.maxStreams,
      initialBidirectionalReceiveStreams: this.options.maxStreams,
    };
  }

  async listen(address: HostPort, onConnection: (connection: TransportConnection) => void): Promise<TransportListener> {
    if (this.isClosed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    const Server = this.mode === 'http3' ? this.lib.Http3Server : this.lib.Http2Server;
    const server = new Server({
      port: address.port,
      host: address.host,
      secret: randomBytes(16).toString('hex'),
      cert: this.certificate.certificatePem,
      privKey: this.certificate.privateKeyPem,
      ...this.flowControl(),
    });
    const listener: WtListener = new WtListener(server, this.options, onConnection, () => this.listeners.delete(listener), Buffer.from(this.ownHash).toString('hex'));
    await listener.start(address);
    this.listeners.add(listener);
    return listener;
  }

  async dial(address: HostPort, options: DialOptions = {}): Promise<TransportConnection> {
    if (this.isClosed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    options.signal?.throwIfAborted();
    const timeoutMs = options.timeoutMs ?? this.options.dialTimeoutMs;
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    const where = `${host}:${address.port}`;
    const session = new this.lib.WebTransport(`https://${where}${this.options.path}`, {
      // The address's own hash (from the peer's node spec) first; else the configured ones.
      serverCertificateHashes: (address.certHash ? [Buffer.from(address.certHash, 'hex')] : this.trustedHashes).map((value) => ({ algorithm: 'sha-256', value })),
      ...(this.mode === 'http2' ? { forceReliable: true } : {}),
      // The package's own handshake timers (8 s and 2 s by default) would fire after our deadline.
      quicConnectTimeout: timeoutMs,
      webTransportConnectTimeout: timeoutMs,
      ...this.flowControl(),
    });
    session.closed.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new TransportError('ERR_TRANSPORT_DIAL_TIMEOUT', `dial ${where} timed out after ${timeoutMs} ms`, { details: { address } })), timeoutMs);
        // Like fetch(): an aborted dial rejects with the signal's reason.
        onAbort = () => reject(options.signal!.reason);
        options.signal?.addEventListener('abort', onAbort, { once: true });
        session.ready.then(
          () => resolve(),
          (err: unknown) => reject(new TransportError('ERR_TRANSPORT_DIAL_FAILED', `dial ${where} failed: ${describeError(err)}`, { cause: err, details: { address } })),
        );
      });
    } catch (err) {
      try {
        session.close({ closeCode: 1, reason: 'dial abandoned' });
      } catch {
        // Not connected: the package tears the attempt down itself.
      }
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    }
    const connection = new WtConnection(session, { host: address.host, port: address.port }, true);
    if (this.isClosed) {
      connection.abort();
      throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport closed while dialing');
    }
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
    return connection;
  }

  async close(): Promise<void> {
    this.isClosed = true;
    await Promise.all([...this.listeners].map((l) => l.close()));
    await Promise.all([...this.connections].map((c) => c.close()));
  }
}
