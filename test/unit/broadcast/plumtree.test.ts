import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Plumtree } from '../../../src/broadcast/plumtree.js';
import { seededRandom } from '../../../src/util/random.js';
import { callOf, payloadMsg, plumtree, sends, sendsOf } from './helpers.js';

describe('Plumtree membership', () => {
  it('broadcastMembers never includes the local node (Partisan PR #216)', () => {
    const sm = plumtree('a', ['a', 'b', 'c']);
    assert.deepEqual(sm.broadcastMembers(), ['b', 'c']);
    sm.setMembers(['c', 'a', 'b', 'd']);
    assert.deepEqual(sm.broadcastMembers(), ['b', 'c', 'd']);
    assert.deepEqual(sm.peers('a').eager, ['b', 'c', 'd']);
  });

  it('a member that left is dropped from members, every tree and the outstanding map (PR #216)', () => {
    const sm = plumtree('a', ['b', 'c', 'd']);
    sm.receive('c', { t: 'prune', root: 'a' }, 0);
    sm.broadcast('m1', 'x');
    assert.equal(sm.outstandingCount('c'), 1);
    sm.setMembers(['b', 'd']);
    assert.deepEqual(sm.broadcastMembers(), ['b', 'd']);
    assert.deepEqual(sm.peers('a'), { eager: ['b', 'd'], lazy: [] });
    assert.equal(sm.outstandingCount('c'), 0);
  });

  it('a departed node does not come back through a tree update', () => {
    const sm = plumtree('a', ['b', 'c']);
    sm.setMembers(['b']);
    const merge = callOf(sm.receive('c', payloadMsg('m1', 'c'), 0), 'merge');
    sm.resolve(merge.ref, { type: 'merge', isNew: true }, 0);
    sm.receive('c', { t: 'prune', root: 'b' }, 0);
    assert.deepEqual(sm.peers('c'), { eager: ['b'], lazy: [] });
    assert.deepEqual(sm.broadcastMembers(), ['b']);
  });

  it('a new member joins the eager set of every existing tree', () => {
    const sm = plumtree('a', ['b', 'c']);
    sm.receive('c', { t: 'prune', root: 'b' }, 0);
    sm.setMembers(['b', 'c', 'd']);
    assert.deepEqual(sm.peers('b'), { eager: ['b', 'd'], lazy: ['c'] });
    assert.deepEqual(sm.peers('z'), { eager: ['b', 'c', 'd'], lazy: [] });
  });

  it('initialEagerPeers bounds the eager set a tree starts with', () => {
    const sm = plumtree('a', ['b', 'c', 'd', 'e'], { initialEagerPeers: 2 });
    assert.deepEqual(sm.peers('a'), { eager: ['b', 'c'], lazy: ['d', 'e'] });
  });
});

