import { ErrorCodes, PartisanError, type ErrorCode } from '../util/errors.js';
import { BoundedQueue } from './bounded-queue.js';
import { groupSettings, resolveBroadcastConfig, type ResolvedBroadcastChannel } from './channel-config.js';
import type { ExchangeSelector } from './exchange-tracker.js';
import { concatFrames } from './frame-batch.js';
import type { DownReason, GroupLink, LinkCounters, LinkEvents } from './group-link.js';
import { InlineLink } from './inline-link.js';
import { isPositionRecord } from './latest-position.js';
import type { BroadcastLayer, BroadcastLayerHost } from './layer.js';
import { Subscription } from './subscription.js';
import { WorkerLink } from './worker-link.js';
import type { GroupEvent, GroupInit, GroupOutput, GroupRequestOp, SerializedError } from './worker-protocol.js';

/**
 * The main-thread side of the broadcast layer. It never decodes a broadcast frame: raw reads
 * go to the channel's group as one buffer per read (one postMessage), the group's output comes
 * back as one message per turn (frames for every peer, credit to release, accepted updates).
 * A group that dies costs its channels a restart: frames arriving meanwhile are dropped with
 * their credit released, local broadcasts wait (bounded), members are re-sent on start.
 */

/** Lifecycle notices, for operators and tests (a test awaits a restart instead of sleeping). */
export type BroadcastLayerEvent =
  | { type: 'down'; group: string; channels: string[]; reason: DownReason; error: SerializedError | undefined }
  | { type: 'ready'; group: string; channels: string[]; restarted: boolean };

/** Totals across the main ↔ group boundary. */
export interface BroadcastLayerStats {
  /** Messages posted to groups (raw batches, broadcast batches, members, requests, pings). */
  postsToGroups: number;
  /** Messages received from groups (output batches, replies, pongs). */
  messagesFromGroups: number;
  /** Raw frames handed to groups, and the posts that carried them. */
  framesToGroups: number;
  rawBatches: number;
  /** Local broadcasts handed to groups, and the posts that carried them. */
  broadcastsToGroups: number;
  broadcastBatches: number;
  /** Accepted updates received from groups. */
  updatesFromGroups: number;
}

interface ChannelCounters {
  restarts: number;
  /** Frames (bytes) that arrived while the channel's group was down; their credit was released. */
  framesDroppedRestarting: number;
  bytesDroppedRestarting: number;
  /** Raw batches a dying group had not finished. */
  batchesLost: number;
  /** Local broadcasts dropped by `maxPendingBroadcasts` while the group was down. */
  broadcastsDropped: number;
  /** Peer sends refused by the node (no open lane, or its queue full). */
  sendsRefused: number;
  /** Updates dropped by subscribers that are gone. */
  closedSubscriberDrops: number;
}

interface Group {
  name: string;
  channels: ResolvedBroadcastChannel[];
  link: GroupLink;
  /** Requests made while no group instance exists; sent on ready. */
  waiting: Array<{ send(): void; reject(err: Error): void }>;
}

interface PendingRequest {
  group: Group;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

const INLINE_GROUP = '(main thread)';

/** Start the broadcast layer for the configured channels (validates `config` first). */
export async function startBroadcastLayer(host: BroadcastLayerHost, config: Record<string, unknown>): Promise<BroadcastManager> {
  const manager = new BroadcastManager(host, resolveBroadcastConfig(config));
  try {
    await manager.start();
  } catch (err) {
    await manager.stop();
    throw err;
  }
  return manager;
}

export class BroadcastManager implements BroadcastLayer {
  readonly channels: ReadonlySet<string>;
  private readonly byChannel = new Map<string, { config: ResolvedBroadcastChannel; group: Group }>();
  private readonly groups: Group[] = [];
  private readonly counters = new Map<string, ChannelCounters>();
  private readonly subscriptions = new Map<string, Set<Subscription>>();
  private readonly outgoing = new Map<string, BoundedQueue<unknown>>();
  private readonly pendingRaw = new Map<number, { group: Group; channel: string; bytes: number; consumed: (bytes: number) => void }>();
  private readonly pendingRequests = new Map<number, PendingRequest>();
  private readonly listeners = new Set<(event: BroadcastLayerEvent) => void>();
  private readonly link: LinkCounters = { posts: 0, received: 0 };
  private readonly s = { framesToGroups: 0, rawBatches: 0, broadcastsToGroups: 0, broadcastBatches: 0, updatesFromGroups: 0 };
  private members: string[];
  private nextBatch = 1;
  private nextRequest = 1;
  private flushHandle: NodeJS.Immediate | undefined;
  private stopped = false;

