import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HyParView } from '../../../src/membership/hyparview.js';
import { type HyParViewAction, type HyParViewMessage, parseHyParViewMessage } from '../../../src/membership/hyparview-messages.js';
import { type HyParViewOptions, resolveHyParViewOptions } from '../../../src/membership/hyparview-options.js';
import type { NodeName, NodeSpec } from '../../../src/membership/types.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { seededRandom } from '../../../src/util/random.js';

const spec = (name: string, port = 1): NodeSpec => ({ name: name as NodeName, listenAddrs: [{ host: 'h', port }] });
const n = (s: string) => s as NodeName;

function node(name: string, options?: HyParViewOptions, epoch = 1, seed = 7): HyParView {
  return new HyParView({ self: spec(name), epoch, random: seededRandom(seed), options });
}

type Send = Extract<HyParViewAction, { type: 'send' }>;
const sends = (actions: readonly HyParViewAction[], type?: HyParViewMessage['type']): Send[] =>
  actions.filter((a): a is Send => a.type === 'send' && (type === undefined || a.message.type === type));

/** A message as `from` would send it (clock large enough to be news). */
function msg(from: string, body: Record<string, unknown>, clock = 100, epoch = 1): HyParViewMessage {
  return { from: spec(from), epoch, clock, ...body } as HyParViewMessage;
}

/** Makes `peer` an active peer of `x` through a neighbor message. */
function link(x: HyParView, peer: string, clock = 100): HyParViewAction[] {
  return x.receive(msg(peer, { type: 'neighbor' }, clock));
}

