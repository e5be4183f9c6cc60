import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CausalDelivery, CausalLabel, parseCausalStamp, type CausalMessage } from '../../../src/delivery/causal.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { seededRandom } from '../../../src/util/random.js';

const [A, B, C] = ['a@h', 'b@h', 'c@h'];

/**
 * What Partisan puts on the wire and merges (§3.5, §7.4): the stamp carries only the order
 * buffer entry for the destination, and the receiver drops the rest. Applied to our stamps it
 * reproduces Partisan's behaviour exactly: transitive dependencies are lost.
 */
function partisanStrip<T>(m: CausalMessage<T>): CausalMessage<T> {
  return { ...m, stamp: { ...m.stamp, order: m.stamp.order.filter(([dest]) => dest === m.stamp.to) } };
}

const payloads = (ms: CausalMessage<string>[]) => ms.map((m) => m.payload);

describe('CausalLabel', () => {
  it("Partisan's causal_test: m2 waits for m1, then both come out in order", () => {
    const a = new CausalLabel<string>('L', A);
    const b = new CausalLabel<string>('L', B);
    const m1 = a.emit(B, 'm1');
    const m2 = a.emit(B, 'm2');
    assert.deepEqual(b.receive(m2, 0), { accepted: true, delivered: [] });
    assert.equal(b.buffered, 1);
    assert.deepEqual(payloads(b.receive(m1, 1).delivered), ['m1', 'm2']);
    assert.equal(b.buffered, 0);
  });

  it('keeps a dependency through a third node (the scenario Partisan gets wrong)', () => {
    // A→C (delayed), then A→B, B delivers and sends B→C. C must deliver A's message first.
    for (const buggy of [false, true]) {
      const wire = buggy ? partisanStrip : <T>(m: CausalMessage<T>) => m;
      const [a, b, c] = [A, B, C].map((n) => new CausalLabel<string>('L', n)) as [CausalLabel<string>, CausalLabel<string>, CausalLabel<string>];
      const toC = wire(a.emit(C, 'a→c'));
      assert.deepEqual(payloads(b.receive(wire(a.emit(B, 'a→b')), 0).delivered), ['a→b']);
      const fromB = wire(b.emit(C, 'b→c'));
      const early = payloads(c.receive(fromB, 1).delivered);
      const late = payloads(c.receive(toC, 2).delivered);
      if (buggy) assert.deepEqual([...early, ...late], ['b→c', 'a→c'], 'Partisan delivers b→c before its cause');
      else assert.deepEqual([early, late], [[], ['a→c', 'b→c']]);
    }
  });

  it('drops duplicates, delivered or still waiting', () => {
    const a = new CausalLabel<string>('L', A);
    const b = new CausalLabel<string>('L', B);
    const m1 = a.emit(B, 'm1');
    const m2 = a.emit(B, 'm2');
    b.receive(m2, 0);
    assert.deepEqual(b.receive(m2, 0), { accepted: true, delivered: [] });
    assert.deepEqual(payloads(b.receive(m1, 0).delivered), ['m1', 'm2']);
    assert.deepEqual(b.receive(m1, 0).delivered, []);
    assert.equal(b.stats().duplicates, 2);
  });

  it('refuses a message that must wait when the buffer is full, never one that fills the gap', () => {
    const a = new CausalLabel<string>('L', A);
    const b = new CausalLabel<string>('L', B, { maxBuffered: 1 });
    const [m1, m2, m3] = ['m1', 'm2', 'm3'].map((p) => a.emit(B, p)) as [CausalMessage<string>, CausalMessage<string>, CausalMessage<string>];
    assert.equal(b.receive(m2, 0).accepted, true);
    assert.deepEqual(b.receive(m3, 0), { accepted: false, delivered: [] });
    assert.deepEqual(payloads(b.receive(m1, 0).delivered), ['m1', 'm2']);
    assert.deepEqual(payloads(b.receive(m3, 0).delivered), ['m3'], 'retransmitted later, now deliverable');
    assert.equal(b.stats().rejected, 1);
  });

  it('expires messages that waited too long, with the later ones from the same sender', () => {
    const a = new CausalLabel<string>('L', A);
    const b = new CausalLabel<string>('L', B, { maxBufferAge: 1000 });
    a.emit(B, 'lost');
    const m2 = a.emit(B, 'm2');
    const m3 = a.emit(B, 'm3');
    b.receive(m3, 500);
    b.receive(m2, 0);
    assert.deepEqual(b.tick(999), []);
    assert.deepEqual(payloads(b.tick(1000)), ['m2', 'm3']);
    assert.deepEqual(b.stats(), { emitted: 0, delivered: 0, buffered: 0, duplicates: 0, rejected: 0, expired: 2 });
  });

  it('runs any number of labels independently (Partisan could start only one)', () => {
    const a = new CausalDelivery<string>(A);
    const b = new CausalDelivery<string>(B);
    const x1 = a.emit('x', B, 'x1');
    const x2 = a.emit('x', B, 'x2');
    const y1 = a.emit('y', B, 'y1');
    assert.deepEqual(payloads(b.receive(x2, 0).delivered), []);
    assert.deepEqual(payloads(b.receive(y1, 0).delivered), ['y1'], 'label y does not wait for label x');
    assert.deepEqual(payloads(b.receive(x1, 0).delivered), ['x1', 'x2']);
    assert.deepEqual(b.labelNames().sort(), ['x', 'y']);
  });

  it('validates stamps from the wire and refuses sends to self', () => {
    const stamp = new CausalLabel<string>('L', A).emit(B, 'm').stamp;
    assert.equal(parseCausalStamp(JSON.parse(JSON.stringify(stamp))).from, A);
    for (const bad of [null, {}, { ...stamp, clock: [[A, 0]] }, { ...stamp, order: [[B]] }, { ...stamp, to: A }]) {
      assert.throws(() => parseCausalStamp(bad), (e: unknown) => isPartisanError(e, 'ERR_WIRE_MALFORMED_FRAME'));
    }
    assert.throws(() => new CausalLabel('L', A).emit(A, 'x'), (e: unknown) => isPartisanError(e, 'ERR_NOT_IMPLEMENTED'));
  });
});

