import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FullMeshMembership } from '../../../src/membership/full-mesh.js';
import type { NodeName } from '../../../src/membership/types.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { MeshSim, spec } from './mesh-sim.js';

const n = (s: string) => s as NodeName;

/** A converged cluster of `names`, each joining the first one. */
function cluster(names: string[], seed = 1): MeshSim {
  const sim = new MeshSim(seed);
  for (const name of names) sim.add(name);
  for (const name of names.slice(1)) sim.act(name, (node) => node.join(spec(names[0]!)));
  sim.runUntilQuiet();
  return sim;
}

function assertConverged(sim: MeshSim, names: string[]): void {
  const expected = [...names].sort();
  const digests = new Set<string>();
  for (const name of names) {
    assert.deepEqual(sim.get(name).members(), expected, `members at ${name}`);
    digests.add(sim.get(name).digest());
  }
  assert.equal(digests.size, 1, 'every replica has the same state');
}

describe('FullMeshMembership', () => {
  it('starts as a singleton and joins through gossip', () => {
    const sim = new MeshSim(1);
    const a = sim.add('a@h');
    sim.add('b@h');
    assert.deepEqual(a.members(), ['a@h']);
    const actions = sim.act('a@h', (node) => node.join(spec('b@h')));
    assert.deepEqual(
      actions.map((x) => x.type),
      ['connect', 'gossip'],
    );
    assert.deepEqual(a.members(), ['a@h'], 'a join is pending until the joined node answers');
    assert.deepEqual(a.pending().map((s) => s.name), ['b@h']);
    sim.runUntilQuiet();
    assertConverged(sim, ['a@h', 'b@h']);
    assert.deepEqual(a.pending(), []);
    const changed = sim.actionsOf('a@h', 'membersChanged');
    assert.deepEqual(changed.at(-1), { type: 'membersChanged', added: [spec('b@h')], removed: [], updated: [], members: ['a@h', 'b@h'] });
    assert.ok(sim.actionsOf('a@h', 'connect').some((x) => x.type === 'connect' && x.spec.name === 'b@h'));
  });

  it('joining self or a member is a no-op', () => {
    const sim = cluster(['a@h', 'b@h']);
    assert.deepEqual(sim.get('a@h').join(spec('a@h')), []);
    assert.deepEqual(sim.get('a@h').join(spec('b@h')), []);
  });

  it('stops gossiping once converged', () => {
    const sim = cluster(['a@h', 'b@h', 'c@h']);
    sim.periodicRound();
    const before = sim.log.length;
    sim.periodicRound();
    const sent = sim.log.slice(before).filter((e) => e.action.type === 'gossip');
    assert.equal(sent.length, 3, 'only the periodic gossip itself; receivers stay quiet');
  });

  describe('convergence: N replicas gossiping in a random (seeded) order', () => {
    for (const size of [3, 5, 10, 25, 50]) {
      it(`N=${size}`, () => {
        for (const seed of [1, 2, 3]) {
          const sim = new MeshSim(seed * 1000 + size);
          const names = Array.from({ length: size }, (_, i) => `n${i}@h`);
          for (const name of names) sim.add(name);
          // Each node joins a random earlier one; deliveries interleave with the joins.
          for (let i = 1; i < size; i++) {
            const contact = names[sim.random.int(i)]!;
            sim.act(names[i]!, (node) => node.join(spec(contact)));
            for (let k = sim.random.int(5); k > 0; k--) sim.step();
          }
          sim.runUntilQuiet();
          assertConverged(sim, names);
        }
      });
    }
  });

  describe('leave', () => {
    it('a removed node does not come back on gossip from a peer that had not heard of the removal', () => {
      const sim = cluster(['a@h', 'b@h', 'c@h']);
      const staleFromC = sim.get('c@h').state();
      sim.act('a@h', (node) => node.leave(n('b@h')));
      assert.deepEqual(sim.get('a@h').members(), ['a@h', 'c@h']);
      sim.apply(n('a@h'), sim.get('a@h').handleGossip(n('c@h'), staleFromC));
      assert.deepEqual(sim.get('a@h').members(), ['a@h', 'c@h'], 'stale gossip did not resurrect b');
      sim.runUntilQuiet();
      sim.periodicRound();
      assertConverged(sim, ['a@h', 'c@h']);
      assert.deepEqual(sim.get('b@h').members(), ['b@h'], 'the removed node reset to a singleton');
      assert.deepEqual(sim.actionsOf('b@h', 'selfRemoved'), [{ type: 'selfRemoved', reason: 'removed' }]);
      assert.ok(sim.actionsOf('a@h', 'disconnect').some((x) => x.type === 'disconnect' && x.node === 'b@h'), 'a kills b connections');
    });

    it('self-leave resets to a singleton and stale gossip cannot pull the node back (#191)', () => {
      const sim = cluster(['a@h', 'b@h', 'c@h']);
      const staleFromC = sim.get('c@h').state();
      const actions = sim.act('b@h', (node) => node.leave());
      assert.deepEqual(
        actions.map((x) => x.type),
        ['gossip', 'disconnect', 'disconnect', 'membersChanged', 'selfRemoved'],
        'gossip first, then close the connections',
      );
      assert.deepEqual(sim.get('b@h').members(), ['b@h']);
      // Gossip c sent before it heard of the leave arrives after b's reset: not merged, and
      // answered with a retraction (no entries) that can only remove b's obsolete entry.
      const answer = sim.get('b@h').handleGossip(n('c@h'), staleFromC);
      assert.equal(answer.length, 1);
      assert.ok(answer[0]!.type === 'gossip' && answer[0]!.state.e.length === 0 && answer[0]!.to[0] === 'c@h');
      assert.deepEqual(sim.get('b@h').members(), ['b@h']);
      sim.apply(n('b@h'), answer);
      sim.apply(n('a@h'), sim.get('a@h').handleGossip(n('c@h'), staleFromC));
      sim.runUntilQuiet();
      sim.periodicRound();
      assertConverged(sim, ['a@h', 'c@h']);
      assert.deepEqual(sim.get('b@h').members(), ['b@h']);
    });

    it('leave works in a two-node cluster (#128)', () => {
      const sim = cluster(['a@h', 'b@h']);
      sim.act('a@h', (node) => node.leave());
      sim.runUntilQuiet();
      sim.periodicRound();
      assert.deepEqual(sim.get('a@h').members(), ['a@h']);
      assert.deepEqual(sim.get('b@h').members(), ['b@h']);
    });

    it('a node that left can join again', () => {
      const sim = cluster(['a@h', 'b@h', 'c@h']);
      sim.act('b@h', (node) => node.leave());
      sim.runUntilQuiet();
      sim.act('b@h', (node) => node.join(spec('c@h')));
      sim.runUntilQuiet();
      assertConverged(sim, ['a@h', 'b@h', 'c@h']);
    });

    it('a join answered just before the contact left does not leave it behind as a member', () => {
      const sim = new MeshSim(1);
      sim.add('a@h');
      sim.add('b@h');
      sim.act('b@h', (node) => node.join(spec('a@h')));
      sim.step(); // a answers b's join request with its state...
      sim.act('a@h', (node) => node.leave()); // ...then leaves before b gets the answer
      sim.runUntilQuiet();
      sim.periodicRound();
      assert.deepEqual(sim.get('b@h').members(), ['b@h'], 'a retracted its obsolete entry at b');
      assert.deepEqual(sim.get('a@h').members(), ['a@h']);
    });

    it('leaving a pending node cancels the join', () => {
      const sim = new MeshSim(1);
      const a = sim.add('a@h');
      a.join(spec('x@h'));
      assert.deepEqual(a.leave(n('x@h')), [{ type: 'disconnect', node: 'x@h' }]);
      assert.deepEqual(a.pending(), []);
      assert.deepEqual(a.periodic(), []);
    });
  });

  describe('restart', () => {
    it('a node restarting with a new address replaces its spec, even when the old spec arrives late', () => {
      const sim = cluster(['a@h', 'b@h', 'c@h']);
      const staleFromC = sim.get('c@h').state();
      const b2 = new FullMeshMembership({ self: spec('b@h', 9001, '10.0.0.2'), incarnation: 2 });
      sim.nodes.set(b2.self, b2);
      sim.act('b@h', (node) => node.join(spec('a@h')));
      sim.runUntilQuiet();
      // The stale state (old address) reaches everyone after the restart.
      for (const name of ['a@h', 'b@h', 'c@h']) sim.apply(n(name), sim.get(name).handleGossip(n('c@h'), staleFromC));
      sim.runUntilQuiet();
      sim.periodicRound();
      assertConverged(sim, ['a@h', 'b@h', 'c@h']);
      for (const name of ['a@h', 'b@h', 'c@h']) {
        const specs = sim.get(name).membersForOrchestration();
        assert.equal(specs.length, 3, 'one spec per node');
        assert.deepEqual(sim.get(name).spec(n('b@h')), spec('b@h', 9001, '10.0.0.2'));
      }
      const updates = sim.actionsOf('a@h', 'membersChanged').filter((x) => x.type === 'membersChanged' && x.updated.length > 0);
      assert.deepEqual(updates.length, 1);
      assert.ok(sim.actionsOf('a@h', 'connect').some((x) => x.type === 'connect' && x.spec.listenAddrs[0]!.port === 9001), 'redial the new address');
    });

    it('a restarted node that has not joined anyone is taken back by its old cluster gossip', () => {
      const sim = cluster(['a@h', 'b@h', 'c@h']);
      const b2 = new FullMeshMembership({ self: spec('b@h'), incarnation: 2 });
      sim.nodes.set(b2.self, b2);
      sim.periodicRound();
      assertConverged(sim, ['a@h', 'b@h', 'c@h']);
      assert.equal(b2.spec(n('b@h')) !== undefined && b2.incarnation, 2);
    });

    it('a restarted node whose incarnation went backwards re-asserts itself with a newer one', () => {
      const sim = cluster(['a@h', 'b@h']);
      const b2 = new FullMeshMembership({ self: spec('b@h', 9002), incarnation: 0 }); // clock went back
      sim.nodes.set(b2.self, b2);
      sim.act('b@h', (node) => node.join(spec('a@h')));
      sim.runUntilQuiet();
      sim.periodicRound();
      assertConverged(sim, ['a@h', 'b@h']);
      assert.ok(b2.incarnation > 1);
      assert.deepEqual(sim.get('a@h').spec(n('b@h')), spec('b@h', 9002));
    });
  });

  describe('updateMembers', () => {
    it('diffs the list into joins and leaves, never removing self', () => {
      const sim = cluster(['a@h', 'b@h', 'c@h']);
      sim.add('d@h');
      sim.act('a@h', (node) => node.updateMembers([spec('b@h'), spec('d@h')]));
      sim.runUntilQuiet();
      sim.periodicRound();
      assertConverged(sim, ['a@h', 'b@h', 'd@h']);
      assert.deepEqual(sim.get('c@h').members(), ['c@h']);
    });

    it('stops retrying a listed node that never became a member once it is unlisted (#116)', () => {
      const sim = cluster(['a@h', 'b@h']);
      const a = sim.get('a@h');
      sim.act('a@h', (node) => node.updateMembers([spec('b@h'), spec('ghost@h')]));
      sim.runUntilQuiet(); // ghost@h does not exist: its gossip is lost
      assert.deepEqual(a.pending().map((s) => s.name), ['ghost@h']);
      assert.ok(a.periodic().some((x) => x.type === 'gossip' && x.join === true && x.to.includes(n('ghost@h'))), 'retried while listed');
      assert.deepEqual(a.updateMembers([spec('b@h')]), [{ type: 'disconnect', node: 'ghost@h' }]);
      assert.deepEqual(a.pending(), []);
      assert.ok(a.periodic().every((x) => x.type !== 'gossip' || !x.to.includes(n('ghost@h'))));
      assert.deepEqual(a.updateMembers([spec('b@h')]), [], 'an unchanged list does nothing');
    });
  });

  it('passes its state through JSON unchanged', () => {
    const sim = cluster(['a@h', 'b@h', 'c@h']);
    sim.serialize = true;
    sim.add('d@h');
    sim.act('d@h', (node) => node.join(spec('b@h')));
    sim.runUntilQuiet();
    assertConverged(sim, ['a@h', 'b@h', 'c@h', 'd@h']);
  });

  it('rejects malformed gossip with ERR_WIRE_MALFORMED_FRAME', () => {
    const a = new FullMeshMembership({ self: spec('a@h'), incarnation: 1 });
    const imposter = new FullMeshMembership({ self: spec('b@h'), incarnation: 1 }).state();
    imposter.e[0]![1][0]![3] = spec('c@h'); // c's spec under b's name
    for (const bad of [null, { c: [], e: 7 }, imposter]) {
      assert.throws(
        () => a.handleGossip(n('b@h'), bad, true),
        (err: unknown) => isPartisanError(err, 'ERR_WIRE_MALFORMED_FRAME'),
      );
    }
  });

  it('gossip keeps clusters consistent under random joins, leaves and restarts (fast-check)', () => {
    const names = ['a@h', 'b@h', 'c@h', 'd@h', 'e@h', 'f@h'];
    const i = fc.nat({ max: names.length - 1 });
    const op = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('join' as const), who: i, contact: i }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave' as const), who: i, target: i }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), who: i, contact: i }) },
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), count: fc.integer({ min: 1, max: 8 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('periodic' as const), who: i }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer(), (ops, seed) => {
        const sim = new MeshSim(seed);
        const incarnation = new Map(names.map((x) => [x, 1]));
        for (const name of names) sim.add(name);
        for (const o of ops) {
          if (o.kind === 'join') sim.act(names[o.who]!, (node) => node.join(sim.get(names[o.contact]!).membersForOrchestration().find((s) => s.name === names[o.contact])!));
          else if (o.kind === 'leave') sim.act(names[o.who]!, (node) => node.leave(n(names[o.target]!)));
          else if (o.kind === 'periodic') sim.act(names[o.who]!, (node) => node.periodic());
          else if (o.kind === 'deliver') for (let k = 0; k < o.count; k++) sim.step();
          else {
            // Restart with a new address, then rejoin (a restarted node runs its seed joins).
            const name = names[o.who]!;
            const inc = incarnation.get(name)! + 1;
            incarnation.set(name, inc);
            sim.nodes.set(n(name), new FullMeshMembership({ self: spec(name, 9000 + inc), incarnation: inc }));
            if (o.contact !== o.who) sim.act(name, (node) => node.join(spec(names[o.contact]!)));
          }
        }
        sim.runUntilQuiet();
        for (let r = 0; r < 3; r++) sim.periodicRound();
        // Views partition the nodes into clusters: whoever X lists shares X's exact state.
        for (const x of names) {
          const nx = sim.get(x);
          assert.ok(nx.member(n(x)), `${x} is a member of its own view`);
          for (const y of nx.members()) {
            assert.equal(sim.get(y).digest(), nx.digest(), `${x} lists ${y} but their states differ`);
            assert.deepEqual(nx.spec(n(y))!.listenAddrs[0]!.port, 9000 + (incarnation.get(y)! > 1 ? incarnation.get(y)! : 0), `${x} has the current spec of ${y}`);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
