import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomOverlay } from '../../../src/broadcast/sim.js';
import { seededRandom } from '../../../src/util/random.js';
import { assertAllDelivered, broadcastSeries, eagerGraph, memorySim } from './sim-helpers.js';

describe('Plumtree tree formation (simulated)', () => {
  it('full mesh of 30: the first broadcast floods, then eager links form a spanning tree and RMR drops to 0', (t) => {
    const sim = memorySim({ seed: 42, nodes: 30 });
    const ids = broadcastSeries(sim, 'n0', 5);
    const rmr = ids.map((id) => sim.rmr(id));
    t.diagnostic(`RMR per broadcast: ${rmr.map((r) => r.toFixed(2)).join(' ')}; LDH ${sim.ldh(ids[4]!)}`);
    assert.equal(rmr[0], 28, 'all-eager start floods: RMR = n - 2');
    assert.equal(rmr[4], 0);
    assertAllDelivered(sim, ids, 29);
    assert.deepEqual(eagerGraph(sim, 'n0'), { edges: 29, mutual: true, connected: true });
  });

  it('partial views (200 nodes, ~6 neighbours as HyParView): RMR falls far below flooding', (t) => {
    const names = Array.from({ length: 200 }, (_, i) => `n${i}`);
    const overlay = randomOverlay(names, 6, seededRandom(7));
    const sim = memorySim({ seed: 7, nodes: names, members: (n) => overlay.get(n)!, latency: { min: 2, max: 40 } });
    const ids = broadcastSeries(sim, 'n0', 6);
    const rmr = ids.map((id) => sim.rmr(id));
    t.diagnostic(`RMR per broadcast: ${rmr.map((r) => r.toFixed(2)).join(' ')}; LDH ${ids.map((id) => sim.ldh(id)).join(' ')}`);
    assert.ok(rmr[0]! > 3, 'the first broadcast floods the overlay');
    assert.ok(rmr[5]! < 0.05 * rmr[0]!, `steady RMR ${rmr[5]} vs flooding ${rmr[0]}`);
    assertAllDelivered(sim, ids, 199);
    assert.deepEqual(eagerGraph(sim, 'n0'), { edges: 199, mutual: true, connected: true });
  });

  it('every root gets a tree of its own (per-root sets, as Partisan)', (t) => {
    const sim = memorySim({ seed: 5, nodes: 20 });
    const roots = ['n0', 'n7', 'n13'];
    const last: string[] = [];
    for (let round = 0; round < 4; round++) {
      for (const root of roots) last.push(...broadcastSeries(sim, root, 1, 1500, `${root}-r${round}`));
    }
    const final = last.slice(-3);
    t.diagnostic(`final RMR per root: ${final.map((id) => sim.rmr(id).toFixed(2)).join(' ')}`);
    for (const id of final) assert.equal(sim.rmr(id), 0);
    for (const root of roots) assert.deepEqual(eagerGraph(sim, root), { edges: 19, mutual: true, connected: true });
    assertAllDelivered(sim, last, 19);
  });

  it('copes with slow (asynchronous) handlers: merges in flight are not repeated', (t) => {
    const sim = memorySim({ seed: 11, nodes: 25, handlerDelay: 15 });
    const ids = broadcastSeries(sim, 'n3', 5);
    t.diagnostic(`RMR with 15 ms handlers: ${ids.map((id) => sim.rmr(id).toFixed(2)).join(' ')}`);
    assertAllDelivered(sim, ids, 24);
    assert.equal(sim.rmr(ids[4]!), 0);
  });

  it('replays exactly from the seed', () => {
    const run = (): string => {
      const sim = memorySim({ seed: 99, nodes: 15, loss: 0.05 });
      broadcastSeries(sim, 'n0', 3, 1500);
      return JSON.stringify([sim.sent, sim.dropped, sim.names.map((n) => sim.node(n).sm.metrics)]);
    };
    assert.equal(run(), run());
  });
});
