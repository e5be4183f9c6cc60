import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { randomOverlay } from '../../../src/broadcast/sim.js';
import { seededRandom } from '../../../src/util/random.js';
import { memorySim } from './sim-helpers.js';

const scenario = fc.record({
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  nodes: fc.integer({ min: 2, max: 14 }),
  /** 0 = full mesh, else the partial-view degree. */
  degree: fc.oneof(fc.constant(0), fc.integer({ min: 2, max: 5 })),
  handlerDelay: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 })),
  graftTimeout: fc.integer({ min: 1, max: 400 }),
  maxLatency: fc.integer({ min: 1, max: 200 }),
  broadcasts: fc.array(fc.record({ origin: fc.nat(), gap: fc.integer({ min: 0, max: 1500 }) }), { minLength: 1, maxLength: 12 }),
});

describe('Plumtree property', () => {
  it('with no loss and connected membership, every broadcast is merged as new exactly once on every other node', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const names = Array.from({ length: s.nodes }, (_, i) => `n${i}`);
        const overlay = s.degree > 0 ? randomOverlay(names, s.degree, seededRandom(s.seed)) : undefined;
        const sim = memorySim({
          seed: s.seed,
          nodes: names,
          handlerDelay: s.handlerDelay,
          latency: { min: 1, max: s.maxLatency },
          plumtree: { graftTimeout: s.graftTimeout, graftRetryTimeout: Math.max(1, s.graftTimeout >> 1) },
          ...(overlay ? { members: (n: string) => overlay.get(n)! } : {}),
        });
        const sent: Array<{ id: string; origin: string }> = [];
        s.broadcasts.forEach((b, i) => {
          const origin = names[b.origin % names.length]!;
          sim.broadcast(origin, { id: `m${i}`, payload: i });
          sent.push({ id: `m${i}`, origin });
          sim.run(b.gap);
        });
        sim.run(30_000);
        for (const { id, origin } of sent) {
          const record = sim.record(id);
          for (const n of names) assert.equal(record.deliveries.get(n), n === origin ? undefined : 1, `${id} from ${origin} at ${n}`);
        }
        const delivered = names.reduce((sum, n) => sum + sim.node(n).sm.metrics.delivered, 0);
        assert.equal(delivered, sent.length * (names.length - 1));
      }),
      { numRuns: 60, seed: 20260101 },
    );
  });
});
