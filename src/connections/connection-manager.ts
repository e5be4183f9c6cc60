import { backoffDelay } from '../util/backoff.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { HandshakeError, PartisanError, TransportError, WireError, isPartisanError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import {
  BufferPool,
  FrameType,
  estimateEncodedSize,
  exactEncodedSize,
  newWireCounters,
  type ControlBody,
  type Envelope,
  type Frame,
  type WireCounters,
  type WireLimits,
} from '../wire/index.js';
import type { HostPort, Transport, TransportConnection, TransportListener, TransportStream } from '../transport/transport.js';
import { DEFAULT_CHANNEL, type ResolvedChannel } from '../channels/channel-options.js';
import type { PartitionKey } from '../channels/stream-selector.js';
import type { ConnectionTable } from './connection-table.js';
import {
  acceptHandshake,
  dialHandshake,
  openAuthenticator,
  type Authenticator,
  type HandshakeContext,
  type HandshakeResult,
  type PeerIdentity,
} from './handshake.js';
import type { Lane, LaneQueue } from './lane.js';
import { PeerConnection, type KeepaliveOptions } from './peer-connection.js';

/**
 * Owns the transport for one node: listens, dials, runs handshakes, keeps exactly one
 * PeerConnection per peer node, routes sends to lanes and received frames to the node, and
 * applies injected partitions. Membership decides *who* to be connected to (`maintain`);
 * this layer decides *how*.
 */

/** How to reach a node: Partisan's node spec without the channels (see #239). */
export interface PeerAddress {
  name: string;
  listenAddrs: readonly HostPort[];
}

export interface ConnectionEvents {
  /** First connection to `peer` completed its handshake (Partisan's on_up). */
  up(peer: PeerIdentity): void;
  /** The connection to `node` is gone (Partisan's on_down). `incarnation` is the peer's. */
  down(node: string, incarnation: number, error: Error | undefined): void;
  channelUp(node: string, channel: string): void;
  channelDown(node: string, channel: string): void;
  messages(node: string, lane: Lane, envelopes: Envelope[]): void;
  /** Undecoded frames of a raw channel; call `lane.consumedBytes(bytes)` once processed. */
  raw(node: string, lane: Lane, frames: Uint8Array[], bytes: number): void;
  acks(node: string, ids: number[]): void;
  control(node: string, channel: string, body: ControlBody): void;
  /** Something went wrong that the node should count and log (bad frames, failed dials, drops). */
  problem(node: string | undefined, error: PartisanError, dropped: number): void;
}

export interface ConnectionManagerOptions {
  node: string;
  clusterId: string;
  incarnation: number;
  spec: PeerAddress;
  /** Opaque peer-service state to send in the handshake. */
  localState?: () => unknown;
  transport: Transport;
  channels: readonly ResolvedChannel[];
  limits: WireLimits;
  table: ConnectionTable;
  clock: Clock;
  random: Random;
  keepalive: KeepaliveOptions;
  authenticator?: Authenticator;
  newQueue(channel: ResolvedChannel): LaneQueue;
  events: ConnectionEvents;
  /** Give up a dial after this long, ms. Default: limits.maxHandshakeTime. */
  dialTimeoutMs?: number;
  /** Channels decoded off the main thread: their lanes hand frames on raw. */
  rawChannels?: ReadonlySet<string>;
}

interface Partition {
  ref: string;
  node: string;
  timer: TimerHandle | undefined;
}

interface Desired {
  address: PeerAddress;
  attempt: number;
  timer: TimerHandle | undefined;
}

export class ConnectionManager {
  readonly counters: WireCounters = newWireCounters();
  /** Write buffers reused by every lane of this node. */
  readonly writeBuffers = new BufferPool();
  private readonly o: ConnectionManagerOptions;
  private readonly peers = new Map<string, PeerConnection>();
  private readonly dialing = new Map<string, Promise<PeerConnection>>();
  private readonly desired = new Map<string, Desired>();
  private readonly partitions = new Map<string, Partition>();
  private readonly listeners: TransportListener[] = [];
  private readonly pending = new Set<TransportConnection>();
  /** Connections replaced by a duplicate: their close must not look like the peer going down. */
  private readonly replaced = new WeakSet<PeerConnection>();
  private readonly channelsByName: Map<string, ResolvedChannel>;
  private readonly handshake: HandshakeContext;
  private nextPartitionRef = 1;
  private stopped = false;