  constructor(
    private readonly host: BroadcastLayerHost,
    configs: readonly ResolvedBroadcastChannel[],
  ) {
    this.channels = new Set(configs.map((c) => c.name));
    this.members = [...host.members()];
    const byGroup = new Map<string, ResolvedBroadcastChannel[]>();
    for (const c of configs) {
      const name = c.group ?? INLINE_GROUP;
      byGroup.set(name, [...(byGroup.get(name) ?? []), c]);
      this.counters.set(c.name, {
        restarts: 0,
        framesDroppedRestarting: 0,
        bytesDroppedRestarting: 0,
        batchesLost: 0,
        broadcastsDropped: 0,
        sendsRefused: 0,
        closedSubscriberDrops: 0,
      });
      this.subscriptions.set(c.name, new Set());
      this.outgoing.set(c.name, new BoundedQueue(c.maxPendingBroadcasts));
    }
    for (const [name, channels] of byGroup) {
      const group: Group = { name, channels, waiting: [], link: undefined as unknown as GroupLink };
      const events = this.linkEvents(group);
      group.link =
        name === INLINE_GROUP
          ? new InlineLink(this.groupInit(group, false), { clock: host.clock, random: host.random }, events, this.link)
          : new WorkerLink({
              group: name,
              settings: groupSettings(channels),
              clock: host.clock,
              random: host.random,
              init: (restarted) => this.groupInit(group, restarted),
              events,
              counters: this.link,
            });
      this.groups.push(group);
      for (const c of channels) this.byChannel.set(c.name, { config: c, group });
    }
  }

  /** Starts every group; resolves when all are ready. */
  async start(): Promise<void> {
    await Promise.all(this.groups.map((g) => g.link.start()));
  }

  // ---------------------------------------------------------------- BroadcastLayer

  raw(from: string, channel: string, frames: Uint8Array[], bytes: number, consumed: (bytes: number) => void): void {
    const entry = this.byChannel.get(channel);
    if (!entry || this.stopped) {
      consumed(bytes);
      return;
    }
    const group = entry.group;
    if (group.link.state !== 'ready') {
      // The frames are self-contained, so dropping some never desyncs the stream; anti-entropy repairs.
      const c = this.counters.get(channel)!;
      c.framesDroppedRestarting += frames.length;
      c.bytesDroppedRestarting += bytes;
      consumed(bytes);
      return;
    }
    const data = concatFrames(frames);
    const id = this.nextBatch++;
    this.pendingRaw.set(id, { group, channel, bytes, consumed });
    this.s.rawBatches++;
    this.s.framesToGroups += frames.length;
    group.link.post({ t: 'in', id, channel, from, data }, [data.buffer as ArrayBuffer]);
  }

  broadcast(channel: string, message: unknown): void {
    const entry = this.channelEntry(channel);
    if (this.stopped) throw new PartisanError('ERR_NODE_STOPPED', 'the broadcast layer is stopped');
    // The built-in handler's check runs here too, so a bad record fails the caller, not silently in a worker.
    if (entry.config.handler === 'latestPosition' && !isPositionRecord(message)) {
      throw new PartisanError('ERR_BROADCAST_INVALID_MESSAGE', 'a position needs a string vehicleId and finite ts, lat and lon', {
        details: { channel },
      });
    }
    const queue = this.outgoing.get(channel)!;
    const before = queue.dropped;
    queue.push(message);
    this.counters.get(channel)!.broadcastsDropped += queue.dropped - before;
    this.flushSoon();
  }

  subscribe(channel: string): AsyncIterableIterator<unknown[]> {
    const entry = this.channelEntry(channel);
    const subs = this.subscriptions.get(channel)!;
    const sub = new Subscription(entry.config.subscriberBuffer, (closed) => {
      if (!subs.delete(closed)) return;
      this.counters.get(channel)!.closedSubscriberDrops += closed.dropped;
      if (subs.size === 0 && !this.stopped) this.postIfAlive(entry.group, { t: 'subscribe', channel, on: false });
    });
    if (this.stopped) {
      sub.close();
      return sub;
    }
    subs.add(sub);
    if (subs.size === 1) this.postIfAlive(entry.group, { t: 'subscribe', channel, on: true });
    return sub;
  }

  setMembers(members: readonly string[]): void {
    this.members = [...members];
    for (const g of this.groups) this.postIfAlive(g, { t: 'members', members: this.members });
  }

  async broadcastMembers(channel: string): Promise<string[]> {
    const entry = this.channelEntry(channel);
    return (await this.request(entry.group, 'broadcastMembers', [channel])) as string[];
  }

  async exchanges(channel?: string): Promise<unknown[]> {
    const parts = await Promise.all(this.byGroup(channel).map(([g, channels]) => this.request(g, 'exchanges', channels)));
    return parts.flat() as unknown[];
  }

