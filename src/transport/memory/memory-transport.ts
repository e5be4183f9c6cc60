import { systemClock, type Clock } from '../../util/clock.js';
import { TransportError } from '../../util/errors.js';
import { systemRandom, type Random } from '../../util/random.js';
import type {
  CloseInfo,
  DialOptions,
  HostPort,
  Transport,
  TransportConnection,
  TransportListener,
  TransportStream,
} from '../transport.js';

/**
 * An in-process network for tests and the simulator. Deterministic when given a FakeClock and
 * a seeded Random. Each write arrives as one chunk (never split or merged), which is what lets
 * the fault model drop or reorder whole writes: with `loss` or `reorder` set, a link is no
 * longer reliable or ordered — that is the point, for testing acks and causal delivery.
 */

export interface LinkFaults {
  /** One-way delay added to every write, ms. Default 0. */
  latencyMs?: number;
  /** Extra uniform random delay in [0, jitterMs), ms. Default 0 (FIFO is kept unless `reorder`). */
  jitterMs?: number;
  /** Probability a write is silently dropped. Default 0. */
  loss?: number;
  /** Probability a write may overtake earlier ones (it skips the FIFO clamp). Default 0. */
  reorder?: number;
}

export interface MemoryNetworkOptions {
  clock?: Clock;
  random?: Random;
  /** Bytes a stream may hold unread before the writer's write() waits. Default 1 MiB. */
  highWaterMark?: number;
  /** Faults on every link without its own. Default none. */
  defaultFaults?: LinkFaults;
}

type Host = string;

function key(a: HostPort): string {
  return `${a.host}:${a.port}`;
}

function streamReset(message: string, cause?: Error): TransportError {
  return new TransportError('ERR_TRANSPORT_STREAM_RESET', message, cause ? { cause } : {});
}

interface Waiter {
  resolve: (chunk: Uint8Array | null) => void;
  reject: (err: Error) => void;
}

/** One direction's receive side of a stream. */
class Inbox {
  chunks: Uint8Array[] = [];
  bytes = 0;
  ended = false;
  error: Error | undefined;
  waiter: Waiter | undefined;
  drainWaiters: Array<() => void> = [];

  deliver(chunk: Uint8Array): void {
    if (this.ended || this.error) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  end(): void {
    if (this.ended || this.error) return;
    this.ended = true;
    if (this.waiter && this.chunks.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(null);
    }
  }

  fail(err: Error): void {
    if (this.error) return;
    if (this.ended && this.chunks.length === 0) return;
    this.error = err;
    this.chunks = [];
    this.bytes = 0;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(err);
    }
    this.releaseWriters();
  }

