import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AckReceiver, AckSender, type AckActions, type AckSenderOptions, type AckTransmission } from '../../../src/delivery/ack-tracker.js';
import { PartisanError, isPartisanError } from '../../../src/util/errors.js';
import { seededRandom } from '../../../src/util/random.js';

const INC = 1_700_000_000_000;

function sender(options: AckSenderOptions = {}, seed = 1): AckSender<string> {
  return new AckSender<string>(INC, seededRandom(seed), { jitter: 0, ...options });
}

describe('AckSender', () => {
  it('numbers messages per peer from 1 and settles them on ack', () => {
    const s = sender();
    const a1 = s.send('b@h', 'm1', 10, 0);
    const a2 = s.send('b@h', 'm2', 10, 0);
    const c1 = s.send('c@h', 'm3', 10, 0);
    assert.deepEqual([a1.id, a2.id, c1.id], [1, 2, 1]);
    assert.deepEqual(a2.transmission, { peer: 'b@h', id: 2, inc: INC, lo: 1, message: 'm2', attempt: 1 });
    assert.equal(s.nextDueAt(), 1000, 'first retransmission after retransmitInterval (Partisan default 1000 ms)');
    const acked = s.ack('b@h', [1, 1, 99], 5);
    assert.deepEqual(acked.settled, [{ peer: 'b@h', id: 1, message: 'm1' }]);
    assert.deepEqual(s.stats().unacked, 2);
    assert.equal(s.send('b@h', 'm4', 1, 6).transmission?.lo, 2, 'lo = lowest unsettled id');
  });

  it('backs off exponentially, capped, then fails with ERR_DELIVERY_TIMEOUT after maxAttempts', () => {
    const s = sender({ retransmitInterval: 100, backoffMultiplier: 2, maxRetransmitInterval: 300, maxAttempts: 5, deadline: 0 });
    s.send('b@h', 'm', 1, 0);
    const times: number[] = [];
    let failed: AckActions<string>['failed'] = [];
    while (failed.length === 0) {
      const at = s.nextDueAt()!;
      const actions = s.tick(at);
      if (actions.transmit.length > 0) times.push(at);
      failed = actions.failed;
    }
    assert.deepEqual(times, [100, 300, 600, 900]); // waits 100, 200, 300 (capped), 300
    assert.equal(s.nextDueAt(), undefined);
    assert.ok(isPartisanError(failed[0]!.error, 'ERR_DELIVERY_TIMEOUT'));
    assert.deepEqual(s.stats(), { unacked: 0, unackedBytes: 0, sent: 1, retransmitted: 4, acked: 0, failed: 1 });
  });

  it('jitter spreads retransmissions within [interval·(1-jitter), interval]', () => {
    const s = new AckSender<string>(INC, seededRandom(7), { jitter: 0.5 });
    for (let i = 0; i < 50; i++) s.send(`p${i}`, 'm', 1, 0);
    const due = new Set<number>();
    for (let t = s.nextDueAt(); t !== undefined && t < 1000.5; t = s.nextDueAt()) {
      due.add(t);
      s.tick(t);
    }
    assert.ok(due.size > 10, 'not in lockstep');
    for (const t of due) assert.ok(t >= 500 && t <= 1000);
  });

  it('fails at the deadline, also while the peer is down', () => {
    const s = sender({ deadline: 5000, maxAttempts: 0 });
    s.send('b@h', 'm', 1, 0);
    s.connectionLost('b@h');
    assert.deepEqual(s.tick(1000).transmit, [], 'nothing is written to a peer that is down');
    assert.equal(s.nextDueAt(), 5000);
    const { failed } = s.tick(5000);
    assert.equal(failed.length, 1);
    assert.ok(isPartisanError(failed[0]!.error, 'ERR_DELIVERY_TIMEOUT'));
  });

  it('keeps unacked messages over a connection drop and resends them all in order on reconnect', () => {
    const s = sender();
    s.send('b@h', 'm1', 1, 0);
    s.connectionLost('b@h');
    assert.equal(s.send('b@h', 'm2', 1, 10).transmission, undefined, 'peer down: stored, not written');
    s.send('b@h', 'm3', 1, 20);
    const { transmit } = s.connectionUp('b@h', 30);
    assert.deepEqual(transmit.map((t) => [t.message, t.attempt]), [['m1', 2], ['m2', 1], ['m3', 1]]);
    assert.equal(s.nextDueAt(), 1030);
  });

  it('bounds the unacked store by messages and bytes (ERR_QUEUE_FULL, nothing stored)', () => {
    const s = sender({ maxUnackedMessages: 2, maxUnackedBytes: 100 });
    s.send('b@h', 'm1', 60, 0);
    assert.throws(() => s.send('b@h', 'm2', 41, 0), (e: unknown) => isPartisanError(e, 'ERR_QUEUE_FULL'));
    s.send('b@h', 'm2', 40, 0);
    assert.throws(() => s.send('c@h', 'm3', 0, 0), (e: unknown) => isPartisanError(e, 'ERR_QUEUE_FULL'));
    assert.equal(s.stats().unacked, 2);
  });

  it('holds ids beyond lo + window until acks open the window', () => {
    const s = sender({ window: 2 });
    const sent = ['m1', 'm2', 'm3', 'm4'].map((m) => s.send('b@h', m, 1, 0));
    assert.deepEqual(sent.map((x) => x.transmission !== undefined), [true, true, false, false]);
    assert.deepEqual(s.ack('b@h', [2], 1).transmit, [], 'lo is still 1');
    assert.deepEqual(s.ack('b@h', [1], 2).transmit.map((t) => [t.id, t.lo]), [[3, 3], [4, 3]]);
  });

  it('cancelPeer fails everything for a peer that left', () => {
    const s = sender();
    s.send('b@h', 'm1', 1, 0);
    s.send('b@h', 'm2', 1, 0);
    const { failed } = s.cancelPeer('b@h', new PartisanError('ERR_NOT_CONNECTED', 'b@h left'));
    assert.deepEqual(failed.map((f) => [f.id, f.error.code]), [[1, 'ERR_NOT_CONNECTED'], [2, 'ERR_NOT_CONNECTED']]);
    assert.equal(s.nextDueAt(), undefined);
    assert.deepEqual(s.send('b@h', 'm3', 1, 0).transmission?.id, 3, 'ids never restart within an incarnation');
    assert.deepEqual(s.send('b@h', 'm4', 1, 0).transmission?.lo, 3);
  });
});