describe('Plumtree eager push and prune', () => {
  it('a new payload is delivered and pushed to the other eager peers with round + 1', () => {
    const sm = plumtree('a', ['b', 'c', 'd']);
    const merge = callOf(sm.receive('b', payloadMsg('m1', 'b', 3), 0), 'merge');
    assert.equal(merge.hops, 4);
    const out = sm.resolve(merge.ref, { type: 'merge', isNew: true }, 0);
    assert.deepEqual(
      sendsOf(out, 'broadcast').map(([to, m]) => [to, m.round, m.root]),
      [
        ['c', 4, 'b'],
        ['d', 4, 'b'],
      ],
    );
    assert.equal(sm.metrics.delivered, 1);
    assert.equal(sm.metrics.lastDeliveryHops, 4);
  });

  it('a stale payload prunes its sender, for that root only', () => {
    const sm = plumtree('a', ['b', 'c']);
    const merge = callOf(sm.receive('b', payloadMsg('m1', 'c'), 0), 'merge');
    const out = sm.resolve(merge.ref, { type: 'merge', isNew: false }, 0);
    assert.deepEqual(sends(out), [['b', { t: 'prune', root: 'c' }]]);
    assert.deepEqual(sm.peers('c'), { eager: ['c'], lazy: ['b'] });
    assert.deepEqual(sm.peers('a').eager, ['b', 'c']);
  });

  it('a second copy while the first merge is still running is a duplicate (async handlers)', () => {
    const sm = plumtree('a', ['b', 'c', 'd']);
    const merge = callOf(sm.receive('b', payloadMsg('m1', 'b'), 0), 'merge');
    const second = sm.receive('c', payloadMsg('m1', 'b', 1), 1);
    assert.deepEqual(sends(second), [['c', { t: 'prune', root: 'b' }]]);
    assert.equal(second.filter((a) => a.type === 'merge').length, 0);
    const out = sm.resolve(merge.ref, { type: 'merge', isNew: true }, 2);
    assert.deepEqual(sendsOf(out, 'broadcast').map(([to]) => to), ['d']);
    assert.equal(sm.metrics.duplicates, 1);
  });

  it('a prune moves the peer to lazy: later broadcasts announce to it on the lazy tick', () => {
    const sm = plumtree('a', ['b', 'c', 'd'], { lazyTickPeriod: 1000 });
    sm.receive('c', { t: 'prune', root: 'a' }, 0);
    const out = sm.broadcast('m1', 'x');
    assert.deepEqual(sendsOf(out, 'broadcast').map(([to]) => to), ['b', 'd']);
    const tick = sm.tick(sm.nextDeadline()!);
    assert.deepEqual(sends(tick), [['c', { t: 'i_have', items: [['m1', 0, 'a']] }]]);
  });
});

describe('Plumtree lazy push', () => {
  it('i_haves are batched per peer, bounded by maxIHaveBatch, and repeated until acknowledged', () => {
    const sm = plumtree('a', ['b', 'c'], { maxIHaveBatch: 2 });
    sm.receive('c', { t: 'prune', root: 'a' }, 0);
    for (const id of ['m1', 'm2', 'm3']) sm.broadcast(id, 'x');
    const first = sendsOf(sm.lazyTick(), 'i_have');
    assert.deepEqual(first.map(([to, m]) => [to, m.items.length]), [
      ['c', 2],
      ['c', 1],
    ]);
    sm.receive('c', { t: 'ignored_i_have', ids: ['m1', 'm3'] }, 0);
    assert.deepEqual(sendsOf(sm.lazyTick(), 'i_have'), [['c', { t: 'i_have', items: [['m2', 0, 'a']] }]]);
    sm.receive('c', { t: 'ignored_i_have', ids: ['m2'] }, 0);
    assert.deepEqual(sm.lazyTick(), []);
  });

  it('an i_have for a known id is acknowledged with ignored_i_have', () => {
    const sm = plumtree('a', ['b', 'c']);
    const check = callOf(sm.receive('b', { t: 'i_have', items: [['m1', 1, 'c'], ['m2', 1, 'c']] }, 0), 'isStale');
    assert.deepEqual(check.ids, ['m1', 'm2']);
    const out = sm.resolve(check.ref, { type: 'isStale', stale: [true, true] }, 0);
    assert.deepEqual(sends(out), [['b', { t: 'ignored_i_have', ids: ['m1', 'm2'] }]]);
    assert.equal(sm.missingCount(), 0);
  });

  it('an i_have for an id being merged is acknowledged at once, without asking the handler', () => {
    const sm = plumtree('a', ['b', 'c']);
    sm.receive('b', payloadMsg('m1', 'b'), 0);
    const out = sm.receive('c', { t: 'i_have', items: [['m1', 1, 'b']] }, 0);
    assert.deepEqual(out, [{ type: 'send', to: 'c', msg: { t: 'ignored_i_have', ids: ['m1'] } }]);
  });

  it('the outstanding map is bounded per peer, oldest dropped', () => {
    const sm = plumtree('a', ['b', 'c'], { maxOutstandingPerPeer: 5 });
    sm.receive('c', { t: 'prune', root: 'a' }, 0);
    for (let i = 0; i < 20; i++) sm.broadcast(`m${i}`, 'x');
    assert.equal(sm.outstandingCount('c'), 5);
    assert.equal(sm.metrics.outstandingDropped, 15);
    const items = sendsOf(sm.lazyTick(), 'i_have').flatMap(([, m]) => m.items.map(([id]) => id));
    assert.deepEqual(items, ['m15', 'm16', 'm17', 'm18', 'm19']);
  });

  it('announced-but-missing ids are bounded by maxMissing', () => {
    const sm = plumtree('a', ['b'], { maxMissing: 3 });
    const items = Array.from({ length: 10 }, (_, i) => [`m${i}`, 1, 'b'] as const);
    const check = callOf(sm.receive('b', { t: 'i_have', items }, 0), 'isStale');
    assert.equal(check.ids.length, 3);
    assert.equal(sm.metrics.missingDropped, 7);
    assert.equal(sm.missingCount(), 3);
  });
});