  read(): Promise<Uint8Array | null> {
    if (this.chunks.length > 0) {
      const chunk = this.chunks.shift()!;
      this.bytes -= chunk.length;
      this.releaseWriters();
      return Promise.resolve(chunk);
    }
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve(null);
    if (this.waiter) return Promise.reject(new TransportError('ERR_TRANSPORT_CLOSED', 'concurrent read() on one stream'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private releaseWriters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}

class MemoryStream implements TransportStream {
  readonly inbox = new Inbox();
  peer!: MemoryStream;
  private writeEnded = false;
  private dead = false;
  /** Whether the peer side has been announced to the peer connection's stream handler. */
  announced = false;

  constructor(
    readonly id: string,
    private readonly connection: MemoryConnection,
  ) {}

  read(): Promise<Uint8Array | null> {
    return this.inbox.read();
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.dead || this.writeEnded) throw new TransportError('ERR_TRANSPORT_CLOSED', `stream ${this.id} is closed for writing`);
    // Copy: the caller may reuse its buffer once write() resolved, and delivery may be later.
    const copy = new Uint8Array(chunk);
    this.connection.send(this, () => this.peer.inbox.deliver(copy));
    const hwm = this.connection.network.highWaterMark;
    while (!this.dead && this.peer.inbox.bytes > hwm && !this.peer.inbox.error) {
      await new Promise<void>((resolve) => this.peer.inbox.drainWaiters.push(resolve));
    }
  }

  async end(): Promise<void> {
    if (this.dead || this.writeEnded) return;
    this.writeEnded = true;
    this.connection.send(this, () => this.peer.inbox.end(), true);
  }

  abort(reason?: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.inbox.fail(streamReset(`stream ${this.id} aborted locally`, reason));
    this.connection.send(this, () => this.peer.kill(streamReset(`stream ${this.id} reset by peer`, reason)), true);
  }

  /** The connection (or the peer) is gone. */
  kill(err: Error): void {
    this.dead = true;
    this.inbox.fail(err);
  }
}

class MemoryConnection implements TransportConnection {
  readonly transport = 'memory' as const;
  readonly remoteKey = undefined;
  peer!: MemoryConnection;
  readonly closed: Promise<CloseInfo>;
  private resolveClosed!: (info: CloseInfo) => void;
  private handler: ((stream: TransportStream) => void) | undefined;
  private early: TransportStream[] = [];
  private streams = new Set<MemoryStream>();
  private nextStreamId: number;
  /** Latest scheduled delivery time per direction, to keep FIFO under jitter. */
  private lastDeliveryAt = 0;
  isClosed = false;

  constructor(
    readonly network: MemoryNetwork,
    readonly localHost: Host,
    readonly remoteHost: Host,
    readonly remoteAddress: HostPort,
    readonly outbound: boolean,
  ) {
    this.nextStreamId = outbound ? 0 : 1;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  async openStream(): Promise<TransportStream> {
    if (this.isClosed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'connection is closed');
    const id = String(this.nextStreamId);
    this.nextStreamId += 2;
    const local = new MemoryStream(id, this);
    // Our own stream is never announced to our own onStream handler; the peer's copy is,
    // when its first bytes arrive (as QUIC does).
    local.announced = true;
    const remote = new MemoryStream(id, this.peer);
    local.peer = remote;
    remote.peer = local;
    this.streams.add(local);
    this.peer.streams.add(remote);
    return local;
  }

  onStream(handler: (stream: TransportStream) => void): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const s of early) handler(s);
  }

  /** Deliver `action` on the peer side after the link's delay, unless the link drops it. */
  send(from: MemoryStream, action: () => void, control = false): void {
    const faults = this.network.faultsFor(this.localHost, this.remoteHost);
    const partitioned = this.network.isPartitioned(this.localHost, this.remoteHost);
    if (partitioned) return;
    if (!control && faults.loss > 0 && this.network.random.next() < faults.loss) return;
    const clock = this.network.clock;
    let at = clock.now() + faults.latencyMs + (faults.jitterMs > 0 ? this.network.random.next() * faults.jitterMs : 0);
    const mayReorder = !control && faults.reorder > 0 && this.network.random.next() < faults.reorder;
    if (!mayReorder) at = Math.max(at, this.lastDeliveryAt);
    this.lastDeliveryAt = Math.max(this.lastDeliveryAt, at);
    const run = (): void => {
      if (this.isClosed || this.peer.isClosed) return;
      const remote = from.peer;
      if (!remote.announced) {
        remote.announced = true;
        this.peer.announce(remote);
      }
      action();
    };
    const delay = at - clock.now();
    if (delay <= 0) queueMicrotask(run);
    else clock.setTimeout(run, delay);
  }

  announce(stream: MemoryStream): void {
    if (this.handler) this.handler(stream);
    else this.early.push(stream);
  }

  async close(): Promise<void> {
    this.shutdown({ local: true }, { local: false });
  }

  abort(reason?: Error): void {
    this.shutdown({ local: true, ...(reason ? { error: reason } : {}) }, { local: false, error: streamReset('connection aborted by peer', reason) });
  }

  /** Both ends go down now; `mine`/`theirs` say how each side sees it. */
  shutdown(mine: CloseInfo, theirs: CloseInfo): void {
    if (this.isClosed) return;
    this.finish(mine);
    this.peer.finish(theirs);
  }

  private finish(info: CloseInfo): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const err = streamReset(info.local ? 'connection closed' : 'connection closed by peer', info.error);
    for (const s of this.streams) s.kill(err);
    this.streams.clear();
    this.network.forget(this);
    this.resolveClosed(info);
  }
}

class MemoryListener implements TransportListener {
  readonly connections = new Set<MemoryConnection>();
  constructor(
    private readonly network: MemoryNetwork,
    readonly address: HostPort,
    readonly onConnection: (c: TransportConnection) => void,
  ) {}

  async close(): Promise<void> {
    this.network.unlisten(this);
    for (const c of [...this.connections]) c.shutdown({ local: true }, { local: false, error: streamReset('listener closed') });
  }
}

export class MemoryTransport implements Transport {
  readonly name = 'memory' as const;
  private listeners = new Set<MemoryListener>();
  private connections = new Set<MemoryConnection>();
  private isClosed = false;

  constructor(
    private readonly network: MemoryNetwork,
    /** This endpoint's host name on the memory network (used for faults and partitions). */
    readonly host: Host,
  ) {}

