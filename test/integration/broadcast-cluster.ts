import type { BroadcastLayerEvent, BroadcastManager } from '../../src/broadcast/broadcast-manager.js';
import type { PositionRecord } from '../../src/broadcast/latest-position.js';
import { startNode, type Node } from '../../src/node/node.js';
import { MemoryNetwork } from '../../src/transport/memory/memory-transport.js';

/** Helpers for broadcast integration tests: real nodes on the memory transport, static membership. */

export interface Cluster {
  nodes: Node[];
  stop(): Promise<void>;
}

/** `n` nodes named n0@mem…, every one joined to every other, with lanes of every channel up everywhere. */
export async function startCluster(n: number, broadcast: Record<string, unknown>, extraChannels: string[] = []): Promise<Cluster> {
  const memoryNetwork = new MemoryNetwork();
  const nodes: Node[] = [];
  const cluster: Cluster = { nodes, stop: () => Promise.all(nodes.map((x) => x.stop())).then(() => undefined) };
  try {
    for (let i = 0; i < n; i++) {
      nodes.push(
        await startNode({
          name: `n${i}@mem`,
          host: `n${i}`,
          transport: 'memory',
          memoryNetwork,
          peerService: 'static',
          channels: [{ name: 'gps', parallelism: 2 }, ...extraChannels],
          broadcast,
        }),
      );
    }
    const up = nodes.flatMap((node) => ['gps', ...extraChannels].map((channel) => upWithAll(node, nodes, channel)));
    for (const a of nodes) for (const b of nodes) if (a !== b) a.join(b.nodeSpec());
    await Promise.all(up);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** Resolves once `node` has a lane of `channel` to every other node. */
function upWithAll(node: Node, nodes: readonly Node[], channel: string): Promise<void> {
  const others = new Set(nodes.filter((x) => x !== node).map((x) => x.nodeString()));
  return new Promise((resolve) => {
    const check = (): void => {
      for (const peer of others) if (node.isConnected(peer, channel)) others.delete(peer);
      if (others.size === 0) {
        off();
        resolve();
      }
    };
    const off = node.onUp('_', check, { channel });
    check();
  });
}

export function layer(node: Node): BroadcastManager {
  return node.broadcasts() as BroadcastManager;
}

/** A record of vehicle `v`, version `ts`. */
export function fix(v: string, ts: number): PositionRecord {
  return { vehicleId: v, ts, lat: 48 + ts / 1e6, lon: 2 + ts / 1e6 };
}

/**
 * Reads `iterator` until every vehicle in `want` was seen at (at least) its version; returns
 * the newest version seen per vehicle. Awaits updates: no sleeping, no polling.
 */
export async function seen(iterator: AsyncIterator<unknown[]>, want: ReadonlyMap<string, number>, state = new Map<string, number>()): Promise<Map<string, number>> {
  const missing = (): boolean => [...want].some(([v, ts]) => (state.get(v) ?? -Infinity) < ts);
  while (missing()) {
    const next = await iterator.next();
    if (next.done) throw new Error('subscription ended before every update arrived');
    for (const u of next.value as PositionRecord[]) state.set(u.vehicleId, Math.max(state.get(u.vehicleId) ?? -Infinity, u.ts));
  }
  return state;
}

/** Resolves with the first layer event matching `match`. */
export function nextEvent(node: Node, match: (e: BroadcastLayerEvent) => boolean): Promise<BroadcastLayerEvent> {
  return new Promise((resolve) => {
    const off = layer(node).onEvent((e) => {
      if (!match(e)) return;
      off();
      resolve(e);
    });
  });
}
