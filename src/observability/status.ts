/**
 * A node's status as plain JSON: what `partisan-ts status` prints and the admin endpoint
 * serves. Connection state comes from the connection table (open streams per channel), queue
 * depths from the outbound queues, broadcast figures from the broadcast layer.
 */
import type { NodeSpec } from '../membership/types.js';
import type { Node } from '../node/node.js';
import type { ChannelQueueTotals } from './traffic.js';

export interface ChannelConnectionStatus {
  channel: string;
  /** Streams open now, and the negotiated parallelism (both sides' minimum). */
  open: number;
  parallelism: number;
}

export interface PeerStatus {
  node: string;
  outbound: boolean;
  fullyConnected: boolean;
  rttMs: number | undefined;
  queued: number;
  channels: ChannelConnectionStatus[];
}

export interface NodeStatus {
  node: string;
  spec: NodeSpec;
  clusterId: string;
  transport: string;
  peerService: string;
  uptimeMs: number;
  members: string[];
  /** Members with no live connection (being dialed, or unreachable). */
  unreachable: string[];
  peers: PeerStatus[];
  queues: ChannelQueueTotals[];
  stats: Record<string, number>;
  /** Per broadcast channel: the broadcast layer's metrics (delivered, duplicates, rmr, …). */
  broadcast: Record<string, Record<string, number>>;
}

const started = new WeakMap<Node, number>();

/** Remember when `node` started, for `uptimeMs` (call right after startNode). */
export function markStarted(node: Node, at = Date.now()): void {
  started.set(node, at);
}

export async function nodeStatus(node: Node): Promise<NodeStatus> {
  const table = node.connectionTable;
  const peers: PeerStatus[] = node.peerConnections().map((p) => ({
    node: p.node,
    outbound: p.outbound,
    fullyConnected: table.isFullyConnected(p.node),
    rttMs: p.rttMs,
    queued: p.queued,
    channels: p.channels.map((c) => ({ channel: c.name, open: table.openStreams(p.node, c.name), parallelism: c.parallelism })),
  }));
  const members = node.isStopped ? [] : node.members().map(String);
  const connected = new Set(peers.map((p) => p.node));
  let broadcast: Record<string, Record<string, number>> = {};
  if (Object.keys(node.options.broadcast).length > 0 && !node.isStopped) {
    broadcast = await node.broadcasts().metrics().catch(() => ({}));
  }
  return {
    node: node.nodeString(),
    spec: node.nodeSpec(),
    clusterId: node.options.clusterId,
    transport: typeof node.options.transport === 'string' ? node.options.transport : 'custom',
    peerService: node.options.peerService,
    uptimeMs: Date.now() - (started.get(node) ?? Date.now()),
    members,
    unreachable: members.filter((m) => m !== node.nodeString() && !connected.has(m)),
    peers,
    queues: node.queues.totals(),
    stats: node.stats(),
    broadcast,
  };
}

/** Human-readable status, as `partisan-ts status` prints it. */
export function formatStatus(s: NodeStatus): string {
  const lines: string[] = [];
  const addr = s.spec.listenAddrs.map((a) => `${a.host}:${a.port}`).join(', ');
  lines.push(`node       ${s.node}  (${s.transport}, cluster ${s.clusterId}, ${s.peerService}, up ${Math.round(s.uptimeMs / 1000)} s)`);
  lines.push(`listening  ${addr}`);
  lines.push(`members    ${s.members.length}: ${s.members.join(', ')}`);
  if (s.unreachable.length > 0) lines.push(`unreachable ${s.unreachable.join(', ')}`);
  lines.push('');
  lines.push('connections (open streams / parallelism per channel)');
  if (s.peers.length === 0) lines.push('  none');
  for (const p of s.peers) {
    const channels = p.channels.map((c) => `${c.channel} ${c.open}/${c.parallelism}`).join('  ');
    const rtt = p.rttMs === undefined ? '-' : `${p.rttMs.toFixed(1)} ms`;
    lines.push(`  ${p.node.padEnd(28)} ${p.outbound ? 'out' : 'in '}  ${channels}  rtt ${rtt}  queued ${p.queued}${p.fullyConnected ? '' : '  (not fully connected)'}`);
  }
  lines.push('');
  lines.push('outbound queues (per channel)');
  if (s.queues.length === 0) lines.push('  none');
  for (const q of s.queues) {
    const dropped = q.droppedOldest + q.droppedStale + q.discarded + q.rejected;
    lines.push(`  ${q.channel.padEnd(12)} depth ${q.depth}  bytes ${q.bytes}  enqueued ${q.enqueued}  dropped ${dropped}  high water ${q.highWaterMessages}`);
  }
  const channels = Object.entries(s.broadcast);
  if (channels.length > 0) {
    lines.push('');
    lines.push('broadcast (per channel)');
    for (const [channel, m] of channels) {
      const f = (k: string): string => (m[k] === undefined ? '-' : Number.isInteger(m[k]) ? String(m[k]) : m[k]!.toFixed(2));
      lines.push(
        `  ${channel.padEnd(12)} originated ${f('broadcasts')}  delivered ${f('delivered')}  duplicates ${f('duplicates')}  rmr ${f('rmr')}  ldh ${f('lastDeliveryHops')}  grafts ${f('graftsSent')}  prunes ${f('prunesSent')}  restarts ${f('restarts')}`,
      );
    }
  }
  lines.push('');
  const st = s.stats;
  lines.push(
    `wire       frames in ${st.framesIn ?? 0} out ${st.framesOut ?? 0}  bytes in ${st.bytesIn ?? 0} out ${st.bytesOut ?? 0}  bad frames ${(st.malformedFrames ?? 0) + (st.oversizedFrames ?? 0)}`,
  );
  lines.push(`delivery   unacked ${st.ackUnacked ?? 0}  retransmitted ${st.ackRetransmitted ?? 0}  failed ${st.ackFailed ?? 0}  dead letters ${st.deadLetters ?? 0}`);
  return lines.join('\n');
}