describe('HyParView', () => {
  describe('options', () => {
    it('has the Partisan defaults', () => {
      assert.deepEqual(resolveHyParViewOptions(), {
        activeMaxSize: 6,
        activeMinSize: 3,
        passiveMaxSize: 30,
        arwl: 6,
        prwl: 3,
        shuffleInterval: 10_000,
        shuffleKActive: 3,
        shuffleKPassive: 4,
        randomPromotionInterval: 5_000,
      });
    });

    it('rejects bad values naming the field', () => {
      const cases: [HyParViewOptions, string][] = [
        [{ activeMaxSize: 2, activeMinSize: 3 }, 'hyparview.activeMinSize'],
        [{ arwl: 2, prwl: 3 }, 'hyparview.prwl'],
        [{ activeMaxSize: 0 }, 'hyparview.activeMaxSize'],
        [{ shuffleInterval: 1.5 }, 'hyparview.shuffleInterval'],
        [{ activeMax: 3 } as HyParViewOptions, 'hyparview.activeMax'],
      ];
      for (const [options, field] of cases) {
        assert.throws(
          () => resolveHyParViewOptions(options),
          (err: unknown) => isPartisanError(err, 'ERR_INVALID_OPTION') && err.details.field === field,
          field,
        );
      }
    });
  });

  describe('join', () => {
    it('the contact links the joiner and announces it on a walk from every other active peer', () => {
      const c = node('c@h');
      link(c, 'p@h');
      link(c, 'q@h');
      const out = c.receive(msg('j@h', { type: 'join' }));
      assert.ok(c.isActive(n('j@h')));
      assert.deepEqual(
        sends(out, 'neighbor').map((s) => s.to.name),
        ['j@h'],
      );
      const walks = sends(out, 'forwardJoin');
      assert.deepEqual(walks.map((s) => s.to.name).sort(), ['p@h', 'q@h']);
      for (const w of walks) assert.deepEqual({ ttl: (w.message as { ttl: number }).ttl, joiner: (w.message as { joiner: NodeSpec }).joiner.name }, { ttl: 6, joiner: 'j@h' });
      assert.deepEqual(
        out.filter((a) => a.type === 'connect' || a.type === 'activeAdded').map((a) => a.type),
        ['connect', 'activeAdded'],
      );
    });

    it('the joiner becomes active on the contact\'s neighbor message', () => {
      const j = node('j@h');
      const [join] = sends(j.join(spec('c@h')));
      assert.equal(join!.message.type, 'join');
      assert.ok(j.isPassive(n('c@h')), 'the contact is kept for promotion retries');
      const c = node('c@h');
      const [neighbor] = sends(c.receive(join!.message), 'neighbor');
      const out = j.receive(neighbor!.message);
      assert.ok(j.isActive(n('c@h')) && !j.isPassive(n('c@h')));
      assert.deepEqual(out.find((a) => a.type === 'activeAdded'), { type: 'activeAdded', spec: spec('c@h') });
    });

    it('a full contact drops a random peer: disconnect message first, then the connection', () => {
      const c = node('c@h', { activeMaxSize: 2, activeMinSize: 1 });
      link(c, 'p@h');
      link(c, 'q@h');
      const out = c.receive(msg('j@h', { type: 'join' }));
      assert.equal(c.members().length, 2);
      const dropped = sends(out, 'disconnect')[0]!.to.name;
      assert.ok(c.isPassive(dropped));
      const kinds = out.map((a) => (a.type === 'send' ? `send:${a.message.type}:${a.to.name}` : `${a.type}`));
      assert.ok(kinds.indexOf(`send:disconnect:${dropped}`) < kinds.indexOf('disconnect'), kinds.join(' '));
      assert.deepEqual(out.find((a) => a.type === 'activeRemoved'), { type: 'activeRemoved', node: dropped, reason: 'dropped' });
    });

    it('ignores joining itself', () => {
      const a = node('a@h');
      assert.deepEqual(a.join(spec('a@h')), []);
      assert.deepEqual(a.receive(msg('a@h', { type: 'join' })), []);
    });
  });

  describe('forwardJoin', () => {
    const walk = (ttl: number, from = 'p@h', joiner = 'j@h') => msg(from, { type: 'forwardJoin', joiner: spec(joiner), joinerEpoch: 1, ttl });

    it('links the joiner at TTL 0', () => {
      const x = node('x@h');
      link(x, 'p@h');
      link(x, 'q@h');
      const out = x.receive(walk(0));
      assert.ok(x.isActive(n('j@h')));
      assert.deepEqual(sends(out).map((s) => `${s.message.type}:${s.to.name}`), ['neighbor:j@h']);
    });

    it('keeps the joiner as passive at TTL = PRWL and forwards with TTL - 1, never back to the sender', () => {
      const x = node('x@h');
      link(x, 'p@h');
      link(x, 'q@h');
      const out = x.receive(walk(3));
      assert.ok(x.isPassive(n('j@h')) && !x.isActive(n('j@h')));
      const [fwd] = sends(out, 'forwardJoin');
      assert.equal(fwd!.to.name, 'q@h');
      assert.equal((fwd!.message as { ttl: number }).ttl, 2);
    });

    it('links the joiner when the walk cannot go on (only the sender is active)', () => {
      const x = node('x@h');
      link(x, 'p@h');
      x.receive(walk(5));
      assert.ok(x.isActive(n('j@h')));
    });

    it('never adds itself', () => {
      const x = node('x@h');
      link(x, 'p@h');
      assert.deepEqual(x.receive(walk(0, 'p@h', 'x@h')), []);
      assert.ok(!x.isActive(n('x@h')) && !x.isPassive(n('x@h')));
    });
  });

  describe('neighbor requests', () => {
    const request = (priority: 'high' | 'low', from = 'r@h') => msg(from, { type: 'neighborRequest', priority, exchange: [spec('z@h')] });

    it('accepts a low-priority request when there is room, and learns the exchange', () => {
      const x = node('x@h');
      const out = x.receive(request('low'));
      assert.ok(x.isActive(n('r@h')));
      assert.equal(sends(out, 'neighborAccepted').length, 1);
      assert.ok(x.isPassive(n('z@h')));
    });

    it('rejects a low-priority request when full, sending a sample of its views', () => {
      const x = node('x@h', { activeMaxSize: 1, activeMinSize: 1 });
      link(x, 'p@h');
      x.join(spec('s@h'));
      const [reject] = sends(x.receive(request('low')), 'neighborRejected');
      assert.ok(reject && !x.isActive(n('r@h')));
      assert.deepEqual((reject.message as unknown as { exchange: NodeSpec[] }).exchange.map((s) => s.name).sort(), ['p@h', 's@h']);
    });

    it('always accepts a high-priority request, dropping a peer if full', () => {
      const x = node('x@h', { activeMaxSize: 1, activeMinSize: 1 });
      link(x, 'p@h');
      const out = x.receive(request('high'));
      assert.deepEqual(x.members(), ['r@h']);
      assert.equal(sends(out, 'disconnect')[0]!.to.name, 'p@h');
    });

    it('asks with high priority only when the active view is empty, one high request at a time (paper §4.3)', () => {
      const lonely = node('l@h');
      for (const c of ['c1@h', 'c2@h', 'c3@h']) lonely.join(spec(c));
      const priorities = sends(lonely.onPromotionTick(), 'neighborRequest').map((s) => (s.message as { priority: string }).priority);
      assert.deepEqual(priorities, ['high', 'low', 'low']);

      const some = node('s@h');
      link(some, 'p@h');
      for (const c of ['c1@h', 'c2@h', 'c3@h']) some.join(spec(c));
      const more = sends(some.onPromotionTick(), 'neighborRequest').map((s) => (s.message as { priority: string }).priority);
      assert.deepEqual(more, ['low', 'low'], 'tops up to activeMinSize with low priority');
    });

    it('after a refusal, asks another passive peer, not the one that refused', () => {
      const x = node('x@h');
      link(x, 'p@h');
      x.join(spec('c1@h'));
      const [first] = sends(x.onPromotionTick(), 'neighborRequest');
      const asked = first!.to.name;
      const out = x.receive(msg(asked, { type: 'neighborRejected', exchange: [spec('fresh@h')] }));
      assert.deepEqual(sends(out, 'neighborRequest').map((s) => s.to.name), ['fresh@h'], 'the refusal taught it a new candidate');
    });

    it('does nothing on a promotion tick at or above activeMinSize', () => {
      const x = node('x@h');
      for (const p of ['p@h', 'q@h', 'r@h']) link(x, p);
      x.join(spec('c@h'));
      assert.deepEqual(sends(x.onPromotionTick()), []);
    });
  });

  describe('link stamps and epochs', () => {
    /** a and b, b having asked a to join; returns a's first neighbor message to b. */
    function pair(options?: HyParViewOptions) {
      const a = node('a@h', options);
      const b = node('b@h', options);
      const [join] = sends(b.join(spec('a@h')));
      const [m1] = sends(a.receive(join!.message), 'neighbor');
      return { a, b, m1: m1!.message };
    }

    it('ignores a disconnect older than a later link-up from the same peer (Partisan disconnect ids)', () => {
      const { a, b, m1 } = pair({ activeMaxSize: 1, activeMinSize: 1 });
      // a drops b for c (m2), then takes b back on b's high-priority request (m3).
      const [m2] = sends(a.receive(msg('c@h', { type: 'join' }, 1)), 'disconnect');
      const [request] = sends(b.onPromotionTick(), 'neighborRequest');
      assert.equal((request!.message as { priority: string }).priority, 'high');
      const [m3] = sends(a.receive(request!.message), 'neighborAccepted');
      // Delivered to b newest first.
      b.receive(m3!.message);
      b.receive(m1);
      b.receive(m2!.message);
      assert.ok(a.isActive(n('b@h')) && b.isActive(n('a@h')), 'still linked on both sides');
    });

    it('refuses a link-up older than a known disconnect, so the sender does not stay linked alone', () => {
      const { a, b, m1 } = pair({ activeMaxSize: 1, activeMinSize: 1 });
      const [m2] = sends(a.receive(msg('c@h', { type: 'join' }, 1)), 'disconnect');
      b.receive(m2!.message);
      const [refusal] = sends(b.receive(m1), 'disconnect');
      assert.ok(refusal && !b.isActive(n('a@h')));
      a.receive(refusal.message);
      assert.ok(!a.isActive(n('b@h')));
    });

    it('drops messages from an earlier incarnation and closes the link of a restarted peer', () => {
      const a = node('a@h');
      const oldB = msg('b@h', { type: 'neighbor' }, 100, 1);
      a.receive(oldB);
      assert.ok(a.isActive(n('b@h')));
      const out = a.receive(msg('b@h', { type: 'join' }, 1, 2));
      assert.deepEqual(out.find((x) => x.type === 'activeRemoved'), { type: 'activeRemoved', node: 'b@h', reason: 'restarted' });
      assert.ok(a.isActive(n('b@h')), 'the new incarnation joined');
      assert.deepEqual(a.receive(msg('b@h', { type: 'disconnect' }, 500, 1)), [], 'the dead incarnation is ignored');
      assert.ok(a.isActive(n('b@h')));
    });

    it('a restarted node refuses a link offered to its predecessor, unless it linked the sender itself', () => {
      const b2 = node('b@h', undefined, 2);
      const out = b2.receive(msg('a@h', { type: 'neighbor', toEpoch: 1 }));
      assert.ok(!b2.isActive(n('a@h')));
      const [refusal] = sends(out, 'disconnect');
      assert.equal((refusal!.message as { toEpoch?: number }).toEpoch, 1, 'addressed to the sender as we know it');
      const linked = node('b@h', undefined, 2);
      linked.receive(msg('a@h', { type: 'neighborRequest', priority: 'low', exchange: [] }, 50));
      assert.deepEqual(sends(linked.receive(msg('a@h', { type: 'neighbor', toEpoch: 1 }, 60)), 'disconnect'), []);
      assert.ok(linked.isActive(n('a@h')));
    });

    it('ignores failure reports about an earlier incarnation of a peer', () => {
      const a = node('a@h');
      a.receive(msg('b@h', { type: 'neighbor' }, 100, 2));
      assert.deepEqual(a.connectionClosed(n('b@h'), 1), []);
      assert.deepEqual(a.connectionFailed(n('b@h'), 1), []);
      assert.ok(a.isActive(n('b@h')));
      assert.ok(a.connectionClosed(n('b@h'), 2).some((x) => x.type === 'activeRemoved'));
    });

    it('keeps the newest spec of a peer that came back with a new address', () => {
      const a = node('a@h');
      link(a, 'b@h');
      a.receive({ ...msg('b@h', { type: 'shuffleReply', exchange: [] }, 101), from: spec('b@h', 2) });
      assert.deepEqual(a.activeView(), [spec('b@h', 2)]);
    });
  });

  describe('failures', () => {
    it('replaces a failed active peer from the passive view (high priority when left alone)', () => {
      const a = node('a@h');
      link(a, 'b@h');
      a.join(spec('c@h'));
      const out = a.connectionFailed(n('b@h'));
      assert.deepEqual(out.find((x) => x.type === 'activeRemoved'), { type: 'activeRemoved', node: 'b@h', reason: 'failed' });
      const [req] = sends(out, 'neighborRequest');
      assert.equal(req!.to.name, 'c@h');
      assert.equal((req!.message as { priority: string }).priority, 'high');
    });

    it('forgets a passive peer it cannot reach, and tries another', () => {
      const a = node('a@h');
      a.join(spec('c@h'));
      a.join(spec('d@h'));
      const [req] = sends(a.onPromotionTick(), 'neighborRequest').slice(0, 1);
      const out = a.connectionFailed(req!.to.name);
      assert.ok(!a.isPassive(req!.to.name));
      assert.ok(sends(out, 'neighborRequest').length <= 1);
    });

    it('ignores a closed connection to a peer that is not active', () => {
      const a = node('a@h');
      a.join(spec('c@h'));
      assert.deepEqual(a.connectionClosed(n('c@h')), []);
      assert.ok(a.isPassive(n('c@h')));
    });
  });

  it('asks the driver for a contact while it knows few peers', () => {
    const a = node('a@h');
    assert.ok(a.isolated() && a.needsContact());
    link(a, 'b@h');
    assert.ok(!a.isolated() && a.needsContact());
    for (let i = 0; i < 20; i++) a.join(spec(`p${i}@h`));
    assert.ok(!a.needsContact(), 'a filled passive view means a healthy overlay');
  });

  describe('shuffle', () => {
    it('sends self and samples of both views on a walk of ARWL hops', () => {
      const a = node('a@h');
      link(a, 'b@h');
      a.join(spec('c@h'));
      a.join(spec('d@h'));
      const [s] = sends(a.onShuffleTick(), 'shuffle');
      const m = s!.message as Extract<HyParViewMessage, { type: 'shuffle' }>;
      assert.equal(s!.to.name, 'b@h');
      assert.equal(m.ttl, 6);
      assert.deepEqual(m.exchange.map((x) => x.name).sort(), ['a@h', 'c@h', 'd@h']);
    });

    it('the walk end replies to the origin with passive peers and keeps the exchange (never itself)', () => {
      const b = node('b@h');
      link(b, 'a@h');
      b.join(spec('e@h'));
      const shuffle = msg('a@h', { type: 'shuffle', origin: spec('a@h'), exchange: [spec('a@h'), spec('b@h'), spec('c@h')], ttl: 6 });
      const [reply] = sends(b.receive(shuffle), 'shuffleReply');
      assert.equal(reply!.to.name, 'a@h');
      assert.deepEqual((reply!.message as unknown as { exchange: NodeSpec[] }).exchange.map((x) => x.name), ['e@h']);
      assert.ok(b.isPassive(n('c@h')) && !b.isPassive(n('b@h')) && !b.isPassive(n('a@h')));
    });

    it('the origin evicts what it sent first when the reply overflows its passive view', () => {
      const a = node('a@h', { passiveMaxSize: 2 });
      link(a, 'b@h');
      a.join(spec('c@h'));
      a.join(spec('d@h'));
      a.onShuffleTick(); // sends c and d
      a.receive(msg('x@h', { type: 'shuffleReply', exchange: [spec('e@h'), spec('f@h')] }));
      assert.deepEqual(a.passiveView().map((s) => s.name).sort(), ['e@h', 'f@h']);
    });
  });

  describe('wire', () => {
    it('messages survive JSON and are validated on the way in', () => {
      const a = node('a@h');
      link(a, 'b@h');
      a.join(spec('c@h'));
      const all = [...sends(a.onShuffleTick()), ...sends(a.onPromotionTick())];
      for (const { message } of all) assert.deepEqual(parseHyParViewMessage(JSON.parse(JSON.stringify(message))), message);
      for (const bad of [null, { type: 'nope' }, { ...all[0]!.message, clock: -1 }, { ...all[0]!.message, from: { name: 'x' } }]) {
        assert.throws(
          () => parseHyParViewMessage(bad),
          (err: unknown) => isPartisanError(err, 'ERR_WIRE_MALFORMED_FRAME'),
        );
      }
    });
  });
});
