import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AWMap } from '../../../src/membership/awmap.js';
import { isPartisanError } from '../../../src/util/errors.js';

/** One replica: its state plus the actor writing into it (restarts bump the incarnation). */
interface Replica {
  name: string;
  incarnation: number;
  map: AWMap<number>;
}

type Op =
  | { kind: 'set'; r: number; key: string; value: number }
  | { kind: 'remove'; r: number; key: string }
  | { kind: 'merge'; into: number; from: number }
  | { kind: 'restart'; r: number };

const KEYS = ['k1', 'k2', 'k3'];

function opArb(replicas: number): fc.Arbitrary<Op> {
  const r = fc.nat({ max: replicas - 1 });
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), r, key: fc.constantFrom(...KEYS), value: fc.nat({ max: 99 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), r, key: fc.constantFrom(...KEYS) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('merge' as const), into: r, from: r }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), r }) },
  );
}

const historyArb = fc.integer({ min: 2, max: 4 }).chain((n) => fc.tuple(fc.constant(n), fc.array(opArb(n), { maxLength: 40 })));

function run(n: number, ops: readonly Op[]): Replica[] {
  const rs: Replica[] = Array.from({ length: n }, (_, i) => ({ name: `r${i}@h`, incarnation: 1, map: new AWMap<number>() }));
  for (const op of ops) {
    switch (op.kind) {
      case 'set': {
        const r = rs[op.r]!;
        r.map.set({ name: r.name, incarnation: r.incarnation }, op.key, op.value);
        break;
      }
      case 'remove':
        rs[op.r]!.map.remove(op.key);
        break;
      case 'merge':
        rs[op.into]!.map.merge(rs[op.from]!.map);
        break;
      case 'restart': {
        // A restarted process has lost its state and comes back under a newer incarnation.
        const r = rs[op.r]!;
        r.incarnation++;
        r.map = new AWMap<number>();
        break;
      }
    }
  }
  return rs;
}

function join(a: AWMap<number>, b: AWMap<number>): AWMap<number> {
  const c = a.clone();
  c.merge(b);
  return c;
}

const RUNS = 300;