describe('AckReceiver', () => {
  it('delivers each id once, acks duplicates too', () => {
    const r = new AckReceiver();
    assert.equal(r.receive('a@h', INC, 2, 1), 'deliver');
    assert.equal(r.receive('a@h', INC, 2, 1), 'duplicate');
    assert.equal(r.receive('a@h', INC, 1, 1), 'deliver');
    assert.equal(r.receive('a@h', INC, 1, 1), 'duplicate');
    assert.deepEqual(r.takeAcks(), [{ node: 'a@h', inc: INC, ids: [2, 2, 1, 1] }]);
    assert.deepEqual(r.takeAcks(), []);
    assert.equal(r.stats().tracked, 0, 'contiguous: only the floor remains');
  });

  it('a new incarnation resets the window; the old one is stale and not acked', () => {
    const r = new AckReceiver();
    r.receive('a@h', INC, 1, 1);
    assert.equal(r.receive('a@h', INC + 1, 1, 1), 'deliver');
    assert.equal(r.receive('a@h', INC, 2, 1), 'stale');
    assert.deepEqual(r.takeAcks(), [{ node: 'a@h', inc: INC + 1, ids: [1] }]);
  });

  it("moves its floor to the sender's lo, past ids the sender abandoned", () => {
    const r = new AckReceiver({ windowSize: 4 });
    r.receive('a@h', INC, 3, 1); // 1 and 2 are lost for good
    assert.equal(r.receive('a@h', INC, 6, 1), 'outOfWindow', 'beyond floor 0 + 4: not delivered, not acked');
    assert.equal(r.receive('a@h', INC, 6, 3), 'deliver', 'lo=3: 1 and 2 were settled by the sender');
    assert.equal(r.receive('a@h', INC, 2, 2), 'duplicate');
    assert.equal(r.stats().tracked, 1);
    assert.equal(r.receive('a@h', INC, 4, 4), 'deliver');
    assert.equal(r.receive('a@h', INC, 5, 4), 'deliver');
    assert.equal(r.stats().tracked, 0);
  });

  it('rejects malformed meta with ERR_WIRE_MALFORMED_FRAME', () => {
    const r = new AckReceiver();
    for (const [id, lo] of [[0, 1], [1, 2], [1.5, 1], [Number.NaN, 1]] as const) {
      assert.throws(() => r.receive('a@h', INC, id, lo), (e: unknown) => isPartisanError(e, 'ERR_WIRE_MALFORMED_FRAME'));
    }
  });
});

