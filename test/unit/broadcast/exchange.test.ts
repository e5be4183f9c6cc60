import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callOf, plumtree, sends, sendsOf, type Action } from './helpers.js';

const ends = (actions: Action[]) => actions.filter((a) => a.type === 'exchangeEnd').map((a) => (a.type === 'exchangeEnd' ? a.reason : ''));

describe('Plumtree anti-entropy exchanges', () => {
  it('runs one exchange at a time (exchangeLimit) and ends it when every request is answered', () => {
    const sm = plumtree('a', ['b', 'c'], { exchangeLimit: 1 });
    const start = callOf(sm.exchangeTick(0), 'exchange');
    assert.deepEqual(sm.exchangeTick(1), [], 'limit reached');
    const peer = start.peer;
    const out = sm.resolve(start.ref, { type: 'exchange', start: ['q1', 'q2'] }, 2);
    assert.deepEqual(sends(out), [
      [peer, { t: 'x_req', xid: start.xid, body: 'q1' }],
      [peer, { t: 'x_req', xid: start.xid, body: 'q2' }],
    ]);
    assert.deepEqual(sm.exchanges(), [{ xid: start.xid, peer, startedAt: 0, outstanding: 2 }]);

    const other = peer === 'b' ? 'c' : 'b';
    assert.deepEqual(sm.receive(other, { t: 'x_rep', xid: start.xid, bodies: [] }, 3), [], 'a reply from another peer is ignored');
    assert.deepEqual(sm.receive(peer, { t: 'x_rep', xid: start.xid, bodies: [] }, 3), []);
    const follow = callOf(sm.receive(peer, { t: 'x_rep', xid: start.xid, bodies: ['r2'] }, 4), 'exchangeMessage');
    assert.deepEqual([follow.role, follow.bodies], ['initiator', ['r2']]);
    assert.equal(sm.exchanges().length, 1, 'still running while the handler works');
    const done = sm.resolve(follow.ref, { type: 'exchangeMessage', bodies: [] }, 5);
    assert.deepEqual(ends(done), ['done']);
    assert.deepEqual(sm.exchanges(), []);
    assert.equal(sm.metrics.exchangesCompleted, 1);
  });

  it('answers a request with exactly one reply carrying the handler bodies', () => {
    const sm = plumtree('a', ['b']);
    const call = callOf(sm.receive('b', { t: 'x_req', xid: 7, body: 'q' }, 0), 'exchangeMessage');
    assert.deepEqual([call.role, call.peer, call.bodies], ['responder', 'b', ['q']]);
    const out = sm.resolve(call.ref, { type: 'exchangeMessage', bodies: ['r1', 'r2'] }, 1);
    assert.deepEqual(sends(out), [['b', { t: 'x_rep', xid: 7, bodies: ['r1', 'r2'] }]]);
  });

  it("ends on 'ignore', error, timeout, cancellation and the peer leaving", () => {
    const sm = plumtree('a', ['b'], { exchangeTimeout: 1000 });
    let start = callOf(sm.exchangeTick(0), 'exchange');
    assert.deepEqual(ends(sm.resolve(start.ref, { type: 'exchange', start: 'ignore' }, 0)), ['ignored']);
    start = callOf(sm.exchangeTick(0), 'exchange');
    assert.deepEqual(ends(sm.resolve(start.ref, { type: 'exchange', start: { error: 'busy' } }, 0)), ['failed']);
    start = callOf(sm.exchangeTick(0), 'exchange');
    sm.resolve(start.ref, { type: 'exchange', start: ['q'] }, 0);
    assert.ok(sm.nextDeadline()! <= 1000);
    assert.deepEqual(ends(sm.tick(1000)), ['timeout']);
    start = callOf(sm.exchangeTick(2000), 'exchange');
    assert.deepEqual(ends(sm.cancelExchanges({ peer: 'b' })), ['cancelled']);
    assert.deepEqual(sm.resolve(start.ref, { type: 'exchange', start: ['q'] }, 2000), [], 'a late start of a cancelled exchange sends nothing');
    callOf(sm.exchangeTick(3000), 'exchange');
    assert.deepEqual(ends(sm.setMembers([])), ['peer_removed']);
    assert.equal(sm.metrics.exchangesAborted, 4);
  });

  it('optimized selection prefers peers off the chosen root tree; normal picks any member', () => {
    const pick = (selection: 'optimized' | 'normal'): Set<string> => {
      const sm = plumtree('a', ['b', 'c', 'd'], { exchangeSelection: selection });
      for (const root of ['a', 'b', 'c', 'd']) sm.receive('d', { t: 'prune', root }, 0);
      const peers = new Set<string>();
      for (let i = 0; i < 30; i++) {
        peers.add(callOf(sm.exchangeTick(i), 'exchange').peer);
        sm.cancelExchanges('all');
      }
      return peers;
    };
    assert.deepEqual(pick('optimized'), new Set(['d']));
    assert.deepEqual(pick('normal'), new Set(['b', 'c', 'd']));
  });

  it('skips disconnected peers for exchanges and i_haves', () => {
    const sm = plumtree('a', ['b', 'c'], {}, (p) => p !== 'c');
    for (let i = 0; i < 10; i++) {
      assert.equal(callOf(sm.exchangeTick(i), 'exchange').peer, 'b');
      sm.cancelExchanges('all');
    }
    sm.receive('c', { t: 'prune', root: 'a' }, 0);
    sm.broadcast('m1', 'x');
    assert.deepEqual(sendsOf(sm.lazyTick(), 'i_have'), []);
    assert.equal(sm.outstandingCount('c'), 1, 'kept for when it reconnects');
  });

  it('the periodic tick starts exchanges every exchangeTickPeriod; 0 disables them', () => {
    const count = (period: number): number => {
      const sm = plumtree('a', ['b'], { exchangeTickPeriod: period, lazyTickPeriod: 1000 });
      let started = 0;
      for (let now = 0; now <= 100_000; now += 500) {
        for (const a of sm.tick(now)) if (a.type === 'exchange') started++;
        sm.cancelExchanges('all');
      }
      return started;
    };
    assert.ok(Math.abs(count(10_000) - 10) <= 1);
    assert.equal(count(0), 0);
  });
});