  async listen(address: HostPort, onConnection: (connection: TransportConnection) => void): Promise<TransportListener> {
    if (this.isClosed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    const listener = this.network.bind(address.host === '0.0.0.0' || address.host === '' ? this.host : address.host, address.port, onConnection);
    this.listeners.add(listener);
    return listener;
  }

  async dial(address: HostPort, options: DialOptions = {}): Promise<TransportConnection> {
    if (this.isClosed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    options.signal?.throwIfAborted();
    const connection = await this.network.connect(this.host, address, options);
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
    return connection;
  }

  async close(): Promise<void> {
    this.isClosed = true;
    for (const l of [...this.listeners]) await l.close();
    this.listeners.clear();
    for (const c of [...this.connections]) await c.close();
  }
}

interface ResolvedFaults {
  latencyMs: number;
  jitterMs: number;
  loss: number;
  reorder: number;
}

function resolveFaults(f: LinkFaults | undefined): ResolvedFaults {
  return { latencyMs: f?.latencyMs ?? 0, jitterMs: f?.jitterMs ?? 0, loss: f?.loss ?? 0, reorder: f?.reorder ?? 0 };
}

export class MemoryNetwork {
  readonly clock: Clock;
  readonly random: Random;
  readonly highWaterMark: number;
  private readonly listeners = new Map<string, MemoryListener>();
  private readonly live = new Set<MemoryConnection>();
  private readonly faults = new Map<string, ResolvedFaults>();
  private defaultFaults: ResolvedFaults;
  private readonly partitions = new Set<string>();
  private nextPort = 40_000;

  constructor(options: MemoryNetworkOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.highWaterMark = options.highWaterMark ?? 1024 * 1024;
    this.defaultFaults = resolveFaults(options.defaultFaults);
  }

  /** A transport endpoint living on `host`. */
  transport(host: Host = 'memory'): MemoryTransport {
    return new MemoryTransport(this, host);
  }

  /** Faults on the one-way link from → to (hosts). */
  setFaults(from: Host, to: Host, faults: LinkFaults | undefined): void {
    if (faults) this.faults.set(`${from}>${to}`, resolveFaults(faults));
    else this.faults.delete(`${from}>${to}`);
  }

  setDefaultFaults(faults: LinkFaults | undefined): void {
    this.defaultFaults = resolveFaults(faults);
  }

  faultsFor(from: Host, to: Host): ResolvedFaults {
    return this.faults.get(`${from}>${to}`) ?? this.defaultFaults;
  }

  /** Drop everything between `a` and `b` (both ways) until `heal`; new dials fail. */
  partition(a: Host, b: Host): void {
    this.partitions.add(`${a}|${b}`);
    this.partitions.add(`${b}|${a}`);
  }

  heal(a: Host, b: Host): void {
    this.partitions.delete(`${a}|${b}`);
    this.partitions.delete(`${b}|${a}`);
  }

  isPartitioned(a: Host, b: Host): boolean {
    return this.partitions.size > 0 && this.partitions.has(`${a}|${b}`);
  }

  /** Kill every connection of `host` abruptly, as if its process died: peers see an error close. */
  crash(host: Host): void {
    for (const c of [...this.live]) {
      if (c.localHost === host) c.shutdown({ local: true, error: new Error('crashed') }, { local: false, error: streamReset(`peer ${host} crashed`) });
    }
    for (const [k, l] of [...this.listeners]) if (l.address.host === host) this.listeners.delete(k);
  }

  /** Connections currently open (both ends counted), for leak checks. */
  openConnections(): number {
    return this.live.size;
  }

  bind(host: Host, port: number, onConnection: (c: TransportConnection) => void): MemoryListener {
    const realPort = port === 0 ? this.freePort(host) : port;
    const address = { host, port: realPort };
    if (this.listeners.has(key(address))) {
      throw new TransportError('ERR_TRANSPORT_LISTEN_FAILED', `address in use: ${key(address)}`, { details: { address } });
    }
    const listener = new MemoryListener(this, address, onConnection);
    this.listeners.set(key(address), listener);
    return listener;
  }

  unlisten(listener: MemoryListener): void {
    if (this.listeners.get(key(listener.address)) === listener) this.listeners.delete(key(listener.address));
  }

  async connect(fromHost: Host, address: HostPort, options: DialOptions): Promise<MemoryConnection> {
    const faults = this.faultsFor(fromHost, address.host);
    if (faults.latencyMs > 0) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, faults.latencyMs));
    else await Promise.resolve();
    options.signal?.throwIfAborted();
    const listener = this.listeners.get(key(address));
    if (!listener || this.isPartitioned(fromHost, address.host)) {
      throw new TransportError('ERR_TRANSPORT_DIAL_FAILED', `connection refused: ${key(address)}`, { details: { address } });
    }
    const dialer = new MemoryConnection(this, fromHost, address.host, address, true);
    const acceptor = new MemoryConnection(this, address.host, fromHost, { host: fromHost, port: 0 }, false);
    dialer.peer = acceptor;
    acceptor.peer = dialer;
    this.live.add(dialer);
    this.live.add(acceptor);
    listener.connections.add(acceptor);
    void acceptor.closed.then(() => listener.connections.delete(acceptor));
    listener.onConnection(acceptor);
    return dialer;
  }

  forget(c: MemoryConnection): void {
    this.live.delete(c);
  }

  private freePort(host: Host): number {
    while (this.listeners.has(`${host}:${this.nextPort}`)) this.nextPort++;
    return this.nextPort++;
  }
}
