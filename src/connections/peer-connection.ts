import { backoffDelay } from '../util/backoff.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { PartisanError, TransportError, isPartisanError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { FrameType, type BufferPool, type ControlBody, type Frame, type WireCounters, type WireLimits } from '../wire/index.js';
import type { TransportConnection, TransportStream } from '../transport/transport.js';
import { DEFAULT_CHANNEL, type ResolvedChannel } from '../channels/channel-options.js';
import { RoundRobin, slotForKey, type PartitionKey } from '../channels/stream-selector.js';
import type { ConnectionTable } from './connection-table.js';
import { openLaneStream, readFirstFrame, type HandshakeResult, type PeerIdentity } from './handshake.js';
import { Lane, type LaneQueue, type LaneSink } from './lane.js';

/**
 * Everything this node has with one peer: one transport connection, and on it one lane per
 * (channel, slot) both sides configured. One connection per peer pair, carrying traffic both
 * ways — unlike Partisan's two unidirectional connection sets (§7.1, issue #247).
 *
 * Only the dialer opens streams (so the two sides never race to open the same lane); the
 * handshake stream becomes `default`/0. A lane that dies while the connection lives is
 * reopened by the dialer with backoff. Application keepalive: after `idleMs` without inbound
 * bytes a ping goes out; `attempts` unanswered pings close the connection (Partisan's
 * connection_ping), so a half-open connection is noticed on every transport.
 */

export interface KeepaliveOptions {
  /** Inbound silence before a ping, ms. Default 5000. */
  idleMs: number;
  /** Wait for each pong, ms. Default 5000. */
  timeoutMs: number;
  /** Unanswered pings before the connection is declared dead. Default 3. */
  attempts: number;
}

export interface PeerEvents {
  frames(peer: PeerConnection, lane: Lane, frames: Frame[]): void;
  /** Undecoded frames of a raw channel (see Lane); the receiver reports consumption on the lane. */
  raw(peer: PeerConnection, lane: Lane, frames: Uint8Array[], bytes: number): void;
  /** First lane of `channel` is up (channel-scoped on_up — Partisan never fires it, §7.5). */
  channelUp(peer: PeerConnection, channel: string): void;
  /** Last lane of `channel` closed while the connection lives on. */
  channelDown(peer: PeerConnection, channel: string): void;
  /** The connection is gone. Called once. */
  down(peer: PeerConnection, error: Error | undefined): void;
  dropped(peer: PeerConnection, channel: string, count: number, error: PartisanError): void;
}

export interface PeerConnectionOptions {
  identity: PeerIdentity;
  connection: TransportConnection;
  channels: readonly ResolvedChannel[];
  limits: WireLimits;
  counters: WireCounters;
  clock: Clock;
  random: Random;
  table: ConnectionTable;
  keepalive: KeepaliveOptions;
  newQueue(channel: ResolvedChannel): LaneQueue;
  events: PeerEvents;
  /** Channels whose frames are handed on undecoded (decoded by a channel worker). */
  rawChannels?: ReadonlySet<string>;
  /** Write buffers shared by the node's lanes. */
  pool?: BufferPool;
  /** Registers the handler of streams the peer opens. Default: `connection.onStream` (the acceptor's manager owns that handler and routes). */
  onStream?: (handler: (stream: TransportStream) => void) => void;
}

interface ChannelLanes {
  channel: ResolvedChannel;
  /** Negotiated parallelism: min of both sides' settings. */
  parallelism: number;
  lanes: Array<Lane | undefined>;
  roundRobin: RoundRobin;
  open: number;
}

export class PeerConnection {
  readonly node: string;
  readonly identity: PeerIdentity;
  readonly connection: TransportConnection;
  private readonly options: PeerConnectionOptions;
  private readonly channels = new Map<string, ChannelLanes>();
  private closed = false;
  private lastInbound: number;
  private pingsUnanswered = 0;
  private pingSentAt = 0;
  private nextPingId = 1;
  private keepaliveTimer: TimerHandle | undefined;
  private closing: Promise<void> | undefined;
  private byeReceived: (() => void) | undefined;
  private readonly reopenTimers = new Set<TimerHandle>();
  /**
   * Whether this connection's lanes count in the connection table. A connection replaced by a
   * newer one to the same node stops counting before it closes, so its lanes closing late
   * cannot decrement the counters of its successor.
   */
  countsInTable = true;
  /** Last measured ping round trip, ms. */
  rttMs: number | undefined;