  async cancelExchanges(channel: string, which: unknown): Promise<number> {
    const entry = this.channelEntry(channel);
    if (!isExchangeSelector(which)) {
      throw new PartisanError('ERR_INVALID_OPTION', "cancelExchanges expects 'all', {peer} or {xid}", { details: { field: 'which', value: which } });
    }
    return (await this.request(entry.group, 'cancelExchanges', [channel], which)) as number;
  }

  /**
   * Per channel: the state machine's counters (delivered, duplicates, grafts, prunes, i_haves,
   * `rmr`, `lastDeliveryHops`…), the driver's, the handler's `stats` as `handler.*`, and this
   * side's (restarts, drops). While a group restarts, only this side's counters are known.
   */
  async metrics(channel?: string): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    await Promise.all(
      this.byGroup(channel).map(async ([g, channels]) => {
        let remote: Record<string, Record<string, number>> = {};
        if (g.link.state === 'ready') {
          try {
            remote = (await this.request(g, 'metrics', channels)) as Record<string, Record<string, number>>;
          } catch {
            remote = {};
          }
        }
        for (const name of channels) out[name] = { ...remote[name], ...this.localMetrics(name) };
      }),
    );
    return out;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    await Promise.all(this.groups.map((g) => g.link.stop()));
    const stopped = new PartisanError('ERR_NODE_STOPPED', 'the broadcast layer stopped');
    for (const g of this.groups) for (const w of g.waiting.splice(0)) w.reject(stopped);
    for (const p of this.pendingRequests.values()) p.reject(stopped);
    this.pendingRequests.clear();
    for (const p of this.pendingRaw.values()) p.consumed(p.bytes);
    this.pendingRaw.clear();
    for (const subs of this.subscriptions.values()) for (const sub of [...subs]) sub.close();
    this.listeners.clear();
  }

  // ---------------------------------------------------------------- beyond the seam