  constructor(options: ConnectionManagerOptions) {
    this.o = options;
    this.channelsByName = new Map(options.channels.map((c) => [c.name, c]));
    this.handshake = {
      clusterId: options.clusterId,
      node: options.node,
      spec: options.spec,
      incarnation: options.incarnation,
      maxFrameSize: options.limits.maxFrameSize,
      maxHandshakeTime: options.limits.maxHandshakeTime,
      clock: options.clock,
      authenticator: options.authenticator ?? openAuthenticator,
      channels: Object.fromEntries(options.channels.map((c) => [c.name, c.parallelism])),
      ...(options.localState ? { localState: options.localState } : {}),
    };
  }

  /** Listen on every address; returns the bound addresses (real ports for port 0). */
  async start(addresses: readonly HostPort[]): Promise<HostPort[]> {
    for (const address of addresses) {
      const listener = await this.o.transport.listen(address, (c) => void this.accept(c));
      this.listeners.push(listener);
    }
    return this.listeners.map((l) => l.address);
  }

  /** Update the advertised spec (e.g. after binding port 0). */
  setSpec(spec: PeerAddress): void {
    this.handshake.spec = spec;
  }

  // ---- queries ----

  isConnected(node: string, channel?: string): boolean {
    const peer = this.peers.get(node);
    if (!peer || peer.isClosed) return false;
    return channel === undefined ? true : peer.isChannelUp(channel);
  }

  connectedNodes(): string[] {
    return [...this.peers.keys()];
  }

  peer(node: string): PeerConnection | undefined {
    return this.peers.get(node);
  }

  // ---- membership-driven connectivity ----

  /**
   * Keep connections to exactly these peers: dial the missing ones (retrying with backoff),
   * close the ones no longer wanted. Partisan's establish_connections tick, made event-driven.
   */
  maintain(addresses: readonly PeerAddress[]): void {
    const wanted = new Map(addresses.filter((a) => a.name !== this.o.node).map((a) => [a.name, a]));
    for (const [node, d] of this.desired) {
      if (!wanted.has(node)) {
        d.timer?.cancel();
        this.desired.delete(node);
      }
    }
    for (const [node, address] of wanted) {
      const d = this.desired.get(node);
      if (d) {
        d.address = address;
        continue;
      }
      this.desired.set(node, { address, attempt: 0, timer: undefined });
      // The smaller name dials at once; the larger waits a little, so two nodes that learn of
      // each other together rarely both dial. Either way the duplicate rule settles it.
      this.scheduleDial(node, node > this.o.node ? 0 : 200 + this.o.random.int(800));
    }
  }

  /** Dial `address` now unless connected (concurrent calls share one attempt). */
  connect(address: PeerAddress): Promise<PeerConnection> {
    const existing = this.peers.get(address.name);
    if (existing && !existing.isClosed) return Promise.resolve(existing);
    const inflight = this.dialing.get(address.name);
    if (inflight) return inflight;
    const attempt = this.dial(address).finally(() => this.dialing.delete(address.name));
    this.dialing.set(address.name, attempt);
    return attempt;
  }

  /** Close the connection to `node` (flushing queued messages first). */
  async disconnect(node: string): Promise<void> {
    const peer = this.peers.get(node);
    if (peer) await peer.close();
  }

  // ---- sending ----

  /**
   * Queue `envelope` for `node` on `channel`. Throws coded errors synchronously
   * (ERR_UNKNOWN_CHANNEL, ERR_PARTITIONED, ERR_NOT_CONNECTED, ERR_WIRE_FRAME_TOO_LARGE,
   * ERR_QUEUE_FULL); returns a Promise only when the queue applies backpressure.
   */
  send(node: string, channel: string, envelope: Envelope, key?: PartitionKey): void | Promise<void> {
    if (!this.channelsByName.has(channel)) {
      throw new PartisanError('ERR_UNKNOWN_CHANNEL', `unknown channel ${JSON.stringify(channel)}`, { details: { channel } });
    }
    const lane = this.laneFor(node, channel, key);
    const size = this.sizeOf(envelope);
    return lane.send(envelope, size, key);
  }

  /**
   * Queue pre-encoded whole frames for `node` on `channel` (raw channels: the worker encodes).
   * Returns false when there is no open lane or the lane's byte bound is reached.
   */
  sendEncoded(node: string, channel: string, frames: Uint8Array, key?: PartitionKey): boolean {
    const peer = this.peers.get(node);
    if (!peer || peer.isClosed || this.partitions.has(node)) return false;
    // No fallback: the default lane decodes on the main thread, this channel's peer lane does not.
    const lane = peer.laneFor(channel, key, false);
    return lane ? lane.sendEncoded(frames) : false;
  }