  constructor(options: PeerConnectionOptions) {
    this.options = options;
    this.identity = options.identity;
    this.node = options.identity.node;
    this.connection = options.connection;
    this.lastInbound = options.clock.now();
    for (const channel of options.channels) {
      const theirs = channel.name === DEFAULT_CHANNEL ? (options.identity.channels[channel.name] ?? 1) : options.identity.channels[channel.name];
      if (theirs === undefined) continue;
      const parallelism = Math.min(channel.parallelism, theirs);
      this.channels.set(channel.name, { channel, parallelism, lanes: new Array(parallelism).fill(undefined), roundRobin: new RoundRobin(parallelism), open: 0 });
    }
  }

  get outbound(): boolean {
    return this.connection.outbound;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Channels both sides have, with the negotiated parallelism. */
  negotiatedChannels(): Array<{ name: string; parallelism: number }> {
    return [...this.channels.values()].map((c) => ({ name: c.channel.name, parallelism: c.parallelism }));
  }

  /** Begin: the handshake stream becomes default/0; the dialer opens every other lane. */
  start(handshake: HandshakeResult): void {
    void this.connection.closed.then((info) => this.shutdown(info.error ?? (info.local ? undefined : new TransportError('ERR_TRANSPORT_CLOSED', `connection to ${this.node} closed by peer`))));
    const onStream = this.options.onStream ?? ((handler: (stream: TransportStream) => void) => this.connection.onStream(handler));
    onStream((stream) => void this.acceptLane(stream));
    this.attachLane(DEFAULT_CHANNEL, 0, handshake.stream, handshake.rest);
    if (this.outbound) {
      for (const c of this.channels.values()) {
        for (let slot = 0; slot < c.parallelism; slot++) if (!(c.channel.name === DEFAULT_CHANNEL && slot === 0)) void this.openLane(c.channel.name, slot, 0);
      }
    }
    const k = this.options.keepalive;
    this.keepaliveTimer = this.options.clock.setInterval(() => this.checkKeepalive(), Math.max(50, Math.min(k.idleMs, k.timeoutMs) / 2));
  }

  /**
   * The lane a message for `channel` with `key` takes, or undefined when none is open. With
   * `fallback` (Partisan's channel_fallback, default on) a channel the peer lacks, or one not
   * up yet, uses the default channel.
   */
  laneFor(channel: string, key: PartitionKey | undefined, fallback = true): Lane | undefined {
    let c = this.channels.get(channel);
    if ((!c || c.open === 0) && fallback) c = this.channels.get(DEFAULT_CHANNEL);
    if (!c || c.open === 0) return undefined;
    const slot = key === undefined ? c.roundRobin.slot() : slotForKey(key, c.parallelism);
    const lane = c.lanes[slot];
    if (lane && !lane.isClosed) return lane;
    // That slot is being reopened: any open lane of the channel keeps the message flowing.
    return c.lanes.find((l) => l && !l.isClosed);
  }

  /** Whether `channel` has at least one open lane. */
  isChannelUp(channel: string): boolean {
    return (this.channels.get(channel)?.open ?? 0) > 0;
  }

  /** Send a control frame on default/0 (falls back to any default lane). */
  sendControl(body: ControlBody, channel = DEFAULT_CHANNEL): boolean {
    const c = this.channels.get(channel) ?? this.channels.get(DEFAULT_CHANNEL);
    const lane = c?.lanes.find((l) => l && !l.isClosed);
    if (!lane) return false;
    lane.sendControl(body);
    return true;
  }

  /** Messages waiting in all lanes' queues. */
  queuedMessages(): number {
    let n = 0;
    for (const c of this.channels.values()) for (const l of c.lanes) n += l?.queued ?? 0;
    return n;
  }

  /** Wait until every lane handed its queued messages to the transport. */
  async drain(): Promise<void> {
    const lanes = [...this.channels.values()].flatMap((c) => c.lanes.filter((l): l is Lane => l !== undefined));
    await Promise.all(lanes.map((l) => l.drain()));
  }

  /**
   * Close gracefully: flush our lanes, say `bye`, and give the peer up to `graceMs` to flush
   * its own and close. Some transports drop unsent bytes on close (QUIC's CONNECTION_CLOSE),
   * so the last messages — a leave's gossip, say — are only safe once the peer has them.
   */
  close(graceMs = 2_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closing ??= (async () => {
      await this.drain();
      this.sendControl({ t: 'bye' });
      await this.drain();
      let timer: TimerHandle | undefined;
      // Done when the peer closes, or says bye itself (it is closing too and has flushed).
      await Promise.race([
        this.connection.closed,
        new Promise<void>((resolve) => (this.byeReceived = resolve)),
        new Promise<void>((resolve) => (timer = this.options.clock.setTimeout(resolve, graceMs))),
      ]);
      timer?.cancel();
      await this.connection.close();
      this.shutdown(undefined);
    })();
    return this.closing;
  }

  /** The peer said bye: flush what we have for it, then close. */
  private onBye(): void {
    this.byeReceived?.();
    if (this.closing || this.closed) return;
    this.closing = (async () => {
      await this.drain();
      await this.connection.close();
      this.shutdown(undefined);
    })();
  }

  /** Drop the connection now. */
  abort(error: Error): void {
    if (this.closed) return;
    this.connection.abort(error);
    this.shutdown(error);
  }

  private shutdown(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.keepaliveTimer?.cancel();
    for (const t of this.reopenTimers) t.cancel();
    this.reopenTimers.clear();
    for (const c of this.channels.values()) {
      for (const lane of c.lanes) lane?.abort(error ?? new TransportError('ERR_TRANSPORT_CLOSED', `connection to ${this.node} closed`));
    }
    this.options.events.down(this, error);
  }

  private async openLane(channel: string, slot: number, attempt: number): Promise<void> {
    if (this.closed) return;
    try {
      const stream = await openLaneStream(this.connection, channel, slot, this.options.limits.maxFrameSize);
      if (this.closed) {
        stream.abort();
        return;
      }
      this.attachLane(channel, slot, stream, new Uint8Array(0));
    } catch {
      this.scheduleReopen(channel, slot, attempt + 1);
    }
  }

  private scheduleReopen(channel: string, slot: number, attempt: number): void {
    if (this.closed || this.closing || !this.outbound) return;
    const delay = backoffDelay(attempt, { initialMs: 50, maxMs: 5_000 }, this.options.random);
    const timer = this.options.clock.setTimeout(() => {
      this.reopenTimers.delete(timer);
      void this.openLane(channel, slot, attempt);
    }, delay);
    this.reopenTimers.add(timer);
  }

  /** Acceptor side: a stream the dialer opened; its first frame says which lane it is. */
  private async acceptLane(stream: TransportStream): Promise<void> {
    const { limits, clock } = this.options;
    try {
      const { frame, rest } = await readFirstFrame(stream, limits.maxFrameSize, limits.maxHandshakeTime, clock);
      if (frame.type !== FrameType.Handshake || frame.body.t !== 'stream') {
        throw new PartisanError('ERR_WIRE_UNEXPECTED_FRAME', `${this.node} opened a stream without a stream header`);
      }
      const { channel, slot } = frame.body;
      const c = this.channels.get(channel);
      if (!c || !Number.isInteger(slot) || slot < 0 || slot >= c.parallelism) {
        throw new PartisanError('ERR_UNKNOWN_CHANNEL', `${this.node} opened lane ${channel}/${slot}, which is not negotiated`, { details: { channel, slot } });
      }
      if (this.closed) throw new TransportError('ERR_TRANSPORT_CLOSED', 'connection closed');
      this.attachLane(channel, slot, stream, rest);
    } catch (err) {
      stream.abort(err instanceof Error ? err : undefined);
      if (isPartisanError(err) && err.code !== 'ERR_TRANSPORT_CLOSED' && err.code !== 'ERR_TRANSPORT_STREAM_RESET') {
        this.options.events.dropped(this, DEFAULT_CHANNEL, 0, err);
      }
    }
  }

  private attachLane(channelName: string, slot: number, stream: TransportStream, first: Uint8Array): void {
    const c = this.channels.get(channelName);
    if (!c) {
      stream.abort();
      return;
    }
    const previous = c.lanes[slot];
    if (previous && !previous.isClosed) previous.abort(new TransportError('ERR_TRANSPORT_CLOSED', 'lane replaced by a new stream'));
    const lane = new Lane({
      peer: this.node,
      channel: c.channel,
      slot,
      stream,
      queue: this.options.newQueue(c.channel),
      limits: this.options.limits,
      counters: this.options.counters,
      clock: this.options.clock,
      sink: this.sink,
      raw: this.options.rawChannels?.has(channelName) ?? false,
      ...(this.options.pool ? { pool: this.options.pool } : {}),
    });
    c.lanes[slot] = lane;
    c.open++;
    if (this.countsInTable) this.options.table.streamOpened(this.node, channelName);
    if (c.open === 1) this.options.events.channelUp(this, channelName);
    lane.start(first);
  }

  private readonly sink: LaneSink = {
    frames: (lane, frames) => {
      let app = frames;
      if (frames.some(isKeepalive)) {
        app = [];
        for (const f of frames) {
          if (isKeepalive(f)) this.onConnectionControl(lane, f.body);
          else app.push(f);
        }
      }
      if (app.length > 0) this.options.events.frames(this, lane, app);
    },
    raw: (lane, frames, bytes) => this.options.events.raw(this, lane, frames, bytes),
    closed: (lane, error) => {
      const c = this.channels.get(lane.channel.name);
      if (!c || c.lanes[lane.slot] !== lane) return;
      c.lanes[lane.slot] = undefined;
      c.open--;
      if (this.countsInTable) this.options.table.streamClosed(this.node, lane.channel.name);
      if (this.closed) return;
      if (c.open === 0) this.options.events.channelDown(this, lane.channel.name);
      if (error && isPartisanError(error) && error.code.startsWith('ERR_WIRE_')) this.options.events.dropped(this, lane.channel.name, 0, error);
      // The default/0 lane carries keepalive; any lane lost while connected is reopened.
      this.scheduleReopen(lane.channel.name, lane.slot, 0);
    },
    dropped: (lane, count, error) => this.options.events.dropped(this, lane.channel.name, count, error),
    activity: () => {
      this.lastInbound = this.options.clock.now();
      this.pingsUnanswered = 0;
    },
  };

  private onConnectionControl(lane: Lane, body: ControlBody): void {
    if (body.t === 'bye') this.onBye();
    else if (body.t === 'ping') lane.sendControl({ t: 'pong', id: body.id });
    else if (body.t === 'pong' && body.id === this.nextPingId - 1) this.rttMs = this.options.clock.now() - this.pingSentAt;
  }

  private checkKeepalive(): void {
    if (this.closed) return;
    const { idleMs, timeoutMs, attempts } = this.options.keepalive;
    const now = this.options.clock.now();
    const silent = now - this.lastInbound;
    if (silent < idleMs) return;
    if (this.pingsUnanswered >= attempts) {
      this.abort(new TransportError('ERR_TRANSPORT_CLOSED', `${this.node} did not answer ${attempts} pings (silent for ${Math.round(silent)} ms)`));
      return;
    }
    if (this.pingsUnanswered === 0 || now - this.pingSentAt >= timeoutMs) {
      this.pingSentAt = now;
      this.pingsUnanswered++;
      this.sendControl({ t: 'ping', id: this.nextPingId++ });
    }
  }
}

/** Frames the peer connection handles itself: keepalive and the closing handshake. */
function isKeepalive(f: Frame): f is Frame & { type: typeof FrameType.Control; body: ControlBody } {
  return f.type === FrameType.Control && (f.body.t === 'ping' || f.body.t === 'pong' || f.body.t === 'bye');
}