  /** Listens to group restarts; returns the unsubscribe function. */
  onEvent(listener: (event: BroadcastLayerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): BroadcastLayerStats {
    return { postsToGroups: this.link.posts, messagesFromGroups: this.link.received, ...this.s };
  }

  /** Worker group of a channel (`'(main thread)'` for `worker: false`) and its state. */
  groupOf(channel: string): { group: string; state: GroupLink['state'] } {
    const g = this.channelEntry(channel).group;
    return { group: g.name, state: g.link.state };
  }

  // ---------------------------------------------------------------- internals

  private channelEntry(channel: string): { config: ResolvedBroadcastChannel; group: Group } {
    const entry = this.byChannel.get(channel);
    if (!entry) throw new PartisanError('ERR_UNKNOWN_CHANNEL', `${JSON.stringify(channel)} is not a broadcast channel`, { details: { channel } });
    return entry;
  }

  /** Groups and the channels asked of each (all channels when `channel` is undefined). */
  private byGroup(channel: string | undefined): Array<[Group, string[]]> {
    if (channel !== undefined) return [[this.channelEntry(channel).group, [channel]]];
    return this.groups.map((g) => [g, g.channels.map((c) => c.name)]);
  }

  private localMetrics(channel: string): Record<string, number> {
    const c = this.counters.get(channel)!;
    let subscriberDrops = c.closedSubscriberDrops;
    const subs = this.subscriptions.get(channel)!;
    for (const sub of subs) subscriberDrops += sub.dropped;
    const { closedSubscriberDrops: _closed, ...rest } = c;
    return { ...rest, subscribers: subs.size, subscriberDrops, pendingBroadcasts: this.outgoing.get(channel)!.length };
  }

  private groupInit(group: Group, restarted: boolean): GroupInit {
    return {
      node: this.host.node,
      group: group.name,
      channels: group.channels,
      table: this.host.table,
      maxFrameSize: this.host.limits.maxFrameSize,
      members: this.members,
      subscribed: group.channels.filter((c) => (this.subscriptions.get(c.name)?.size ?? 0) > 0).map((c) => c.name),
      restarted,
    };
  }

  private postIfAlive(group: Group, msg: Parameters<GroupLink['post']>[0]): void {
    // With no group instance the next one's init carries the same state.
    if (group.link.state === 'starting' || group.link.state === 'ready') group.link.post(msg);
  }

  private request(group: Group, op: GroupRequestOp, channels: string[], arg?: unknown): Promise<unknown> {
    if (this.stopped) return Promise.reject(new PartisanError('ERR_NODE_STOPPED', 'the broadcast layer is stopped'));
    return new Promise((resolve, reject) => {
      const send = (): void => {
        const id = this.nextRequest++;
        this.pendingRequests.set(id, { group, resolve, reject });
        group.link.post({ t: 'req', id, op, channels, ...(arg === undefined ? {} : { arg }) });
      };
      if (group.link.state === 'starting' || group.link.state === 'ready') send();
      else group.waiting.push({ send, reject });
    });
  }

  private flushSoon(): void {
    if (this.flushHandle) return;
    this.flushHandle = setImmediate(() => {
      this.flushHandle = undefined;
      for (const g of this.groups) this.flushBroadcasts(g);
    });
  }

  /** All local broadcasts of a group since the last flush: one post. */
  private flushBroadcasts(group: Group): void {
    if (this.stopped || group.link.state !== 'ready') return;
    const items: Array<[string, unknown]> = [];
    for (const c of group.channels) for (const m of this.outgoing.get(c.name)!.takeAll()) items.push([c.name, m]);
    if (items.length === 0) return;
    try {
      group.link.post({ t: 'bcast', items });
    } catch {
      // A message the structured clone refuses: send the others one by one, drop it.
      for (const item of items) {
        try {
          group.link.post({ t: 'bcast', items: [item] });
        } catch (err) {
          this.counters.get(item[0])!.broadcastsDropped++;
          this.host.logger.warn({ err, channel: item[0] }, 'broadcast message cannot be sent to its worker');
        }
      }
    }
    this.s.broadcastBatches++;
    this.s.broadcastsToGroups += items.length;
  }

  private linkEvents(group: Group): LinkEvents {
    return {
      event: (event) => this.onGroupEvent(event),
      ready: (restarted) => {
        if (restarted) this.host.logger.info({ group: group.name }, 'broadcast worker restarted');
        for (const w of group.waiting.splice(0)) w.send();
        this.flushBroadcasts(group);
        this.emit({ type: 'ready', group: group.name, channels: group.channels.map((c) => c.name), restarted });
      },
      down: (reason, error) => this.onDown(group, reason, error),
    };
  }

  private onGroupEvent(event: GroupEvent): void {
    switch (event.t) {
      case 'out':
        this.onOutput(event.out);
        break;
      case 'res': {
        const p = this.pendingRequests.get(event.id);
        if (!p) return;
        this.pendingRequests.delete(event.id);
        if (event.ok) p.resolve(event.value);
        else p.reject(toError(event.error));
        break;
      }
      case 'pong':
        break;
    }
  }

  private onOutput(out: GroupOutput): void {
    for (const send of out.sends) {
      // One stream per (peer, channel): round robin over streams would reorder a vehicle's
      // positions, and a newer fix arriving first turns the older one into a spurious prune.
      if (!this.host.sendEncoded(send.peer, send.channel, send.bytes, this.host.node)) {
        const c = this.counters.get(send.channel);
        if (c) c.sendsRefused++;
      }
    }
    for (const id of out.consumed) {
      const p = this.pendingRaw.get(id);
      if (!p) continue;
      this.pendingRaw.delete(id);
      p.consumed(p.bytes);
    }
    for (const [channel, items] of out.updates) {
      this.s.updatesFromGroups += items.length;
      for (const sub of this.subscriptions.get(channel) ?? []) sub.push(items);
    }
  }

  private onDown(group: Group, reason: DownReason, error: SerializedError | undefined): void {
    const channels = group.channels.map((c) => c.name);
    this.host.logger.warn({ group: group.name, channels, reason, err: error?.message }, 'broadcast worker down; restarting');
    for (const name of channels) this.counters.get(name)!.restarts++;
    const crashed = new PartisanError('ERR_WORKER_CRASHED', `broadcast worker ${group.name} died (${reason}); it is being restarted`, {
      details: { group: group.name, reason },
    });
    for (const [id, p] of this.pendingRequests) {
      if (p.group !== group) continue;
      this.pendingRequests.delete(id);
      p.reject(crashed);
    }
    // Credit of batches the dead worker held goes back, or the peers' windows would shrink for good.
    for (const [id, p] of this.pendingRaw) {
      if (p.group !== group) continue;
      this.pendingRaw.delete(id);
      p.consumed(p.bytes);
      this.counters.get(p.channel)!.batchesLost++;
    }
    this.emit({ type: 'down', group: group.name, channels, reason, error });
  }

  private emit(event: BroadcastLayerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.host.logger.warn({ err }, 'broadcast layer event listener threw');
      }
    }
  }
}

function isExchangeSelector(which: unknown): which is ExchangeSelector {
  if (which === 'all') return true;
  if (which === null || typeof which !== 'object') return false;
  const w = which as Record<string, unknown>;
  return typeof w.peer === 'string' || Number.isInteger(w.xid);
}

function toError(error: SerializedError): PartisanError {
  const code = (error.code !== undefined && error.code in ErrorCodes ? error.code : 'ERR_WORKER_CRASHED') as ErrorCode;
  return new PartisanError(code, error.message, { details: error.details ?? {} });
}
