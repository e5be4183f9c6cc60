/**
 * A prom-client registry per node. Nothing is counted twice: every metric reads the node's
 * own counters at scrape time (wire counters, traffic per peer and channel, outbound queues,
 * acknowledged delivery, the connection table, the broadcast layer's per-channel metrics), and
 * the diagnostics channels (src/observability/channels.ts) feed the event counters. Names are
 * listed in docs/architecture.md ("Observability").
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Node } from '../node/node.js';
import { ClusterAuthenticator } from '../security/cluster-authenticator.js';
import {
  DiagnosticsChannelNames,
  type ConnectionDownMessage,
  type ConnectionUpMessage,
  type FrameErrorMessage,
  type HandshakeRefusedMessage,
} from './channels.js';

export interface NodeMetricsOptions {
  /** Prefix of every metric name. Default 'partisan_'. */
  prefix?: string;
  /** Also collect prom-client's process metrics (CPU, memory, event loop lag, GC). Default true. */
  processMetrics?: boolean;
}

type Labels = Record<string, string>;
type Sample = [labels: Labels, value: number];

/** Broadcast metrics are fetched from worker threads: at most once per this many ms (one scrape). */
const BROADCAST_SNAPSHOT_MS = 250;

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly prefix: string;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly events = { up: 0, down: 0 };
  private readonly refused = new Map<string, number>();
  private readonly frameErrors = new Map<string, number>();
  private broadcastSnapshot: { at: number; value: Promise<Record<string, Record<string, number>>> } | undefined;

  constructor(
    private readonly node: Node,
    options: NodeMetricsOptions = {},
  ) {
    this.prefix = options.prefix ?? 'partisan_';
    this.registry.setDefaultLabels({ node: node.nodeString() });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: this.prefix });
    this.subscribe();
    this.define();
  }

  /** Prometheus text exposition of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stop listening to diagnostics channels. */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.registry.clear();
  }

  private subscribe(): void {
    const self = this.node.nodeString();
    const on = <T>(name: string, fn: (message: T) => void): void => {
      const listener = (message: unknown): void => {
        if ((message as { node?: string }).node === self) fn(message as T);
      };
      diagnosticsChannel.subscribe(name, listener);
      this.unsubscribe.push(() => diagnosticsChannel.unsubscribe(name, listener));
    };
    on<ConnectionUpMessage>(DiagnosticsChannelNames.connectionUp, () => this.events.up++);
    on<ConnectionDownMessage>(DiagnosticsChannelNames.connectionDown, () => this.events.down++);
    on<HandshakeRefusedMessage>(DiagnosticsChannelNames.handshakeRefused, (m) => bump(this.refused, `${m.code}\0${m.by}`));
    on<FrameErrorMessage>(DiagnosticsChannelNames.frameError, (m) => bump(this.frameErrors, m.code));
  }

  private gauge(name: string, help: string, labelNames: string[], read: () => Sample[] | Promise<Sample[]>): void {
    new Gauge({
      name: this.prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [labels, value] of await read()) if (Number.isFinite(value)) this.set(labels, value);
      },
    });
  }

  /** A counter whose value is the node's own monotonic counter, copied at scrape time. */
  private counter(name: string, help: string, labelNames: string[], read: () => Sample[] | Promise<Sample[]>): void {
    new Counter({
      name: this.prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [labels, value] of await read()) if (Number.isFinite(value) && value > 0) this.inc(labels, value);
      },
    });
  }

  private broadcastMetrics(): Promise<Record<string, Record<string, number>>> {
    if (Object.keys(this.node.options.broadcast).length === 0 || this.node.isStopped) return Promise.resolve({});
    const now = Date.now();
    if (!this.broadcastSnapshot || now - this.broadcastSnapshot.at > BROADCAST_SNAPSHOT_MS) {
      this.broadcastSnapshot = { at: now, value: this.node.broadcasts().metrics().catch(() => ({})) };
    }
    return this.broadcastSnapshot.value;
  }

  private define(): void {
    const node = this.node;
    const one = (value: number): Sample[] => [[{}, value]];

    this.gauge('info', 'Constant 1, labelled with the cluster id and transport.', ['cluster', 'transport'], () => [
      [{ cluster: node.options.clusterId, transport: typeof node.options.transport === 'string' ? node.options.transport : 'custom' }, 1],
    ]);
    this.gauge('members', 'Members of the cluster as this node sees them (itself included).', [], () => one(node.isStopped ? 0 : node.members().length));
    this.gauge('peers_connected', 'Peers with a live connection.', [], () => one(node.peerConnections().length));
    this.gauge('connection_streams', 'Open streams per peer and channel (the connection table).', ['peer', 'channel'], () => {
      const out: Sample[] = [];
      const table = node.connectionTable;
      for (const peer of table.connectedNodes()) for (const channel of table.channels) out.push([{ peer, channel }, table.openStreams(peer, channel)]);
      return out;
    });
    this.gauge('connection_parallelism', 'Streams per peer and channel once fully connected (negotiated parallelism).', ['peer', 'channel'], () =>
      node.peerConnections().flatMap((p) => p.channels.map((c): Sample => [{ peer: p.node, channel: c.name }, c.parallelism])),
    );
    this.gauge('peer_fully_connected', '1 when every channel has all its streams open to the peer.', ['peer'], () =>
      node.peerConnections().map((p): Sample => [{ peer: p.node }, node.isFullyConnected(p.node) ? 1 : 0]),
    );
    this.gauge('peer_rtt_seconds', 'Last keepalive round trip to the peer.', ['peer'], () =>
      node.peerConnections().flatMap((p): Sample[] => (p.rttMs === undefined ? [] : [[{ peer: p.node }, p.rttMs / 1000]])),
    );
    this.gauge('peer_queued_messages', "Messages waiting in the peer's outbound queues.", ['peer'], () => node.peerConnections().map((p): Sample => [{ peer: p.node }, p.queued]));
    this.counter('connection_events_total', 'Connections that came up or went down.', ['event'], () => [
      [{ event: 'up' }, this.events.up],
      [{ event: 'down' }, this.events.down],
    ]);
    this.counter('handshake_refused_total', "Handshakes refused, by code; by='local' when this node refused, 'peer' when the peer did.", ['code', 'by'], () =>
      [...this.refused].map(([key, n]): Sample => {
        const [code, by] = key.split('\0') as [string, string];
        return [{ code, by }, n];
      }),
    );
    this.counter('auth_refusals_total', 'Peers the cluster-CA authenticator refused, by code.', ['code'], () => {
      const auth = node.options.authenticator;
      return auth instanceof ClusterAuthenticator ? Object.entries(auth.refusals).map(([code, n]): Sample => [{ code }, n]) : [];
    });
    this.counter('frame_errors_total', 'Bad frames that closed a stream or connection, by code.', ['code'], () => [...this.frameErrors].map(([code, n]): Sample => [{ code }, n]));

    /** One sample per (peer, channel) of a traffic field. */
    const traffic = (field: 'messagesOut' | 'messagesIn' | 'bytesIn' | 'bytesOut') => (): Sample[] =>
      node.traffic.snapshot().map((t): Sample => [{ peer: t.peer, channel: t.channel }, t[field]]);
    /** One sample per label value of `label`, read from node.stats(). */
    const stats = (label: string, keys: Record<string, string>) => (): Sample[] => {
      const s = node.stats();
      return Object.entries(keys).map(([value, key]): Sample => [{ [label]: value }, s[key] ?? 0]);
    };
    this.counter('messages_sent_total', 'Application messages handed to a channel towards a peer.', ['peer', 'channel'], traffic('messagesOut'));
    this.counter('messages_received_total', 'Messages received from a peer on decoded channels (runtime services included).', ['peer', 'channel'], traffic('messagesIn'));
    this.counter('channel_bytes_received_total', 'Bytes received from a peer on broadcast channels (frames handed to the channel worker).', ['peer', 'channel'], traffic('bytesIn'));
    this.counter('channel_bytes_sent_total', 'Bytes the broadcast layer queued to a peer on broadcast channels.', ['peer', 'channel'], traffic('bytesOut'));
    this.counter('wire_frames_total', 'Frames read and written, all peers and channels.', ['direction'], stats('direction', { in: 'framesIn', out: 'framesOut' }));
    this.counter('wire_bytes_total', 'Bytes read and written on streams, all peers and channels.', ['direction'], stats('direction', { in: 'bytesIn', out: 'bytesOut' }));
    this.counter(
      'wire_rejected_frames_total',
      'Frames rejected: malformed or oversized incoming, oversized outgoing.',
      ['kind'],
      stats('kind', { malformed: 'malformedFrames', oversized: 'oversizedFrames', oversized_outgoing: 'oversizedOutgoing' }),
    );

    this.gauge('queue_depth_messages', 'Messages waiting in outbound queues, per channel.', ['channel'], () => node.queues.totals().map((q): Sample => [{ channel: q.channel }, q.depth]));
    this.gauge('queue_depth_bytes', 'Bytes (estimated) waiting in outbound queues, per channel.', ['channel'], () => node.queues.totals().map((q): Sample => [{ channel: q.channel }, q.bytes]));
    this.counter('queue_enqueued_total', 'Messages put in outbound queues, per channel.', ['channel'], () => node.queues.totals().map((q): Sample => [{ channel: q.channel }, q.enqueued]));
    this.counter('queue_enqueued_bytes_total', 'Bytes (estimated before encoding) put in outbound queues, per channel.', ['channel'], () =>
      node.queues.totals().map((q): Sample => [{ channel: q.channel }, q.bytesEnqueued]),
    );
    this.counter('queue_dropped_total', 'Messages dropped from outbound queues: oldest (dropOldest), stale (monotonic), discarded (lane closed), rejected (ERR_QUEUE_FULL).', ['channel', 'reason'], () =>
      node.queues.totals().flatMap((q): Sample[] => [
        [{ channel: q.channel, reason: 'oldest' }, q.droppedOldest],
        [{ channel: q.channel, reason: 'stale' }, q.droppedStale],
        [{ channel: q.channel, reason: 'discarded' }, q.discarded],
        [{ channel: q.channel, reason: 'rejected' }, q.rejected],
      ]),
    );

    const stat = (key: string) => (): Sample[] => one(node.stats()[key] ?? 0);
    this.gauge('ack_unacked_messages', 'Acknowledged-delivery messages sent and not yet acknowledged.', [], stat('ackUnacked'));
    this.counter('ack_retransmissions_total', 'Acknowledged-delivery retransmissions.', [], stat('ackRetransmitted'));
    this.counter('ack_failed_total', 'Acknowledged messages given up (ERR_DELIVERY_TIMEOUT).', [], stat('ackFailed'));
    this.counter('ack_duplicates_total', 'Acknowledged messages received again and de-duplicated.', [], stat('ackDuplicates'));
    this.counter('dead_letters_total', 'Messages for a process or name that does not exist here.', [], stat('deadLetters'));
    this.gauge('processes', 'Live processes on this node.', [], stat('processes'));

    const perChannel = (key: string) => async (): Promise<Sample[]> =>
      Object.entries(await this.broadcastMetrics()).flatMap(([channel, m]): Sample[] => (m[key] === undefined ? [] : [[{ channel }, m[key]!]]));
    this.counter('broadcast_originated_total', 'Broadcasts originated on this node.', ['channel'], perChannel('broadcasts'));
    this.counter('broadcast_received_total', 'Broadcast payloads received, duplicates included (the RMR numerator).', ['channel'], perChannel('received'));
    this.counter('broadcast_delivered_total', 'Broadcast payloads merged as new by the handler.', ['channel'], perChannel('delivered'));
    this.counter('broadcast_duplicates_total', 'Broadcast payloads received again (each answered with a prune).', ['channel'], perChannel('duplicates'));
    this.counter('broadcast_grafts_sent_total', 'Plumtree grafts sent (a missing payload was asked for).', ['channel'], perChannel('graftsSent'));
    this.counter('broadcast_prunes_sent_total', 'Plumtree prunes sent.', ['channel'], perChannel('prunesSent'));
    this.counter('broadcast_ihaves_sent_total', 'Plumtree i_have entries sent (lazy push).', ['channel'], perChannel('iHavesSent'));
    this.gauge('broadcast_rmr', "Relative message redundancy, this node's share: received / delivered - 1.", ['channel'], perChannel('rmr'));
    this.gauge('broadcast_last_delivery_hops', 'Hops of the latest delivery (the LDH of one broadcast).', ['channel'], perChannel('lastDeliveryHops'));
    this.gauge('broadcast_members', "Peers the channel's Plumtree spans.", ['channel'], perChannel('members'));
    this.counter('broadcast_worker_restarts_total', "Restarts of the channel's worker thread.", ['channel'], perChannel('restarts'));
    this.counter('broadcast_dropped_total', 'Broadcast work dropped: while the worker restarted, by full queues, or by slow subscribers.', ['channel', 'reason'], async () =>
      Object.entries(await this.broadcastMetrics()).flatMap(([channel, m]): Sample[] =>
        (
          [
            ['restarting', m.framesDroppedRestarting],
            ['pending_broadcasts', m.broadcastsDropped],
            ['sends_refused', m.sendsRefused],
            ['subscribers', m.subscriberDrops],
            ['updates', m.updatesDropped],
            ['overload', m.overloadDropped],
          ] as Array<[string, number | undefined]>
        ).flatMap(([reason, v]): Sample[] => (v === undefined ? [] : [[{ channel, reason }, v]])),
      ),
    );
    this.counter('broadcast_exchanges_total', 'Anti-entropy exchanges, by outcome.', ['channel', 'outcome'], async () =>
      Object.entries(await this.broadcastMetrics()).flatMap(([channel, m]): Sample[] => [
        [{ channel, outcome: 'started' }, m.exchangesStarted ?? 0],
        [{ channel, outcome: 'completed' }, m.exchangesCompleted ?? 0],
        [{ channel, outcome: 'aborted' }, m.exchangesAborted ?? 0],
      ]),
    );
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** A metrics registry for `node` (one per node; close it before the node is dropped). */
export function createNodeMetrics(node: Node, options?: NodeMetricsOptions): NodeMetrics {
  return new NodeMetrics(node, options);
}
