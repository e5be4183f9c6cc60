import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HyParViewSim } from '../../../src/membership/hyparview-sim.js';
import type { NodeName } from '../../../src/membership/types.js';

/** Grows an overlay of `size` nodes, each joining a random live node while earlier joins are still in flight. */
function grow(sim: HyParViewSim, size: number, from = 0): void {
  if (from === 0) sim.spawn('n0@sim');
  for (let i = Math.max(from, 1); i < size; i++) {
    sim.spawn(`n${i}@sim`, sim.random.pick(sim.alive()));
    for (let k = sim.random.int(10); k > 0; k--) sim.step();
  }
}

function assertHealthy(sim: HyParViewSim, label: string): void {
  assert.deepEqual(sim.checkQuiescent().slice(0, 5), [], `${label}: quiescent invariants`);
  assert.equal(sim.components().length, 1, `${label}: overlay connected`);
  assert.deepEqual(sim.belowMin(), [], `${label}: every active view reaches activeMinSize`);
}

describe('HyParView simulation', () => {
  let totalEvents = 0;

  it('keeps its invariants through thousands of random events (joins, crashes, restarts, ticks, any delivery order)', () => {
    for (const [seed, size] of [
      [1, 50],
      [2, 80],
      [3, 120],
      [4, 200],
      [5, 60],
      [6, 150],
      [7, 100],
      [8, 50],
      [9, 200],
      [10, 70],
    ] as const) {
      const sim = new HyParViewSim({ seed });
      grow(sim, size);
      let next = size;
      const check = (name: NodeName) => {
        const problems = sim.checkSafety(name);
        if (problems.length > 0) assert.fail(`seed ${seed}: ${problems.join('; ')}`);
      };
      for (let e = 0; e < 3_000; e++) {
        const r = sim.random.next();
        const alive = sim.alive();
        if (r < 0.03) sim.spawn(`n${next++}@sim`, sim.random.pick(alive));
        else if (r < 0.05 && alive.length > size / 2) sim.crash(sim.random.pick(alive));
        else if (r < 0.06) sim.restart(sim.random.pick(alive), sim.random.pick(alive));
        else if (r < 0.16) sim.tick(sim.random.pick(alive), 'shuffle');
        else if (r < 0.26) sim.tick(sim.random.pick(alive), 'promotion');
        else {
          const handled = sim.step();
          if (handled) check(handled);
        }
      }
      totalEvents += 3_000;
      totalEvents += sim.runUntilQuiet(undefined, check);
      assert.deepEqual(sim.checkQuiescent().slice(0, 5), [], `seed ${seed}: symmetric views of live nodes at quiescence`);
      // Heavy churn can cut off islands no protocol message can leave: the simulated driver
      // re-joins a random live node when `needsContact()` (see HyParView.needsContact).
      for (let round = 0; round < 6; round++) sim.round();
      assertHealthy(sim, `seed ${seed}`);
    }
  });

  it('recovers from 20% of the nodes crashing at once: survivors refill their views with live peers', () => {
    for (const seed of [11, 12, 13, 14, 15]) {
      // The protocol alone: no driver re-join of seeds.
      const sim = new HyParViewSim({ seed, rejoin: false });
      grow(sim, 200);
      sim.runUntilQuiet();
      for (let round = 0; round < 3; round++) sim.round();
      assertHealthy(sim, 'before the crash');
      const victims = sim.random.sample(sim.alive(), 40);
      for (const v of victims) sim.crash(v);
      totalEvents += sim.runUntilQuiet(undefined, (n) => assert.deepEqual(sim.checkSafety(n), []));
      for (let round = 0; round < 5; round++) sim.round();
      assertHealthy(sim, `seed ${seed}, after crashing 20%`);
      for (const n of sim.alive()) {
        for (const p of sim.node(n).members()) assert.ok(!victims.includes(p), `${n} still has crashed ${p} active`);
      }
    }
  });

  it('also converges with in-order delivery', () => {
    const sim = new HyParViewSim({ seed: 21, order: 'fifo' });
    grow(sim, 100);
    sim.runUntilQuiet();
    for (let round = 0; round < 4; round++) sim.round();
    assertHealthy(sim, 'fifo');
  });

  it('is deterministic given the seed', () => {
    const run = () => {
      const sim = new HyParViewSim({ seed: 31 });
      grow(sim, 60);
      sim.crash(sim.random.pick(sim.alive()));
      sim.runUntilQuiet();
      sim.round();
      return JSON.stringify([sim.stats, sim.alive().map((n) => [n, sim.node(n).members(), sim.node(n).passiveView()])]);
    };
    assert.equal(run(), run());
  });

  it('scales: 2,000 nodes join and stabilise', () => {
    const sim = new HyParViewSim({ seed: 41 });
    grow(sim, 2_000);
    totalEvents += sim.runUntilQuiet();
    for (let round = 0; round < 4; round++) sim.round();
    assertHealthy(sim, '2,000 nodes');
    totalEvents += sim.stats.delivered;
    const sizes = sim.alive().map((n) => sim.node(n).members().length);
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    assert.ok(mean >= 3 && mean <= 6, `mean active view ${mean}`);
  });

  it('reports how much it ran', (t) => {
    t.diagnostic(`random events and deliveries checked: ${totalEvents}`);
  });
});