describe('AWMap', () => {
  describe('merge is a join (fast-check over random histories on 2–4 replicas)', () => {
    it('is commutative, associative and idempotent', () => {
      fc.assert(
        fc.property(historyArb, ([n, ops]) => {
          const [a, b, c = a] = run(n, ops).map((r) => r.map) as [AWMap<number>, AWMap<number>, AWMap<number>?];
          assert.ok(join(a, b).equals(join(b, a)), 'commutative');
          assert.ok(join(join(a, b), c).equals(join(a, join(b, c))), 'associative');
          assert.ok(join(a, a).equals(a), 'idempotent');
          const ab = join(a, b);
          assert.ok(join(ab, a).equals(ab) && join(ab, b).equals(ab), 'a ⊔ b is an upper bound of a and b');
        }),
        { numRuns: RUNS },
      );
    });

    it('reports a change exactly when the state changed', () => {
      fc.assert(
        fc.property(historyArb, ([n, ops]) => {
          const [a, b] = run(n, ops).map((r) => r.map) as [AWMap<number>, AWMap<number>];
          const c = a.clone();
          assert.equal(c.merge(b), !c.equals(a));
        }),
        { numRuns: RUNS },
      );
    });

    it('converges: every replica ends equal after merging everyone in any order', () => {
      fc.assert(
        fc.property(historyArb, fc.integer(), ([n, ops], seed) => {
          const maps = run(n, ops).map((r) => r.map);
          const order = fc.sample(fc.shuffledSubarray(maps, { minLength: maps.length, maxLength: maps.length }), { numRuns: 1, seed })[0]!;
          const a = maps.reduce((acc, m) => join(acc, m));
          const b = order.reduce((acc, m) => join(acc, m));
          assert.ok(a.equals(b));
          assert.equal(a.digest(), b.digest());
        }),
        { numRuns: RUNS },
      );
    });

    it('round-trips through plain JSON with the same digest', () => {
      fc.assert(
        fc.property(historyArb, ([n, ops]) => {
          for (const { map } of run(n, ops)) {
            const back = AWMap.decode<number>(JSON.parse(JSON.stringify(map.encode())));
            assert.ok(back.equals(map));
            assert.equal(back.digest(), map.digest());
            assert.deepEqual(back.keys(), map.keys());
            for (const k of map.keys()) assert.deepEqual(back.get(k), map.get(k));
          }
        }),
        { numRuns: RUNS },
      );
    });

    it('digests differ when states differ', () => {
      fc.assert(
        fc.property(historyArb, ([n, ops]) => {
          const [a, b] = run(n, ops).map((r) => r.map) as [AWMap<number>, AWMap<number>];
          assert.equal(a.digest() === b.digest(), a.equals(b));
        }),
        { numRuns: RUNS },
      );
    });

    it('a key removed by a replica that has seen every write is gone everywhere after merging', () => {
      fc.assert(
        fc.property(historyArb, fc.constantFrom(...KEYS), ([n, ops], key) => {
          const rs = run(n, ops);
          const remover = rs[0]!.map;
          for (const r of rs) remover.merge(r.map);
          remover.remove(key);
          // Gossip in both directions, the stale states included.
          for (const r of rs) r.map.merge(remover);
          for (const r of rs) for (const s of rs) r.map.merge(s.map);
          for (const r of rs) assert.equal(r.map.has(key), false, `${key} came back at ${r.name}`);
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe('semantics', () => {
    const a = { name: 'a@h', incarnation: 1 };
    const b = { name: 'b@h', incarnation: 1 };

    it('add wins over a concurrent remove', () => {
      const ra = new AWMap<string>();
      ra.set(a, 'k', 'v1');
      const rb = ra.clone();
      rb.remove('k');
      ra.set(a, 'k', 'v2');
      for (const [x, y] of [
        [ra.clone(), rb],
        [rb.clone(), ra],
      ] as const) {
        x.merge(y);
        assert.deepEqual(x.get('k'), ['v2']);
      }
    });

    it('a remove of what was seen wins over the stale copies', () => {
      const ra = new AWMap<string>();
      ra.set(a, 'k', 'v1');
      const stale = ra.clone();
      ra.remove('k');
      ra.merge(stale);
      assert.equal(ra.has('k'), false);
    });

    it('keeps concurrent values from different actors until one overwrites both', () => {
      const ra = new AWMap<string>();
      const rb = new AWMap<string>();
      ra.set(a, 'k', 'from-a');
      rb.set(b, 'k', 'from-b');
      ra.merge(rb);
      assert.deepEqual(ra.get('k'), ['from-a', 'from-b']);
      ra.set(a, 'k', 'resolved');
      rb.merge(ra);
      assert.deepEqual(rb.get('k'), ['resolved']);
    });

    it('a value re-set by the same actor supersedes its older value, even when the old one arrives late', () => {
      const ra = new AWMap<string>();
      ra.set(a, 'k', 'old');
      const stale = ra.clone();
      ra.set(a, 'k', 'new');
      const rb = new AWMap<string>();
      rb.merge(ra);
      rb.merge(stale);
      stale.merge(ra);
      assert.deepEqual(rb.get('k'), ['new']);
      assert.deepEqual(stale.get('k'), ['new']);
    });

    it('a restarted actor (fresh state, newer incarnation) replaces what its predecessor wrote (#191)', () => {
      const a1 = new AWMap<string>();
      a1.set({ name: 'a@h', incarnation: 100 }, 'a@h', 'a at 10.0.0.1');
      const peer = new AWMap<string>();
      peer.merge(a1);
      const staleGossip = peer.clone();
      const a2 = new AWMap<string>();
      a2.set({ name: 'a@h', incarnation: 200 }, 'a@h', 'a at 10.0.0.2');
      // Every merge order, the stale gossip included, ends with exactly the new value.
      const states = [a1, a2, peer, staleGossip];
      const orders = [
        [0, 1, 2, 3],
        [3, 2, 1, 0],
        [1, 3, 0, 2],
        [2, 0, 3, 1],
      ];
      for (const order of orders) {
        const m = new AWMap<string>();
        for (const i of order) m.merge(states[i]!);
        assert.deepEqual(m.get('a@h'), ['a at 10.0.0.2'], `order ${order}`);
      }
      peer.merge(a2);
      peer.merge(staleGossip);
      assert.deepEqual(peer.get('a@h'), ['a at 10.0.0.2']);
    });

    it('refuses to write with an incarnation older than one already seen', () => {
      const m = new AWMap<string>();
      m.set({ name: 'a@h', incarnation: 2 }, 'k', 'x');
      assert.throws(() => m.set({ name: 'a@h', incarnation: 1 }, 'k', 'y'), RangeError);
    });
  });

  describe('decode', () => {
    it('rejects malformed states with ERR_WIRE_MALFORMED_FRAME', () => {
      const bad: unknown[] = [
        null,
        { c: 'x', e: [] },
        { c: [['a@h', 1, 1]], e: [['k', [[0, 1, 2, 'v']]]] }, // dot not covered by the context
        { c: [['a@h', 1, 1]], e: [['k', [[1, 1, 1, 'v']]]] }, // actor index out of range
        { c: [['a@h', 1, 1]], e: [['k', []]] }, // empty register
        { c: [['a@h', 1, 1], ['a@h', 1, 2]], e: [] }, // duplicate actor
        { c: [['a@h', -1, 1]], e: [] },
      ];
      for (const value of bad) {
        assert.throws(
          () => AWMap.decode(value),
          (err: unknown) => isPartisanError(err, 'ERR_WIRE_MALFORMED_FRAME'),
          JSON.stringify(value),
        );
      }
    });
  });
});