describe('Plumtree graft timer (the paper, not Partisan)', () => {
  const opts = { graftTimeout: 200, graftRetryTimeout: 100 };

  function missingAfterIHave(): ReturnType<typeof plumtree> {
    const sm = plumtree('a', ['b', 'c', 'd'], opts);
    const check = callOf(sm.receive('b', { t: 'i_have', items: [['m1', 2, 'r']] }, 1000), 'isStale');
    assert.deepEqual(sm.resolve(check.ref, { type: 'isStale', stale: [false] }, 1000), []);
    return sm;
  }

  it('grafts the first announcer only when the timer expires, then the next after the shorter timer', () => {
    const sm = missingAfterIHave();
    sm.receive('b', { t: 'prune', root: 'r' }, 1050);
    sm.receive('c', { t: 'prune', root: 'r' }, 1050);
    assert.deepEqual(sm.receive('c', { t: 'i_have', items: [['m1', 3, 'r']] }, 1050), []);
    assert.deepEqual(sendsOf(sm.tick(1199), 'graft'), []);
    assert.deepEqual(sendsOf(sm.tick(1200), 'graft'), [['b', { t: 'graft', id: 'm1', round: 2, root: 'r' }]]);
    assert.deepEqual(sm.peers('r'), { eager: ['b', 'd'], lazy: ['c'] }, 'the grafted announcer becomes eager for that root');
    assert.deepEqual(sendsOf(sm.tick(1299), 'graft'), []);
    assert.deepEqual(sendsOf(sm.tick(1300), 'graft'), [['c', { t: 'graft', id: 'm1', round: 3, root: 'r' }]]);
    assert.deepEqual(sm.peers('r'), { eager: ['b', 'c', 'd'], lazy: [] });
    assert.equal(sm.metrics.graftsSent, 2);
    sm.tick(1400);
    assert.equal(sm.missingCount(), 0, 'nobody left to ask: the entry goes until announced again');
  });

  it('the payload arriving before the timer cancels the graft', () => {
    const sm = missingAfterIHave();
    sm.receive('d', payloadMsg('m1', 'r', 1), 1100);
    assert.deepEqual(sendsOf(sm.tick(1500), 'graft'), []);
    assert.equal(sm.missingCount(), 0);
  });

  it('a payload arriving while isStale is pending prevents the timer', () => {
    const sm = plumtree('a', ['b', 'c'], opts);
    const check = callOf(sm.receive('b', { t: 'i_have', items: [['m1', 2, 'r']] }, 0), 'isStale');
    const merge = callOf(sm.receive('c', payloadMsg('m1', 'r', 1), 10), 'merge');
    sm.resolve(merge.ref, { type: 'merge', isNew: true }, 20);
    const out = sm.resolve(check.ref, { type: 'isStale', stale: [false] }, 30);
    assert.deepEqual(sends(out), [['b', { t: 'ignored_i_have', ids: ['m1'] }]]);
    assert.deepEqual(sendsOf(sm.tick(1000), 'graft'), []);
  });

  it('announcers removed from membership are not grafted', () => {
    const sm = missingAfterIHave();
    sm.setMembers(['c', 'd']);
    assert.deepEqual(sendsOf(sm.tick(1200), 'graft'), []);
  });
});