type NetOp =
  | { op: 'send'; peer: number }
  | { op: 'deliver'; pick: number; dup: boolean }
  | { op: 'drop'; pick: number }
  | { op: 'ack'; pick: number; dup: boolean }
  | { op: 'dropAck'; pick: number }
  | { op: 'advance'; ms: number }
  | { op: 'down'; peer: number }
  | { op: 'up'; peer: number };

const netOp: fc.Arbitrary<NetOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('send' as const), peer: fc.nat(1) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('deliver' as const), pick: fc.nat(), dup: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drop' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('ack' as const), pick: fc.nat(), dup: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('dropAck' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('down' as const), peer: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('up' as const), peer: fc.nat(1) }) },
);

const PEERS = ['b@h', 'c@h'];

/** One sender, two receivers, a network that drops, duplicates and reorders both ways. */
class LossyNet {
  now = 0;
  data: AckTransmission<string>[] = [];
  acks: { peer: string; ids: number[] }[] = [];
  readonly receivers: Map<string, AckReceiver>;
  readonly app = new Map<string, string[]>(PEERS.map((p) => [p, []]));
  readonly failed: string[] = [];
  readonly sent: string[] = [];
  maxTracked = 0;
  private n = 0;

  constructor(
    readonly sender: AckSender<string>,
    readonly receiverWindow: number,
  ) {
    this.receivers = new Map(PEERS.map((p) => [p, new AckReceiver({ windowSize: receiverWindow })]));
  }

  apply(actions: AckActions<string>): void {
    this.data.push(...actions.transmit);
    for (const f of actions.failed) this.failed.push(f.message);
  }

  send(peer: string): void {
    const message = `${peer}#${this.n++}`;
    this.sent.push(message);
    const { transmission } = this.sender.send(peer, message, 1, this.now);
    if (transmission) this.data.push(transmission);
  }

  deliver(i: number, keepCopy: boolean): void {
    const t = this.data[i]!;
    if (!keepCopy) this.data.splice(i, 1);
    const r = this.receivers.get(t.peer)!;
    if (r.receive('a@h', t.inc, t.id, t.lo) === 'deliver') this.app.get(t.peer)!.push(t.message);
    this.maxTracked = Math.max(this.maxTracked, r.stats().tracked);
    for (const batch of r.takeAcks()) this.acks.push({ peer: t.peer, ids: batch.ids });
  }

  ack(i: number, keepCopy: boolean): void {
    const a = this.acks[i]!;
    if (!keepCopy) this.acks.splice(i, 1);
    this.apply(this.sender.ack(a.peer, a.ids, this.now));
  }

