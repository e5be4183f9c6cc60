import assert from 'node:assert/strict';
import { MemoryBroadcastHandler } from '../../../src/broadcast/memory-handler.js';
import { BroadcastSim, type BroadcastSimOptions } from '../../../src/broadcast/sim.js';

/** Simulator helpers shared by the broadcast tests. */

export type Sim = BroadcastSim<MemoryBroadcastHandler<number>>;

export function memorySim(options: Omit<BroadcastSimOptions<MemoryBroadcastHandler<number>>, 'handler'>): Sim {
  return new BroadcastSim({ ...options, handler: () => new MemoryBroadcastHandler<number>() });
}

/** The undirected eager graph of `root`'s tree: its edges and whether every link is mutual. */
export function eagerGraph(sim: Sim, root: string, nodes = sim.names): { edges: number; mutual: boolean; connected: boolean } {
  const edges = new Set<string>();
  let mutual = true;
  const parent = new Map(nodes.map((n) => [n, n]));
  const find = (x: string): string => (parent.get(x) === x ? x : find(parent.get(x)!));
  for (const x of nodes) {
    for (const y of sim.node(x).sm.peers(root).eager) {
      if (!nodes.includes(y)) continue;
      edges.add([x, y].sort().join('|'));
      if (!sim.node(y).sm.peers(root).eager.includes(x)) mutual = false;
      parent.set(find(x), find(y));
    }
  }
  return { edges: edges.size, mutual, connected: new Set(nodes.map(find)).size === 1 };
}

/** Broadcasts `count` messages from `origin`, `gap` ms apart; returns their ids. */
export function broadcastSeries(sim: Sim, origin: string, count: number, gap = 2000, prefix = origin): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${prefix}-${i}`;
    sim.broadcast(origin, { id, payload: i });
    ids.push(id);
    sim.run(gap);
  }
  return ids;
}

export function assertAllDelivered(sim: Sim, ids: string[], receivers: number): void {
  for (const id of ids) {
    const record = sim.record(id);
    assert.equal(record.deliveries.size, receivers, `${id} reached ${record.deliveries.size}/${receivers}`);
    assert.ok([...record.deliveries.values()].every((n) => n === 1), `${id} delivered twice somewhere`);
  }
}