  /**
   * Acknowledge message ids to `node`, only on a connection to its incarnation `incarnation`
   * (ids restart with each incarnation, so acks for an older one mean nothing to the new one).
   */
  sendAcks(node: string, incarnation: number, ids: number[]): boolean {
    const peer = this.peers.get(node);
    if (!peer || peer.isClosed || peer.identity.incarnation !== incarnation) return false;
    const lane = peer.laneFor(DEFAULT_CHANNEL, undefined);
    if (!lane) return false;
    lane.sendAcks(ids);
    return true;
  }

  /** Send a control body to `node` ahead of queued messages. */
  sendControl(node: string, body: ControlBody, channel?: string): void {
    const peer = this.livePeer(node);
    if (!peer.sendControl(body, channel)) throw new PartisanError('ERR_NOT_CONNECTED', `no open lane to ${node}`, { details: { node } });
  }

  /** Estimated encoded size, checked against the frame limit exactly when it may be over. */
  sizeOf(envelope: Envelope): number {
    const max = this.o.limits.maxFrameSize;
    const estimate = estimateEncodedSize(envelope, max + 1);
    if (estimate > max - 64) {
      const exact = exactEncodedSize([envelope]);
      if (exact > max) {
        this.counters.oversizedOutgoing++;
        throw new WireError('ERR_WIRE_FRAME_TOO_LARGE', `message of ${exact} bytes exceeds maxFrameSize ${max}; nothing was sent`, {
          details: { size: exact, maxFrameSize: max },
        });
      }
      return exact;
    }
    return estimate;
  }

  private laneFor(node: string, channel: string, key: PartitionKey | undefined): Lane {
    const lane = this.livePeer(node).laneFor(channel, key);
    if (!lane) throw new PartisanError('ERR_NOT_CONNECTED', `no open lane to ${node} on ${channel}`, { details: { node, channel } });
    return lane;
  }

  private livePeer(node: string): PeerConnection {
    if (this.partitions.has(node)) throw new PartisanError('ERR_PARTITIONED', `${node} is partitioned from this node`, { details: { node } });
    const peer = this.peers.get(node);
    if (!peer || peer.isClosed) throw new PartisanError('ERR_NOT_CONNECTED', `not connected to ${node}`, { details: { node } });
    return peer;
  }

  // ---- partitions (tests and chaos drills) ----

  /** Cut `node` off: close its connection and refuse it until resolved or `ttlMs` passes. */
  injectPartition(node: string, ttlMs?: number): string {
    const ref = `partition-${this.nextPartitionRef++}`;
    const previous = this.partitions.get(node);
    previous?.timer?.cancel();
    const timer = ttlMs === undefined ? undefined : this.o.clock.setTimeout(() => this.resolvePartition(ref), ttlMs);
    this.partitions.set(node, { ref, node, timer });
    this.peers.get(node)?.abort(new PartisanError('ERR_PARTITIONED', `partition injected towards ${node}`));
    return ref;
  }

  resolvePartition(ref: string): boolean {
    for (const [node, p] of this.partitions) {
      if (p.ref !== ref) continue;
      p.timer?.cancel();
      this.partitions.delete(node);
      const d = this.desired.get(node);
      if (d) this.scheduleDial(node, 0);
      return true;
    }
    return false;
  }

  partitionList(): Array<{ ref: string; node: string }> {
    return [...this.partitions.values()].map((p) => ({ ref: p.ref, node: p.node }));
  }

