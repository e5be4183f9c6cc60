/**
 * The quinn (Rust QUIC) napi binding that ships inside `@chainsafe/libp2p-quic`, used directly
 * (no libp2p node). This is the only file that knows the binding exists: it loads the native
 * module and gives it the TypeScript types below, written from the 1.1.8 sources
 * (src/napi.d.ts, rust/lib.rs, rust/config.rs). The package does not export `napi.js`, so it is
 * found next to the package's entry point.
 *
 * Facts about the binding that the transport relies on (all measured on 1.1.8):
 * - Every async method is a tokio future behind a ref'd threadsafe function: a pending call
 *   keeps the process alive until it settles. Closing must settle all of them.
 * - Errors are plain napi errors (`code` 'Unknown' or 'GenericFailure') with quinn's Display
 *   text as message: "timed out", "closed by peer: 0", "stream reset by peer: error 0"…
 * - A thread that holds live binding objects and is terminated or dies of an uncaught error
 *   aborts the whole process (SIGABRT): the binding is only ever loaded on the main thread.
 * - `Config.handshakeTimeout` is ignored by the Rust side (the handshake ends at the idle
 *   timeout); callers need their own timer.
 * - `Server` sockets ignore `receiveBufferSize`/`sendBufferSize`; only `Client` sockets use them.
 * - `Server.abort()` unbinds the UDP socket at once; a `Client` socket is only released when
 *   the endpoint and all its connections are garbage-collected.
 * - `Stream.read`/`write` hold a per-direction mutex while pending, so `stopRead`/`resetWrite`
 *   wait for a pending read/write of the same direction to finish.
 * - A stream opened with `outboundStream()` is invisible to the peer until its first bytes
 *   are written.
 */
import { isMainThread } from 'node:worker_threads';
import { TransportError } from '../../util/errors.js';

/** Fields of the binding's `Config` (all numbers are u32: ms or bytes). */
export interface QuinnConfigInit {
  /** libp2p protobuf of the Ed25519 private key: 08 01 12 40 ‖ seed(32) ‖ public key(32). */
  privateKeyProto: Uint8Array;
  handshakeTimeout: number;
  maxIdleTimeout: number;
  keepAliveInterval: number;
  /** Bidirectional streams the peer may have open at once. */
  maxConcurrentStreamLimit: number;
  /** Per-stream receive window, bytes. */
  maxStreamData: number;
  /** Per-connection receive window, bytes. */
  maxConnectionData: number;
  receiveBufferSize: number;
  sendBufferSize: number;
}

/** Opaque: TLS identity and transport parameters, shared by servers and clients. */
export interface QuinnConfig {
  readonly __quinnConfig: unique symbol;
}

export interface QuinnStream {
  /** quinn's stream index (per initiator); throws while a write holds the send lock. */
  id(): string;
  /** Up to `maxLen` bytes, or null at the peer's clean end. Allocates a fresh buffer per call. */
  read(maxLen: number): Promise<Uint8Array | null>;
  /** Resolves once quinn buffered all of `data`; `data` is referenced until then. */
  write(data: Uint8Array): Promise<void>;
  finishWrite(): Promise<void>;
  resetWrite(): Promise<void>;
  stopRead(): Promise<void>;
}

export interface QuinnConnection {
  inboundStream(): Promise<QuinnStream>;
  outboundStream(): Promise<QuinnStream>;
  /** CONNECTION_CLOSE with application code 0, now; unsent stream data is dropped. */
  abort(): void;
  /** Smoothed RTT, ms. */
  rtt(): number;
  id(): string;
  /** `/ip4|ip6/<ip>/udp/<port>/quic-v1/p2p/<peer id, base58btc>`. */
  remoteMultiaddr(): string;
  closed(): Promise<void>;
}

export interface QuinnServer {
  port(): number;
  /** Next connection, handshake included; rejects with "server closed" after abort(). */
  inboundConnection(): Promise<QuinnConnection>;
  /** Close every connection, wait for them to drain, unbind the socket. */
  abort(): Promise<void>;
}

export interface QuinnClient {
  outboundConnection(ip: string, port: number): Promise<QuinnConnection>;
  /** Close the endpoint and its connections (the socket goes with garbage collection). */
  abort(): void;
}

export type SocketFamily = 'ipv4' | 'ipv6';

export interface QuinnBinding {
  /** Parses the key and builds the TLS configs; throws on a bad key. */
  createConfig(init: QuinnConfigInit): QuinnConfig;
  /** Binds a UDP socket on ip:port (port 0 picks one). Throws on bind failure. */
  createServer(config: QuinnConfig, ip: string, port: number): QuinnServer;
  /** Binds a UDP socket on the unspecified address of `family`, port 0. */
  createClient(config: QuinnConfig, family: SocketFamily): QuinnClient;
}

/** The shape of the module exports, as far as we use them. */
interface NapiModule {
  QuinnConfig: new (init: QuinnConfigInit) => QuinnConfig;
  Server: new (config: QuinnConfig, ip: string, port: number) => QuinnServer;
  Client: new (config: QuinnConfig, family: 0 | 1) => QuinnClient;
}

let loading: Promise<QuinnBinding> | undefined;

/** Whether this thread has started loading the native module (tests check workers never do). */
export function quinnBindingLoaded(): boolean {
  return loading !== undefined;
}

/**
 * Load the binding once per process. Rejects with ERR_TRANSPORT_UNAVAILABLE off the main
 * thread (see the file comment) or when the native part is missing for this platform.
 */
export function loadQuinnBinding(): Promise<QuinnBinding> {
  if (!isMainThread) {
    return Promise.reject(
      new TransportError('ERR_TRANSPORT_UNAVAILABLE', 'the quic transport runs on the main thread only: a worker holding native QUIC objects aborts the process when it dies'),
    );
  }
  loading ??= importNapi().then(
    (napi): QuinnBinding => ({
      createConfig: (init) => new napi.QuinnConfig(init),
      createServer: (config, ip, port) => new napi.Server(config, ip, port),
      createClient: (config, family) => new napi.Client(config, family === 'ipv4' ? 0 : 1),
    }),
    (err: unknown) => {
      loading = undefined;
      throw new TransportError('ERR_TRANSPORT_UNAVAILABLE', `the quinn binding of @chainsafe/libp2p-quic could not be loaded: ${bindingErrorMessage(err)}`, {
        cause: err,
      });
    },
  );
  return loading;
}

async function importNapi(): Promise<NapiModule> {
  // The package only exports its libp2p entry (import condition only); napi.js sits beside it.
  const entry = import.meta.resolve('@chainsafe/libp2p-quic');
  const mod = (await import(new URL('./napi.js', entry).href)) as Partial<NapiModule>;
  if (typeof mod.QuinnConfig !== 'function' || typeof mod.Server !== 'function' || typeof mod.Client !== 'function') {
    throw new Error(`${entry}: napi.js does not export QuinnConfig, Server and Client`);
  }
  return mod as NapiModule;
}

/** The message of a binding error (napi errors carry quinn's text and little else). */
export function bindingErrorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
