/**
 * The HyParView driver on a deterministic fake host (FakeClock, 1 ms links): views form and
 * stay symmetric, failures are detected from connections (down, or a dial that never
 * completes), transient connections close, leave/reserve/options behave as documented.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HyParViewPeerService } from '../../../../src/membership/drivers/hyparview-service.js';
import type { NodeName } from '../../../../src/membership/types.js';
import { isPartisanError } from '../../../../src/util/errors.js';
import { FakeNet } from './fake-net.js';

const fast = { shuffleInterval: 200, randomPromotionInterval: 100, contactTimeoutMs: 500, contactLingerMs: 300, rejoinIntervalMs: 2_000 };

async function cluster(n: number, options: Record<string, unknown> = fast, seed = 1): Promise<FakeNet> {
  const net = new FakeNet(seed);
  for (let i = 0; i < n; i++) net.spawn(`n${i}@h`, options);
  for (let i = 1; i < n; i++) net.service(`n${i}@h`).join(net.node('n0@h').spec);
  await net.run(3_000);
  return net;
}

describe('HyParView peer service (fake host)', () => {
  it('forms symmetric, connected views within the size bounds, and keeps them through shuffles', async () => {
    const net = await cluster(12);
    for (let round = 0; round < 5; round++) {
      await net.run(1_000);
      assert.deepEqual(net.checkViews(), [], `round ${round}`);
      assert.equal(net.components().length, 1, 'one connected overlay');
      for (const node of net.alive()) {
        const { active } = node.service.views();
        assert.ok(active.length >= 3 && active.length <= 6, `${node.name}: ${active.length} active peers`);
        // members() is the active view and self; Plumtree spans the active view.
        assert.deepEqual(node.service.members(), [node.name, ...active].sort());
        assert.deepEqual(node.service.broadcastMembers().sort(), [...active].sort());
        for (const p of active) assert.ok(net.isConnected(node.name, p), `${node.name} connected to active ${p}`);
      }
    }
  });

  it('closes connections outside the active view once idle', async () => {
    const net = await cluster(12);
    await net.run(2_000);
    let closed = 0;
    for (const node of net.alive()) closed += node.service.stats.idleClosed;
    assert.ok(closed > 0, 'shuffle replies and refused requests used short-lived connections');
    // Stop the protocol's chatter: every connection left is an active link.
    const quiet = { ...fast, shuffleInterval: 3_600_000, randomPromotionInterval: 3_600_000, rejoinIntervalMs: 0 };
    const q = await cluster(8, quiet, 3);
    await q.run(2_000);
    for (const a of q.alive()) {
      for (const b of q.alive()) {
        if (a === b) continue;
        assert.equal(q.isConnected(a.name, b.name), a.service.views().active.includes(b.name), `${a.name}–${b.name}`);
      }
    }
  });

  it('tells the host when the active view changes', async () => {
    const net = await cluster(6);
    for (const node of net.alive()) assert.ok(node.membersChanged > 0, node.name);
    const before = net.node('n1@h').membersChanged;
    const peer = net.service('n1@h').views().active[0]!;
    await net.crash(peer);
    await net.run(500);
    assert.ok(net.node('n1@h').membersChanged > before);
  });

  it('replaces a crashed peer in every active view', async () => {
    const net = await cluster(10);
    const victim = 'n4@h' as NodeName;
    const holders = net.alive().filter((n) => n.service.views().active.includes(victim));
    assert.ok(holders.length > 0);
    await net.crash(victim);
    await net.run(3_000);
    assert.deepEqual(net.checkViews(), []);
    assert.equal(net.components().length, 1);
    for (const node of net.alive()) {
      assert.ok(!node.service.views().active.includes(victim), `${node.name} dropped ${victim}`);
      assert.ok(node.service.views().active.length >= 3, `${node.name} topped up its active view`);
    }
  });

  it('reports a peer that never connects as failed, and forgets it', async () => {
    const net = await cluster(6);
    await net.crash('n5@h');
    // n5 is still a passive candidate somewhere: promotion asks it, the dial never completes.
    const a = net.service('n1@h');
    const failures = a.stats.contactFailures;
    a.join(net.node('n5@h').spec); // a join to a dead contact
    const joinedAt = net.clock.now();
    while (a.stats.contactFailures === failures) await net.run(1);
    assert.ok(net.clock.now() - joinedAt >= 500, 'not before contactTimeoutMs');
    // At that moment it is forgotten (shuffles from nodes that never tried it may bring it back later).
    assert.ok(!a.views().passive.includes('n5@h' as NodeName) && !a.views().active.includes('n5@h' as NodeName));
    assert.ok(!net.node('n1@h').wanted.has('n5@h' as NodeName), 'no longer dialed');
  });

  it('takes a restarted node back under its new incarnation and address', async () => {
    const net = await cluster(8);
    await net.crash('n3@h');
    await net.run(1_000);
    const again = net.spawn('n3@h', fast);
    again.join(net.node('n0@h').spec);
    await net.run(3_000);
    assert.deepEqual(net.checkViews(), []);
    assert.equal(net.components().length, 1);
    assert.ok(again.views().active.length >= 3);
    const port = net.node('n3@h').spec.listenAddrs[0]!.port;
    for (const node of net.alive()) {
      for (const spec of node.service.membersForOrchestration()) {
        if (spec.name === 'n3@h' && node.name !== 'n3@h') assert.equal(spec.listenAddrs[0]!.port, port, `${node.name} knows the new address`);
      }
    }
  });

  it('re-joins a seed when isolated', async () => {
    const net = await cluster(4, { ...fast, rejoinIntervalMs: 0 });
    const lone = net.service('n3@h');
    // Everyone n3 knows dies but the seed, which comes back later as a new incarnation.
    for (const name of ['n0@h', 'n1@h', 'n2@h']) await net.crash(name);
    await net.run(2_000);
    assert.deepEqual(lone.views().active, []);
    // Isolated, it keeps trying its seed (a join that fails to connect, every promotion tick).
    const failures = lone.stats.contactFailures;
    await net.run(2_000);
    assert.ok(lone.stats.contactFailures > failures);
    const seed = net.spawn('n0@h', fast);
    const rejoinsBefore = lone.stats.rejoins;
    await net.run(100);
    // n3 re-joins the seed spec it was given (same address in this fake: port = incarnation, so
    // give it the new one, as DNS discovery would).
    lone.updateMembers([net.node('n0@h').spec]);
    await net.run(1_000);
    assert.ok(lone.stats.rejoins > rejoinsBefore);
    assert.deepEqual(lone.views().active, ['n0@h']);
    assert.deepEqual(seed.views().active, ['n3@h']);
  });

  it('ignores a report about a dead incarnation', async () => {
    const net = await cluster(3);
    const a = net.service('n1@h');
    const peer = a.views().active[0]!;
    const incarnation = net.node(peer).incarnation;
    a.connectionDown(peer, incarnation - 1_000);
    assert.ok(a.views().active.includes(peer), 'an older incarnation going down does not cut the link');
  });

  it('drops messages whose sender is not the authenticated peer, and malformed ones', async () => {
    const net = await cluster(3);
    const a = net.service('n1@h');
    const before = a.stats.messagesDropped;
    const forged = { type: 'disconnect', from: net.node('n2@h').spec, epoch: net.node('n2@h').incarnation, clock: 1e9 };
    a.handle('n0@h' as NodeName, forged);
    a.handle('n0@h' as NodeName, { type: 'nonsense' });
    assert.equal(a.stats.messagesDropped, before + 2);
  });

  it('leave() closes every link; peers replace it; a later join brings it back', async () => {
    const net = await cluster(8);
    const leaver = net.service('n5@h');
    const peers = leaver.views().active;
    await leaver.leave();
    assert.deepEqual(leaver.members(), ['n5@h']);
    assert.deepEqual(leaver.broadcastMembers(), []);
    await net.run(3_000);
    for (const node of net.alive()) {
      if (node.name === 'n5@h') continue;
      assert.ok(!node.service.views().active.includes('n5@h' as NodeName), `${node.name} dropped the leaver`);
    }
    for (const p of peers) assert.ok(!net.isConnected('n5@h', p));
    assert.deepEqual(leaver.views().active, [], 'a left node takes no links');
    leaver.join(net.node('n0@h').spec);
    await net.run(3_000);
    assert.ok(leaver.views().active.length >= 3);
    assert.deepEqual(net.checkViews(), []);
  });

  it('leave(other) and reserve() are not implemented, with coded errors', async () => {
    const net = await cluster(2);
    const a = net.service('n0@h');
    await assert.rejects(a.leave('n1@h' as NodeName), (err: unknown) => isPartisanError(err, 'ERR_NOT_IMPLEMENTED'));
    assert.throws(() => a.reserve('gateway'), (err: unknown) => isPartisanError(err, 'ERR_NOT_IMPLEMENTED'));
  });

  it('validates options, naming the field', () => {
    const net = new FakeNet();
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ activeMax: 3 }, 'hyparview.activeMax'],
      [{ contactTimeoutMs: 0 }, 'membership.contactTimeoutMs'],
      [{ activeMaxSize: 2, activeMinSize: 3 }, 'hyparview.activeMinSize'],
      [{ gossipIntervalMs: 100 }, 'hyparview.gossipIntervalMs'],
    ];
    for (const [options, field] of bad) {
      assert.throws(
        () => net.spawn(`x${field}@h`, options),
        (err: unknown) => isPartisanError(err, 'ERR_INVALID_OPTION') && err.details.field === field,
        field,
      );
    }
    assert.ok(net.spawn('ok@h', { activeMaxSize: 4, contactLingerMs: 0 }) instanceof HyParViewPeerService);
  });
});