  // ---- lifecycle ----

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const d of this.desired.values()) d.timer?.cancel();
    this.desired.clear();
    for (const p of this.partitions.values()) p.timer?.cancel();
    await Promise.allSettled([...this.peers.values()].map((p) => p.close()));
    for (const c of this.pending) c.abort();
    await Promise.allSettled(this.listeners.map((l) => l.close()));
    await this.o.transport.close();
  }

  // ---- internals ----

  private scheduleDial(node: string, delay: number): void {
    const d = this.desired.get(node);
    if (!d || this.stopped) return;
    d.timer?.cancel();
    d.timer = this.o.clock.setTimeout(() => {
      d.timer = undefined;
      if (this.stopped || this.desired.get(node) !== d) return;
      if (this.isConnected(node) || this.partitions.has(node)) return;
      this.connect(d.address).then(
        () => {
          d.attempt = 0;
        },
        (err: unknown) => {
          if (this.desired.get(node) !== d || this.stopped) return;
          if (isPartisanError(err) && err.code !== 'ERR_HANDSHAKE_DUPLICATE') this.o.events.problem(node, err, 0);
          d.attempt++;
          this.scheduleDial(node, backoffDelay(d.attempt, { initialMs: 250, maxMs: 10_000 }, this.o.random));
        },
      );
    }, delay);

  }

  private async dial(address: PeerAddress): Promise<PeerConnection> {
    if (this.stopped) throw new PartisanError('ERR_NODE_STOPPED', 'node is stopped');
    if (address.name === this.o.node) throw new HandshakeError('ERR_HANDSHAKE_REFUSED', 'a node does not connect to itself');
    if (this.partitions.has(address.name)) throw new PartisanError('ERR_PARTITIONED', `${address.name} is partitioned from this node`);
    let lastError: unknown = new TransportError('ERR_TRANSPORT_DIAL_FAILED', `${address.name} has no listen address`);
    for (const addr of address.listenAddrs) {
      let connection: TransportConnection | undefined;
      try {
        connection = await this.o.transport.dial(addr, { timeoutMs: this.o.dialTimeoutMs ?? this.o.limits.maxHandshakeTime });
        this.pending.add(connection);
        const result = await dialHandshake(connection, this.handshake, address.name);
        this.pending.delete(connection);
        return this.install(connection, result);
      } catch (err) {
        if (connection) {
          this.pending.delete(connection);
          connection.abort();
        }
        lastError = err;
        // A refusal is an answer, not a network problem: trying other addresses won't help.
        if (err instanceof HandshakeError || (isPartisanError(err) && err.code.startsWith('ERR_AUTH_'))) break;
      }
    }
    throw lastError;
  }

  private async accept(connection: TransportConnection): Promise<void> {
    if (this.stopped) {
      connection.abort();
      return;
    }
    this.pending.add(connection);
    // One onStream handler for the connection's life (the transport contract: set once). The
    // first stream is the handshake; the dialer opens its lanes as soon as its side of the
    // handshake is done, possibly before ours is: those wait here for the PeerConnection
    // (handed to a second handler, they were lost: the dialer's lane up, ours never).
    let onHandshake!: (stream: TransportStream) => void;
    const first = new Promise<TransportStream>((resolve) => (onHandshake = resolve));
    const lanes: TransportStream[] = [];
    let onLane: ((stream: TransportStream) => void) | undefined;
    let handshakeSeen = false;
    connection.onStream((stream) => {
      if (!handshakeSeen) {
        handshakeSeen = true;
        onHandshake(stream);
      } else if (onLane) onLane(stream);
      else lanes.push(stream);
    });
    const routeLanes = (handler: (stream: TransportStream) => void): void => {
      onLane = handler;
      for (const stream of lanes.splice(0)) handler(stream);
    };
    const timer = this.o.clock.setTimeout(() => connection.abort(new HandshakeError('ERR_HANDSHAKE_TIMEOUT', 'no handshake stream in time')), this.o.limits.maxHandshakeTime);
    try {
      const stream = await Promise.race([first, connection.closed.then(() => undefined)]);
      timer.cancel();
      if (!stream) return;
      let admitted: PeerIdentity | undefined;
      const result = await acceptHandshake(connection, stream, this.handshake, (peer) => {
        this.admit(peer, false);
        admitted = peer;
      });
      if (admitted) this.install(connection, result, routeLanes);
    } catch (err) {
      connection.abort();
      if (isPartisanError(err) && err.code !== 'ERR_HANDSHAKE_DUPLICATE' && err.code !== 'ERR_TRANSPORT_STREAM_RESET') {
        this.o.events.problem(undefined, err, 0);
      }
    } finally {
      timer.cancel();
      this.pending.delete(connection);
    }
  }

  /**
   * Would a new connection to `peer` (dialed by us when `dialedBySelf`) be kept? Throws the
   * refusal when not. The rule both sides apply: a newer incarnation replaces an older one;
   * for the same incarnation, keep the connection dialed by the smaller node name.
   */
  private admit(peer: PeerIdentity, dialedBySelf: boolean): 'new' | 'replace' {
    if (this.stopped) throw new PartisanError('ERR_NODE_STOPPED', 'node is stopping');
    if (peer.node === this.o.node) throw new HandshakeError('ERR_HANDSHAKE_REFUSED', 'a node with this name is this node');
    if (this.partitions.has(peer.node)) throw new PartisanError('ERR_PARTITIONED', `${this.o.node} is partitioned from ${peer.node}`);
    const existing = this.peers.get(peer.node);
    if (!existing || existing.isClosed) return 'new';
    if (peer.incarnation > existing.identity.incarnation) return 'replace';
    if (peer.incarnation < existing.identity.incarnation) {
      throw new HandshakeError('ERR_HANDSHAKE_DUPLICATE', `${peer.node} incarnation ${peer.incarnation} is older than the connected one`);
    }
    const keeperDialer = this.o.node < peer.node ? this.o.node : peer.node;
    const newDialer = dialedBySelf ? this.o.node : peer.node;
    const existingDialer = existing.outbound ? this.o.node : peer.node;
    if (newDialer === keeperDialer && existingDialer !== keeperDialer) return 'replace';
    throw new HandshakeError('ERR_HANDSHAKE_DUPLICATE', `already connected to ${peer.node}`);
  }

  private install(connection: TransportConnection, handshake: HandshakeResult, onStream?: (handler: (stream: TransportStream) => void) => void): PeerConnection {
    const identity = handshake.peer;
    const verdict = this.admit(identity, connection.outbound);
    const existing = this.peers.get(identity.node);
    if (existing?.countsInTable) {
      // From here on only the new connection's lanes count for this node.
      existing.countsInTable = false;
      this.o.table.nodeDisconnected(identity.node);
    }
    if (existing && !existing.isClosed) {
      if (verdict === 'replace' && existing.identity.incarnation === identity.incarnation) this.replaced.add(existing);
      existing.abort(new HandshakeError('ERR_HANDSHAKE_DUPLICATE', `connection to ${identity.node} replaced`));
    }
    const peer = new PeerConnection({
      identity,
      connection,
      channels: this.o.channels,
      limits: this.o.limits,
      counters: this.counters,
      clock: this.o.clock,
      random: this.o.random,
      table: this.o.table,
      keepalive: this.o.keepalive,
      newQueue: this.o.newQueue,
      events: this.peerEvents,
      pool: this.writeBuffers,
      ...(this.o.rawChannels ? { rawChannels: this.o.rawChannels } : {}),
      ...(onStream ? { onStream } : {}),
    });
    this.peers.set(identity.node, peer);
    this.o.table.assignSlot(identity.node);
    const d = this.desired.get(identity.node);
    if (d) {
      d.timer?.cancel();
      d.timer = undefined;
      d.attempt = 0;
    }
    peer.start(handshake);
    // A silent replacement (same incarnation) is no transition; anything else is an up.
    if (!(existing && this.replaced.has(existing))) this.o.events.up(identity);
    return peer;
  }

  private readonly peerEvents = {
    frames: (peer: PeerConnection, lane: Lane, frames: Frame[]): void => {
      const events = this.o.events;
      for (const f of frames) {
        switch (f.type) {
          case FrameType.Message:
            events.messages(peer.node, lane, f.messages);
            break;
          case FrameType.Ack:
            events.acks(peer.node, f.ids);
            break;
          case FrameType.Control:
            events.control(peer.node, lane.channel.name, f.body);
            break;
          case FrameType.Handshake:
            this.o.events.problem(peer.node, new WireError('ERR_WIRE_UNEXPECTED_FRAME', `${peer.node} sent a handshake frame mid-stream`), 0);
            lane.abort(new WireError('ERR_WIRE_UNEXPECTED_FRAME', 'handshake frame mid-stream'));
            return;
        }
      }
    },
    raw: (peer: PeerConnection, lane: Lane, frames: Uint8Array[], bytes: number) => {
      this.o.events.raw(peer.node, lane, frames, bytes);
    },
    channelUp: (peer: PeerConnection, channel: string) => {
      if (this.peers.get(peer.node) === peer) this.o.events.channelUp(peer.node, channel);
    },
    channelDown: (peer: PeerConnection, channel: string) => {
      if (this.peers.get(peer.node) === peer) this.o.events.channelDown(peer.node, channel);
    },
    down: (peer: PeerConnection, error: Error | undefined) => {
      if (this.peers.get(peer.node) === peer) {
        this.peers.delete(peer.node);
        if (peer.countsInTable) this.o.table.nodeDisconnected(peer.node);
      }
      if (this.replaced.has(peer)) return;
      this.o.events.down(peer.node, peer.identity.incarnation, error);
      if (!this.stopped && this.desired.has(peer.node) && !this.peers.has(peer.node)) this.scheduleDial(peer.node, 100 + this.o.random.int(400));
    },
    dropped: (peer: PeerConnection, _channel: string, count: number, error: PartisanError) => {
      this.o.events.problem(peer.node, error, count);
    },
  };
}