type Step = { op: 'send'; from: number; to: number } | { op: 'deliver'; pick: number; dup: boolean };

const step = (nodes: number): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.record({ op: fc.constant('send' as const), from: fc.nat(nodes - 1), to: fc.nat(nodes - 2) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('deliver' as const), pick: fc.nat(), dup: fc.boolean() }) },
  );

interface Sent {
  readonly id: number;
  readonly to: number;
  /** Oracle vector clock of the send event: counts sends per node, merged on delivery. */
  readonly vc: readonly number[];
  readonly msg: CausalMessage<number>;
}

/** send(a) → send(b) (happened-before) iff a's oracle clock is ≤ b's and they differ. */
function happenedBefore(a: Sent, b: Sent): boolean {
  return a !== b && a.vc.every((x, i) => x <= b.vc[i]!);
}

/**
 * Several nodes send to each other at random while the network delays, reorders and duplicates
 * (the pool is picked from at random). Messages sent after a delivery causally depend on it,
 * so chains through third parties (A→B, B→C racing a delayed A→C) arise all the time.
 */
function simulate(nodes: number, steps: Step[], seed: number, buggy: boolean): string | undefined {
  const names = Array.from({ length: nodes }, (_, i) => `n${i}@h`);
  const labels = names.map((n) => new CausalLabel<number>('L', n, { maxBufferAge: 0 }));
  const oracle = names.map(() => new Array<number>(nodes).fill(0));
  const sent: Sent[] = [];
  const delivered: Sent[][] = names.map(() => []);
  const pool: Sent[] = [];
  const receive = (s: Sent, now: number) => {
    const msg = buggy ? partisanStrip(s.msg) : s.msg;
    const { accepted, delivered: out } = labels[s.to]!.receive(msg, now);
    assert.ok(accepted);
    for (const m of out) {
      const d = sent[m.payload]!;
      delivered[s.to]!.push(d);
      oracle[s.to] = oracle[s.to]!.map((x, i) => Math.max(x, d.vc[i]!));
    }
  };
  let now = 0;
  for (const st of steps) {
    now++;
    if (st.op === 'send') {
      const to = st.to >= st.from ? st.to + 1 : st.to; // never to self
      oracle[st.from]![st.from]!++;
      const s: Sent = { id: sent.length, to, vc: [...oracle[st.from]!], msg: labels[st.from]!.emit(names[to]!, sent.length) };
      sent.push(s);
      pool.push(s);
    } else if (pool.length > 0) {
      const i = st.pick % pool.length;
      const s = pool[i]!;
      if (!st.dup) pool.splice(i, 1);
      receive(s, now);
    }
  }
  // Flush what is still in flight, in a random order.
  for (const s of seededRandom(seed).shuffle(pool)) receive(s, ++now);

  for (let n = 0; n < nodes; n++) {
    const got = delivered[n]!;
    const order = new Map(got.map((d, i) => [d.id, i]));
    if (order.size !== got.length) return `node ${n} delivered a message twice`;
    const expected = sent.filter((s) => s.to === n);
    if (expected.some((s) => !order.has(s.id))) return `node ${n} lost a message`;
    if (labels[n]!.buffered !== 0) return `node ${n} still buffers messages`;
    for (const m1 of got) {
      for (const m2 of got) {
        if (happenedBefore(m1, m2) && order.get(m1.id)! > order.get(m2.id)!) {
          return `node ${n} delivered message ${m2.id} before its cause ${m1.id}`;
        }
      }
    }
  }
  return undefined;
}

describe('causal delivery (property)', () => {
  const scenario = fc.integer({ min: 3, max: 5 }).chain((nodes) =>
    fc.record({ nodes: fc.constant(nodes), steps: fc.array(step(nodes), { maxLength: 120, size: 'max' }), seed: fc.integer() }),
  );

  it('no causal violation, nothing lost, buffers drained', () => {
    fc.assert(
      fc.property(scenario, ({ nodes, steps, seed }) => {
        const problem = simulate(nodes, steps, seed, false);
        assert.equal(problem, undefined);
      }),
      { numRuns: 1000 },
    );
  });

  it("the same property fails when the order buffer merge is dropped (Partisan's bug)", () => {
    const result = fc.check(
      fc.property(scenario, ({ nodes, steps, seed }) => simulate(nodes, steps, seed, true) === undefined),
      { numRuns: 1000, seed: 42 },
    );
    assert.equal(result.failed, true, 'the property test must be able to catch Partisan §7.4');
    const [{ nodes, steps, seed }] = result.counterexample!;
    assert.match(simulate(nodes, steps, seed, true)!, /before its cause/);
  });
});