describe('Plumtree graft answers', () => {
  it('ok: the payload goes to the requester, which becomes eager; the i_have stays until ignored', () => {
    const sm = plumtree('a', ['b', 'c']);
    sm.receive('c', { t: 'prune', root: 'a' }, 0);
    sm.broadcast('m1', 'x');
    const graft = callOf(sm.receive('c', { t: 'graft', id: 'm1', round: 0, root: 'a' }, 5), 'graft');
    const out = sm.resolve(graft.ref, { type: 'graft', result: { ok: 'x' } }, 5);
    assert.deepEqual(sends(out), [['c', { t: 'broadcast', id: 'm1', payload: 'x', round: 0, root: 'a' }]]);
    assert.ok(sm.peers('a').eager.includes('c'));
    assert.equal(sm.outstandingCount('c'), 1);
  });

  it('stale: acknowledges the outstanding entry and sends nothing', () => {
    const sm = plumtree('a', ['b', 'c']);
    sm.receive('c', { t: 'prune', root: 'a' }, 0);
    sm.broadcast('m1', 'x');
    const graft = callOf(sm.receive('c', { t: 'graft', id: 'm1', round: 0, root: 'a' }, 5), 'graft');
    assert.deepEqual(sm.resolve(graft.ref, { type: 'graft', result: 'stale' }, 5), []);
    assert.equal(sm.outstandingCount('c'), 0);
    assert.equal(sm.metrics.graftsUnserved, 1);
  });
});

describe('Plumtree handler calls', () => {
  it('are bounded by maxPendingCalls and forgotten after callTimeout', () => {
    const sm = plumtree('a', ['b'], { maxPendingCalls: 2, callTimeout: 500 });
    sm.receive('b', payloadMsg('m1', 'b'), 0);
    sm.receive('b', payloadMsg('m2', 'b'), 0);
    assert.deepEqual(sm.receive('b', payloadMsg('m3', 'b'), 0), []);
    assert.equal(sm.metrics.overloadDropped, 1);
    assert.ok(sm.nextDeadline()! <= 500);
    sm.tick(500);
    assert.equal(sm.pendingCalls(), 0);
    assert.equal(sm.metrics.handlerFailures, 2);
    assert.equal(callOf(sm.receive('b', payloadMsg('m1', 'b'), 600), 'merge').id, 'm1', 'a forgotten merge may be retried');
  });

  it('a failed call is dropped without side effects; late or unknown outcomes are ignored', () => {
    const sm = plumtree('a', ['b', 'c']);
    const merge = callOf(sm.receive('b', payloadMsg('m1', 'b'), 0), 'merge');
    assert.deepEqual(sm.resolve(merge.ref, { type: 'failed', error: new Error('disk') }, 0), []);
    assert.deepEqual(sm.resolve(merge.ref, { type: 'merge', isNew: true }, 0), []);
    assert.deepEqual(sm.resolve(9999, { type: 'merge', isNew: true }, 0), []);
    assert.equal(sm.metrics.handlerFailures, 1);
  });

  it('messages from self and unknown messages are ignored', () => {
    const sm = plumtree('a', ['b']);
    assert.deepEqual(sm.receive('a', payloadMsg('m1', 'a'), 0), []);
    assert.deepEqual(sm.receive('b', { t: 'nope' } as never, 0), []);
    assert.equal(sm.metrics.ignoredMessages, 2);
  });

  it('ids that the handler idKey rejects are ignored, not thrown', () => {
    const idKey = (id: string): string => {
      if (typeof id !== 'string') throw new TypeError('bad id');
      return id;
    };
    const sm = new Plumtree<string, string>({ self: 'a', idKey, random: seededRandom(1), now: 0, members: ['b'] });
    const bad = 42 as unknown as string;
    assert.deepEqual(sm.receive('b', payloadMsg(bad, 'b'), 0), []);
    assert.deepEqual(sm.receive('b', { t: 'i_have', items: [[bad, 1, 'b']] }, 0), []);
    assert.deepEqual(sm.receive('b', { t: 'graft', id: bad, round: 0, root: 'a' }, 0), []);
    assert.deepEqual(sm.receive('b', { t: 'ignored_i_have', ids: [bad] }, 0), []);
    assert.equal(sm.metrics.ignoredMessages, 4);
  });
});
