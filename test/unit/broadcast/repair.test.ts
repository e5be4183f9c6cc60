import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatestPositionHandler, type PositionRecord } from '../../../src/broadcast/latest-position.js';
import { BroadcastSim, randomOverlay } from '../../../src/broadcast/sim.js';
import { seededRandom } from '../../../src/util/random.js';
import { assertAllDelivered, broadcastSeries, memorySim, type Sim } from './sim-helpers.js';

/** The non-root node with the most eager peers in `root`'s tree (one is its parent). */
function innerNode(sim: Sim, root: string): string {
  const candidates = sim.names.filter((n) => n !== root);
  const fanout = (n: string): number => sim.node(n).sm.peers(root).eager.length;
  const inner = candidates.reduce((best, n) => (fanout(n) > fanout(best) ? n : best));
  assert.ok(fanout(inner) >= 3, 'the tree has an inner node with at least two children');
  return inner;
}

const total = (sim: Sim, metric: 'graftsSent' | 'outstandingDropped'): number =>
  sim.names.reduce((sum, n) => sum + sim.node(n).sm.metrics[metric], 0);

describe('Plumtree tree repair (simulated)', () => {
  it('an inner node dies, membership unchanged: its subtree recovers through lazy links and graft', (t) => {
    const sim = memorySim({ seed: 3, nodes: 30 });
    broadcastSeries(sim, 'n0', 3, 2000, 'warm');
    const dead = innerNode(sim, 'n0');
    const children = sim.node(dead).sm.peers('n0').eager.length - 1;
    sim.crash(dead);
    const ids = broadcastSeries(sim, 'n0', 4, 3000, 'after');
    assertAllDelivered(sim, ids, 28);
    const grafts = total(sim, 'graftsSent');
    assert.ok(grafts >= children, `the orphaned children grafted (${grafts} grafts for ${children} children)`);
    const next = broadcastSeries(sim, 'n0', 1, 3000, 'later');
    assertAllDelivered(sim, next, 28);
    assert.equal(total(sim, 'graftsSent'), grafts, 'the repair is permanent: no further grafts');
    t.diagnostic(`killed ${dead} (${children} children); ${grafts} grafts; RMR after repair ${sim.rmr(next[0]!, 29).toFixed(2)}`);
  });

  it('an inner node leaves the membership: it is dropped everywhere and every later broadcast still reaches all', () => {
    const names = Array.from({ length: 100 }, (_, i) => `n${i}`);
    const overlay = randomOverlay(names, 5, seededRandom(17));
    const sim = memorySim({ seed: 17, nodes: names, members: (n) => overlay.get(n)! });
    broadcastSeries(sim, 'n0', 3, 2000, 'warm');
    const dead = innerNode(sim, 'n0');
    sim.crash(dead);
    for (const n of names) if (n !== dead) sim.setMembers(n, overlay.get(n)!.filter((p) => p !== dead));
    const ids = broadcastSeries(sim, 'n0', 4, 3000, 'after');
    assertAllDelivered(sim, ids, 98);
    for (const n of names.filter((x) => x !== dead)) {
      const sm = sim.node(n).sm;
      assert.ok(!sm.broadcastMembers().includes(dead));
      assert.ok(!sm.peers('n0').eager.includes(dead) && !sm.peers('n0').lazy.includes(dead));
      assert.equal(sm.outstandingCount(dead), 0);
    }
  });

  it('the outstanding map stays bounded under a dead peer that membership still lists', () => {
    const sim = memorySim({ seed: 8, nodes: 6, plumtree: { maxOutstandingPerPeer: 20 } });
    broadcastSeries(sim, 'n0', 3, 2000, 'warm');
    sim.crash('n5');
    const ids = broadcastSeries(sim, 'n0', 100, 50, 'burst');
    sim.run(5000);
    assertAllDelivered(sim, ids, 4);
    const live = sim.names.filter((n) => n !== 'n5');
    for (const n of live) assert.ok(sim.node(n).sm.outstandingCount('n5') <= 20);
    assert.ok(total(sim, 'outstandingDropped') > 0, 'the bound was hit');
    const forLivePeers = live.reduce((sum, n) => sum + sim.node(n).sm.outstandingCount() - sim.node(n).sm.outstandingCount('n5'), 0);
    assert.equal(forLivePeers, 0, 'announcements to live peers were all acknowledged');
  });
});

describe('anti-entropy repair after a partition (simulated, latestPosition)', () => {
  it('positions broadcast during a partition reach the other side after heal, only through exchanges', (t) => {
    const sim = new BroadcastSim({ seed: 21, nodes: 10, handler: () => new LatestPositionHandler({ buckets: 64 }) });
    const A = sim.names.slice(0, 5);
    const B = sim.names.slice(5);
    const fix = (vehicleId: string, ts: number): PositionRecord => ({ vehicleId, ts, lat: 52.5, lon: 13.4 });
    sim.broadcast('n0', fix('shared', 1));
    sim.run(3000);

    sim.partition(A, B);
    for (const side of [A, B]) for (const n of side) sim.setMembers(n, side);
    const during: Array<{ id: { key: string; ts: number }; side: string[] }> = [];
    for (let i = 0; i < 10; i++) {
      during.push({ id: sim.broadcast(A[i % 5]!, fix(`a-${i}`, 100 + i))!, side: A });
      during.push({ id: sim.broadcast(B[i % 5]!, fix(`b-${i}`, 200 + i))!, side: B });
    }
    during.push({ id: sim.broadcast('n7', fix('shared', 2))!, side: B });
    sim.run(5000);
    assert.equal(sim.node('n0').handler.get('b-0'), undefined, 'nothing crosses the partition');

    sim.heal();
    for (const n of sim.names) sim.setMembers(n, sim.names);
    sim.run(300_000);

    for (const n of sim.names) {
      const h = sim.node(n).handler;
      assert.equal(h.size, 21, `${n} has every vehicle`);
      assert.equal(h.get('shared')?.ts, 2, `${n} has the newest shared fix`);
    }
    for (const { id, side } of during) {
      for (const n of sim.names.filter((x) => !side.includes(x))) {
        assert.equal(sim.record(id).deliveries.get(n), undefined, `${id.key} reached ${n} by broadcast`);
      }
    }
    const repairedA = A.reduce((s, n) => s + sim.node(n).handler.stats.repaired, 0);
    const repairedB = B.reduce((s, n) => s + sim.node(n).handler.stats.repaired, 0);
    assert.ok(repairedA >= 5 * 11 && repairedB >= 5 * 10, `repaired by exchange: side A ${repairedA}, side B ${repairedB}`);
    const exchanges = sim.names.reduce((s, n) => s + sim.node(n).sm.metrics.exchangesCompleted, 0);
    t.diagnostic(`${exchanges} exchanges completed; repaired A ${repairedA}, B ${repairedB}`);

    const after = sim.broadcast('n9', fix('a-0', 500))!;
    sim.run(3000);
    assert.equal(sim.record(after).deliveries.size, 9, 'Plumtree works across the healed link again');
  });
});
