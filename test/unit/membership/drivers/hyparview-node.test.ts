/**
 * Nodes with `peerService: 'hyparview'` on the memory transport: the overlay forms with
 * symmetric active views, Plumtree (channel `gps`, latestPosition) spans the active view and
 * reaches every node, a killed node is replaced in every view.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { BroadcastManager } from '../../../../src/broadcast/broadcast-manager.js';
import type { PositionRecord } from '../../../../src/broadcast/latest-position.js';
import { startNode, type Node } from '../../../../src/node/node.js';
import { MemoryNetwork } from '../../../../src/transport/memory/memory-transport.js';

const membership = { shuffleInterval: 300, randomPromotionInterval: 150, contactTimeoutMs: 1_000, contactLingerMs: 500, rejoinIntervalMs: 5_000 };

const nodes: Node[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function start(net: MemoryNetwork, name: string, broadcast = false): Promise<Node> {
  const n = await startNode({
    name: `${name}@mem`,
    host: name,
    transport: 'memory',
    memoryNetwork: net,
    peerService: 'hyparview',
    membership,
    ...(broadcast
      ? { channels: [{ name: 'gps', parallelism: 2 }], broadcast: { gps: { handler: 'latestPosition', worker: false, plumtree: { lazyTickPeriod: 100, exchangeTickPeriod: 500 } } } }
      : {}),
  });
  nodes.push(n);
  return n;
}

async function startOverlay(net: MemoryNetwork, count: number, broadcast = false): Promise<Node[]> {
  const all: Node[] = [];
  for (let i = 0; i < count; i++) all.push(await start(net, `n${i}`, broadcast));
  for (const n of all.slice(1)) n.join(all[0]!.nodeSpec());
  await eventually(() => symmetric(all) && all.every((n) => active(n).length >= 3), 'symmetric views of at least 3');
  return all;
}

/** Resolve once `cond` holds, polling with a deadline (membership moves on timers of its own). */
async function eventually(cond: () => boolean | Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`not reached: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const active = (n: Node): string[] => n.broadcastMembers();

function symmetric(all: readonly Node[]): boolean {
  const byName = new Map(all.map((n) => [n.nodeString(), n]));
  return all.every((n) => active(n).every((p) => byName.get(p) !== undefined && active(byName.get(p)!).includes(n.nodeString())));
}

function connected(all: readonly Node[]): boolean {
  const byName = new Map(all.map((n) => [n.nodeString(), n]));
  const seen = new Set([all[0]!.nodeString()]);
  const stack = [all[0]!];
  while (stack.length > 0) {
    for (const p of active(stack.pop()!)) {
      if (seen.has(p) || !byName.has(p)) continue;
      seen.add(p);
      stack.push(byName.get(p)!);
    }
  }
  return seen.size === all.length;
}

/** Reads updates until every vehicle in `want` reached its version. */
async function newest(iterator: AsyncIterator<unknown[]>, want: ReadonlyMap<string, number>): Promise<void> {
  const state = new Map<string, number>();
  while ([...want].some(([v, ts]) => (state.get(v) ?? -1) < ts)) {
    const next = await iterator.next();
    if (next.done) throw new Error('subscription ended early');
    for (const u of next.value as PositionRecord[]) state.set(u.vehicleId, Math.max(state.get(u.vehicleId) ?? -1, u.ts));
  }
}

function fix(vehicleId: string, ts: number): PositionRecord {
  return { vehicleId, ts, lat: 48 + ts / 1e6, lon: 2 + ts / 1e6 };
}

describe('HyParView peer service in nodes (memory transport)', () => {
  it('forms a connected overlay of symmetric active views; members() is the active view and self', async () => {
    const net = new MemoryNetwork();
    const all = await startOverlay(net, 8);
    assert.ok(connected(all));
    for (const n of all) {
      assert.ok(active(n).length <= 6);
      assert.deepEqual(n.members(), [n.nodeString(), ...active(n)].sort());
      for (const p of active(n)) assert.ok(n.isConnected(p), `${n.nodeString()} connected to ${p}`);
    }
  });

  it('runs Plumtree over the active view: every node gets every broadcast', async () => {
    const net = new MemoryNetwork();
    const all = await startOverlay(net, 8, true);
    const layer = (n: Node) => n.broadcasts() as BroadcastManager;
    // The broadcast layer follows the active view (membersChanged).
    await eventually(async () => {
      for (const n of all) {
        const members = await layer(n).broadcastMembers('gps');
        if (JSON.stringify([...members].sort()) !== JSON.stringify([...active(n)].sort())) return false;
      }
      return true;
    }, 'Plumtree members = active view');
    const subs = all.map((n) => n.subscribe('gps'));
    const want = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const v = `v${i % 50}`;
      want.set(v, i);
      all[i % 2 === 0 ? 0 : 5]!.broadcast(fix(v, i), 'gps');
    }
    // latestPosition: every node ends with the newest version of every vehicle (older ones are superseded).
    await Promise.all(subs.map((s) => newest(s, want)));
    for (const s of subs) await s.return?.();
    const metrics = await Promise.all(all.map(async (n) => (await layer(n).metrics('gps')).gps!));
    const received = metrics.reduce((sum, m) => sum + (m.received ?? 0), 0);
    assert.ok(Number.isFinite(received) && received > 0);
    assert.ok(metrics.some((m) => (m.prunesSent ?? 0) > 0), 'duplicates were pruned: a tree formed');
  });

  it('replaces a killed node in every active view', async () => {
    const net = new MemoryNetwork();
    const all = await startOverlay(net, 8);
    const victim = all[3]!;
    const name = victim.nodeString();
    const holders = all.filter((n) => active(n).includes(name));
    assert.ok(holders.length >= 3);
    net.crash('n3');
    await victim.stop();
    nodes.splice(nodes.indexOf(victim), 1);
    const rest = all.filter((n) => n !== victim);
    await eventually(() => rest.every((n) => !active(n).includes(name)), 'the victim left every active view');
    await eventually(() => symmetric(rest) && connected(rest) && rest.every((n) => active(n).length >= 3), 'views repaired');
  });
});