  run(op: NetOp): void {
    switch (op.op) {
      case 'send':
        return this.send(PEERS[op.peer]!);
      case 'deliver':
        if (this.data.length > 0) this.deliver(op.pick % this.data.length, op.dup);
        return;
      case 'drop':
        if (this.data.length > 0) this.data.splice(op.pick % this.data.length, 1);
        return;
      case 'ack':
        if (this.acks.length > 0) this.ack(op.pick % this.acks.length, op.dup);
        return;
      case 'dropAck':
        if (this.acks.length > 0) this.acks.splice(op.pick % this.acks.length, 1);
        return;
      case 'advance':
        this.now += op.ms;
        return this.apply(this.sender.tick(this.now));
      case 'down': {
        // A dropped connection loses what was in flight on it, both ways.
        const peer = PEERS[op.peer]!;
        this.sender.connectionLost(peer);
        this.data = this.data.filter((t) => t.peer !== peer);
        this.acks = this.acks.filter((a) => a.peer !== peer);
        return;
      }
      case 'up':
        return this.apply(this.sender.connectionUp(PEERS[op.peer]!, this.now));
    }
  }

  /** Heal the network and run until nothing is in flight and the sender is drained. */
  settle(): void {
    for (const p of PEERS) this.apply(this.sender.connectionUp(p, this.now));
    for (let round = 0; round < 10_000; round++) {
      while (this.data.length > 0) this.deliver(0, false);
      while (this.acks.length > 0) this.ack(0, false);
      if (this.data.length > 0) continue;
      const next = this.sender.nextDueAt();
      if (next === undefined) return;
      this.now = Math.max(this.now, next);
      this.apply(this.sender.tick(this.now));
    }
    assert.fail('did not settle');
  }
}

describe('acknowledged delivery under loss, duplication and reordering (property)', () => {
  const config = fc.record({
    seed: fc.integer(),
    window: fc.integer({ min: 1, max: 8 }),
    receiverWindow: fc.integer({ min: 1, max: 8 }),
  });

  it('every message is delivered exactly once and the sender drains', () => {
    fc.assert(
      fc.property(config, fc.array(netOp, { maxLength: 150, size: 'max' }), ({ seed, window, receiverWindow }, ops) => {
        const s = new AckSender<string>(INC, seededRandom(seed), { retransmitInterval: 100, jitter: 0.5, maxAttempts: 0, deadline: 0, window });
        const net = new LossyNet(s, receiverWindow);
        for (const op of ops) net.run(op);
        net.settle();
        for (const peer of PEERS) {
          const got = net.app.get(peer)!;
          assert.deepEqual([...got].sort(), net.sent.filter((m) => m.startsWith(`${peer}#`)).sort(), `exactly once to ${peer}`);
          assert.equal(net.receivers.get(peer)!.stats().tracked, 0);
        }
        assert.deepEqual(s.stats().unacked, 0);
        assert.equal(s.nextDueAt(), undefined);
        assert.ok(net.maxTracked <= receiverWindow, 'receiver memory bounded by its window');
      }),
      { numRuns: 400 },
    );
  });

  it('with deadlines: never delivered twice, failures reported, receiver floors move past abandoned ids', () => {
    fc.assert(
      fc.property(config, fc.array(netOp, { maxLength: 150, size: 'max' }), ({ seed, window, receiverWindow }, ops) => {
        const s = new AckSender<string>(INC, seededRandom(seed), { retransmitInterval: 50, jitter: 0.5, maxAttempts: 3, deadline: 400, window });
        const net = new LossyNet(s, receiverWindow);
        for (const op of ops) net.run(op);
        net.settle();
        // One more message per peer over a healthy network: its lo lets the receiver forget the gaps.
        for (const peer of PEERS) net.send(peer);
        net.settle();
        const failed = new Set(net.failed);
        for (const peer of PEERS) {
          const got = net.app.get(peer)!;
          assert.equal(new Set(got).size, got.length, 'at most once');
          for (const m of net.sent.filter((x) => x.startsWith(`${peer}#`))) assert.ok(got.includes(m) || failed.has(m), `${m} delivered or failed`);
          assert.equal(net.receivers.get(peer)!.stats().tracked, 0);
        }
        assert.equal(s.stats().unacked, 0);
        assert.ok(net.maxTracked <= receiverWindow);
      }),
      { numRuns: 400 },
    );
  });
});
