/**
 * Traffic counters the node keeps for metrics and `status`, cheap enough to stay on:
 * messages per (peer, channel) counted per send and per received batch, raw-channel frames and
 * bytes per (peer, channel), and every outbound queue's counters folded per channel. Plain
 * numbers read at scrape time (src/observability/metrics.ts); nothing here is exported live.
 */
import type { ResolvedChannel } from '../channels/channel-options.js';
import { OutboundQueue, type OutboundQueueCounters } from '../channels/outbound-queue.js';
import type { PartitionKey } from '../channels/stream-selector.js';
import type { PartisanError } from '../util/errors.js';

export interface PeerChannelTraffic {
  peer: string;
  channel: string;
  /** Messages handed to the channel's lanes to `peer` (point-to-point, service, acked). */
  messagesOut: number;
  /** Messages received from `peer` on decoded channels. */
  messagesIn: number;
  /** Broadcast channels (decoded in workers): frames and bytes received from / written to `peer`. */
  framesIn: number;
  bytesIn: number;
  bytesOut: number;
}

/** Per (peer, channel) counters. The last record used is memoised: bursts to one peer cost a compare. */
export class TrafficCounters {
  private readonly byPeer = new Map<string, Map<string, PeerChannelTraffic>>();
  private last: PeerChannelTraffic | undefined;

  record(peer: string, channel: string): PeerChannelTraffic {
    const last = this.last;
    if (last !== undefined && last.peer === peer && last.channel === channel) return last;
    let channels = this.byPeer.get(peer);
    if (!channels) this.byPeer.set(peer, (channels = new Map()));
    let r = channels.get(channel);
    if (!r) channels.set(channel, (r = { peer, channel, messagesOut: 0, messagesIn: 0, framesIn: 0, bytesIn: 0, bytesOut: 0 }));
    this.last = r;
    return r;
  }

  sent(peer: string, channel: string): void {
    this.record(peer, channel).messagesOut++;
  }

  received(peer: string, channel: string, messages: number): void {
    this.record(peer, channel).messagesIn += messages;
  }

  receivedRaw(peer: string, channel: string, frames: number, bytes: number): void {
    const r = this.record(peer, channel);
    r.framesIn += frames;
    r.bytesIn += bytes;
  }

  sentRaw(peer: string, channel: string, bytes: number): void {
    this.record(peer, channel).bytesOut += bytes;
  }

  /** Every (peer, channel) seen so far; peers that left keep their totals (counters never go back). */
  snapshot(): PeerChannelTraffic[] {
    const out: PeerChannelTraffic[] = [];
    for (const channels of this.byPeer.values()) for (const r of channels.values()) out.push({ ...r });
    return out;
  }
}

/** Outbound queue counters summed over every (peer, stream) of a channel, live and retired. */
export interface ChannelQueueTotals {
  channel: string;
  /** Live queues (one per open lane). */
  queues: number;
  /** Messages and bytes (estimated, pre-encoding) waiting now. */
  depth: number;
  bytes: number;
  enqueued: number;
  bytesEnqueued: number;
  sent: number;
  droppedOldest: number;
  droppedStale: number;
  discarded: number;
  rejected: number;
  /** Largest depth any single queue of the channel reached. */
  highWaterMessages: number;
}

/** An OutboundQueue that reports to its registry; its totals survive it. */
class TrackedQueue<T> extends OutboundQueue<T> {
  bytesEnqueued = 0;

  constructor(
    readonly channel: string,
    private readonly registry: QueueRegistry,
    options: ConstructorParameters<typeof OutboundQueue<T>>[0],
  ) {
    super(options);
  }

  override enqueue(item: T, bytes: number, key?: PartitionKey, signal?: AbortSignal): Promise<void> | undefined {
    const waiting = super.enqueue(item, bytes, key, signal);
    this.bytesEnqueued += bytes;
    return waiting;
  }

  override close(error?: PartisanError): T[] {
    const dropped = super.close(error);
    this.registry.retire(this);
    return dropped;
  }
}

const COUNTERS = ['enqueued', 'sent', 'droppedOldest', 'droppedStale', 'discarded', 'rejected'] as const satisfies ReadonlyArray<keyof OutboundQueueCounters>;

/** Creates the node's outbound queues and keeps their counters per channel. */
export class QueueRegistry {
  private readonly live = new Map<string, Set<TrackedQueue<unknown>>>();
  private readonly retired = new Map<string, ChannelQueueTotals>();

  /** A queue for one lane of `channel`, with the channel's bounds and policy. */
  create<T>(channel: ResolvedChannel): OutboundQueue<T> {
    const queue = new TrackedQueue<T>(channel.name, this, {
      maxMessages: channel.maxQueueMessages,
      maxBytes: channel.maxQueueBytes,
      overflow: channel.overflow,
      monotonic: channel.monotonic,
    });
    let set = this.live.get(channel.name);
    if (!set) this.live.set(channel.name, (set = new Set()));
    set.add(queue as TrackedQueue<unknown>);
    return queue;
  }

  /** @internal A queue closed: fold its counters into the channel's retired totals. */
  retire(queue: TrackedQueue<unknown>): void {
    const set = this.live.get(queue.channel);
    if (!set?.delete(queue)) return;
    const t = this.totalsOf(this.retired, queue.channel);
    for (const k of COUNTERS) t[k] += queue.counters[k];
    t.bytesEnqueued += queue.bytesEnqueued;
    t.highWaterMessages = Math.max(t.highWaterMessages, queue.counters.highWaterMessages);
  }

  /** Totals per channel (channels that never had a queue are absent). */
  totals(): ChannelQueueTotals[] {
    const out = new Map<string, ChannelQueueTotals>();
    for (const [channel, t] of this.retired) out.set(channel, { ...t });
    for (const [channel, set] of this.live) {
      const t = this.totalsOf(out, channel);
      for (const q of set) {
        t.queues++;
        t.depth += q.depth;
        t.bytes += q.bytes;
        for (const k of COUNTERS) t[k] += q.counters[k];
        t.bytesEnqueued += q.bytesEnqueued;
        t.highWaterMessages = Math.max(t.highWaterMessages, q.counters.highWaterMessages);
      }
    }
    return [...out.values()];
  }

  private totalsOf(map: Map<string, ChannelQueueTotals>, channel: string): ChannelQueueTotals {
    let t = map.get(channel);
    if (!t) {
      t = { channel, queues: 0, depth: 0, bytes: 0, enqueued: 0, bytesEnqueued: 0, sent: 0, droppedOldest: 0, droppedStale: 0, discarded: 0, rejected: 0, highWaterMessages: 0 };
      map.set(channel, t);
    }
    return t;
  }
}
