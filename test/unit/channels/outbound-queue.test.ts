import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { OverflowPolicy } from '../../../src/channels/channel-options.js';
import { OutboundQueue, type OutboundQueueOptions } from '../../../src/channels/outbound-queue.js';
import type { PartitionKey } from '../../../src/channels/stream-selector.js';
import type { LaneQueue } from '../../../src/connections/lane.js';
import { isPartisanError } from '../../../src/util/errors.js';
import type { Envelope } from '../../../src/wire/frame.js';

/** Lets promise callbacks run; no timer involved. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function isQueueFull(reason: string) {
  return (err: unknown) => isPartisanError(err, 'ERR_QUEUE_FULL') && err.details.reason === reason;
}

describe('OutboundQueue', () => {
  it('takes batches in order, bounded by count and bytes, at least one message', () => {
    const q = new OutboundQueue<string>();
    for (const s of ['a', 'b', 'c', 'd']) assert.equal(q.enqueue(s, 10), undefined);
    assert.deepEqual(q.take(2), ['a', 'b']);
    assert.deepEqual(q.take(10, 5), ['c'], 'one message even when it alone is over maxBytes');
    assert.deepEqual(q.take(10, 100), ['d']);
    assert.deepEqual(q.take(), []);
    assert.equal(q.counters.sent, 4);
    assert.equal(q.counters.highWaterMessages, 4);
    assert.equal(q.counters.highWaterBytes, 40);
  });

  it("'error' throws ERR_QUEUE_FULL and enqueues nothing", () => {
    const q = new OutboundQueue<number>({ maxMessages: 2, overflow: 'error' });
    q.enqueue(1, 1);
    q.enqueue(2, 1);
    assert.throws(() => q.enqueue(3, 1), isQueueFull('full'));
    assert.equal(q.depth, 2);
    assert.equal(q.counters.rejected, 1);
    assert.deepEqual(q.take(), [1, 2]);
  });

  it('refuses a message larger than maxBytes under every policy', () => {
    for (const overflow of ['block', 'dropOldest', 'error'] as const) {
      const q = new OutboundQueue<number>({ maxBytes: 100, overflow });
      assert.throws(() => q.enqueue(1, 101), isQueueFull('tooLarge'));
    }
  });

  it("'dropOldest' drops from the head and counts it", () => {
    const q = new OutboundQueue<number>({ maxMessages: 3, maxBytes: 100, overflow: 'dropOldest' });
    for (let i = 1; i <= 5; i++) q.enqueue(i, 10);
    assert.equal(q.counters.droppedOldest, 2);
    q.enqueue(6, 90); // needs 90 of 100 bytes: 3 and 4 go too
    assert.equal(q.counters.droppedOldest, 4);
    assert.deepEqual(q.take(), [5, 6]);
  });

  it("'block' waits for room and keeps FIFO order, also for callers that would fit", async () => {
    const q = new OutboundQueue<number>({ maxMessages: 10, maxBytes: 100, overflow: 'block' });
    const admitted: number[] = [];
    q.enqueue(1, 60);
    q.enqueue(2, 40)?.then(() => admitted.push(2));
    const big = q.enqueue(3, 50);
    assert.ok(big, 'blocked');
    void big.then(() => admitted.push(3));
    const small = q.enqueue(4, 1);
    assert.ok(small, 'waits behind 3 although it fits');
    void small.then(() => admitted.push(4));
    assert.equal(q.waiting, 2);
    await flush();
    assert.deepEqual(admitted, []);
    assert.deepEqual(q.take(1), [1]);
    await flush();
    assert.deepEqual(admitted, [3, 4]);
    assert.deepEqual(q.take(), [2, 3, 4]);
  });

  it('clear() discards what is queued and lets blocked callers in', async () => {
    const q = new OutboundQueue<Envelope>({ maxMessages: 2, overflow: 'block' });
    const lane: LaneQueue & OutboundQueue<Envelope> = q; // fits the connections layer's seam
    lane.enqueue([1, 'a'], 1);
    lane.enqueue([1, 'b'], 1);
    const blocked = lane.enqueue([1, 'c'], 1);
    assert.equal(q.clear(), 2);
    await blocked;
    assert.equal(lane.length, 1);
    assert.deepEqual(lane.take(10, 1000), [[1, 'c']]);
    const c = q.counters;
    assert.equal(c.enqueued, c.sent + c.discarded);
  });

  it('a blocked caller can be aborted; the line moves on', async () => {
    const q = new OutboundQueue<number>({ maxMessages: 1, overflow: 'block' });
    q.enqueue(1, 1);
    const ac = new AbortController();
    const first = q.enqueue(2, 1, undefined, ac.signal)!;
    const second = q.enqueue(3, 1)!;
    ac.abort(new Error('gave up'));
    await assert.rejects(first, /gave up/);
    q.take();
    await second;
    assert.deepEqual(q.take(), [3]);
  });

  it('close() rejects blocked callers and returns what was queued', async () => {
    const q = new OutboundQueue<number>({ maxMessages: 1, overflow: 'block' });
    q.enqueue(1, 1);
    const blocked = q.enqueue(2, 1)!;
    assert.deepEqual(q.close(), [1]);
    await assert.rejects(blocked, (e: unknown) => isPartisanError(e, 'ERR_TRANSPORT_CLOSED'));
    assert.throws(() => q.enqueue(3, 1), (e: unknown) => isPartisanError(e, 'ERR_TRANSPORT_CLOSED'));
    assert.equal(q.counters.discarded, 1);
  });

  it('monotonic: the newest value per key replaces the pending one in place', () => {
    const q = new OutboundQueue<string>({ monotonic: true });
    q.enqueue('car1@t1', 10, 'car1');
    q.enqueue('car2@t1', 10, 'car2');
    q.enqueue('car1@t2', 12, 'car1');
    q.enqueue('note', 5);
    q.enqueue('note', 5);
    assert.equal(q.depth, 4);
    assert.equal(q.bytes, 32);
    assert.equal(q.counters.droppedStale, 1);
    assert.deepEqual(q.take(), ['car1@t2', 'car2@t1', 'note', 'note']);
    q.enqueue('car1@t3', 10, 'car1');
    assert.deepEqual(q.take(), ['car1@t3'], 'a sent value is not replaced');
  });

  it('monotonic + block: a newer value supersedes a blocked one of the same key', async () => {
    const q = new OutboundQueue<string>({ monotonic: true, maxMessages: 1, overflow: 'block' });
    q.enqueue('a1', 1, 'a');
    const b1 = q.enqueue('b1', 1, 'b')!;
    const b2 = q.enqueue('b2', 1, 'b')!;
    await b1; // resolved at once: superseded
    assert.equal(q.counters.droppedStale, 1);
    assert.equal(q.enqueue('a2', 1, 'a'), undefined, 'pending key replaced without waiting');
    assert.deepEqual(q.take(), ['a2']);
    await b2;
    assert.deepEqual(q.take(), ['b2']);
    const c = q.counters;
    assert.equal(c.enqueued, c.sent + c.droppedOldest + c.droppedStale + q.depth);
  });

  it('matches a naive reference model (property)', async () => {
    type Cmd = { op: 'enq'; key: PartitionKey | undefined; bytes: number } | { op: 'take'; n: number; b: number };
    const cmd: fc.Arbitrary<Cmd> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ op: fc.constant('enq' as const), key: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }), bytes: fc.integer({ min: 0, max: 40 }) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('take' as const), n: fc.integer({ min: 1, max: 5 }), b: fc.integer({ min: 1, max: 80 }) }) },
    );
    const opts = fc.record({
      maxMessages: fc.integer({ min: 1, max: 6 }),
      maxBytes: fc.integer({ min: 40, max: 120 }),
      overflow: fc.constantFrom<OverflowPolicy>('block', 'dropOldest', 'error'),
      monotonic: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(opts, fc.array(cmd, { maxLength: 60, size: 'max' }), async (o, cmds) => {
        const real = new OutboundQueue<number>(o);
        const model = new ModelQueue(o);
        const resolved = new Set<number>();
        let next = 0;
        for (const c of cmds) {
          if (c.op === 'enq') {
            const id = next++;
            let realResult: string;
            try {
              const p = real.enqueue(id, c.bytes, c.key);
              realResult = p ? 'wait' : 'ok';
              if (p) void p.then(() => resolved.add(id));
              else resolved.add(id);
            } catch (err) {
              realResult = isPartisanError(err, 'ERR_QUEUE_FULL') ? `throw:${String(err.details.reason)}` : String(err);
            }
            assert.equal(realResult, model.enqueue(id, c.bytes, c.key));
          } else {
            assert.deepEqual(real.take(c.n, c.b), model.take(c.n, c.b));
          }
          await flush();
          assert.deepEqual([...resolved].sort((a, b) => a - b), [...model.resolved].sort((a, b) => a - b));
          assert.equal(real.depth, model.q.length);
          assert.equal(real.bytes, model.bytes());
          assert.ok(real.depth <= o.maxMessages && real.bytes <= o.maxBytes);
          const k = real.counters;
          assert.deepEqual([k.droppedOldest, k.droppedStale, k.sent], [model.droppedOldest, model.droppedStale, model.sent]);
          assert.equal(k.enqueued, k.sent + k.droppedOldest + k.droppedStale + real.depth);
        }
        // Drain: every caller gets in eventually, in model order.
        for (let i = 0; i < 1000 && (real.depth > 0 || real.waiting > 0); i++) {
          assert.deepEqual(real.take(), model.take(Infinity, Infinity));
          await flush();
        }
        assert.equal(real.waiting, 0);
        assert.deepEqual([...resolved].sort((a, b) => a - b), [...model.resolved].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });

  it('micro benchmark: enqueue + take (prints ops/s)', () => {
    const n = 5_000_000;
    // Every 64 enqueues the writer takes `drain` messages: 64 keeps up, 32 lets the queue back up.
    const bench = (label: string, options: OutboundQueueOptions, drain: number, keyOf: (i: number) => PartitionKey | undefined) => {
      const q = new OutboundQueue<number>(options);
      const out: number[] = [];
      const start = performance.now();
      for (let i = 0; i < n; i++) {
        q.enqueue(i, 100, keyOf(i));
        if ((i & 63) === 63) {
          out.length = 0;
          q.take(drain, 65_536, out);
        }
      }
      const ms = performance.now() - start;
      const c = q.counters;
      console.log(`# outbound-queue ${label}: ${((n / ms) * 1000 / 1e6).toFixed(1)}M enqueue+take/s (dropped ${c.droppedOldest + c.droppedStale})`);
    };
    bench('plain', {}, 64, () => undefined);
    bench('dropOldest, backed up', { maxMessages: 1024, overflow: 'dropOldest' }, 32, () => undefined);
    bench('monotonic, 1000 keys, backed up', { monotonic: true }, 32, (i) => i % 1000);
    bench('monotonic, 1000 string keys, backed up', { monotonic: true }, 32, (i) => `car-${i % 1000}`);
  });
});

/** The spec, written the obvious way: arrays, findIndex, splice. */
class ModelQueue {
  q: { id: number; bytes: number; key: PartitionKey | undefined }[] = [];
  waiters: { id: number; bytes: number; key: PartitionKey | undefined }[] = [];
  resolved = new Set<number>();
  droppedOldest = 0;
  droppedStale = 0;
  sent = 0;

  constructor(private readonly o: Required<OutboundQueueOptions>) {}

  bytes(): number {
    return this.q.reduce((s, m) => s + m.bytes, 0);
  }

  enqueue(id: number, bytes: number, key: PartitionKey | undefined): string {
    if (bytes > this.o.maxBytes) return 'throw:tooLarge';
    const keyed = this.o.monotonic && key !== undefined;
    if (keyed) {
      const w = this.waiters.find((x) => x.key === key);
      if (w) {
        this.resolved.add(w.id);
        this.droppedStale++;
        Object.assign(w, { id, bytes });
        return 'wait';
      }
      const i = this.q.findIndex((m) => m.key === key);
      if (i >= 0 && this.bytes() - this.q[i]!.bytes + bytes <= this.o.maxBytes) {
        this.q[i] = { id, bytes, key };
        this.droppedStale++;
        this.resolved.add(id);
        return 'ok';
      }
    }
    const m = { id, bytes, key: keyed ? key : undefined };
    if (this.waiters.length === 0 && this.tryAdmit(m)) return 'ok';
    if (this.o.overflow === 'error') return 'throw:full';
    if (this.o.overflow === 'dropOldest') {
      while (!this.tryAdmit(m)) {
        this.q.shift();
        this.droppedOldest++;
      }
      return 'ok';
    }
    this.waiters.push(m);
    return 'wait';
  }

  take(n: number, b: number): number[] {
    const out: number[] = [];
    let bytes = 0;
    while (this.q.length > 0 && out.length < n && (out.length === 0 || bytes + this.q[0]!.bytes <= b)) {
      const m = this.q.shift()!;
      out.push(m.id);
      bytes += m.bytes;
    }
    this.sent += out.length;
    while (this.waiters.length > 0 && this.tryAdmit(this.waiters[0]!)) this.waiters.shift();
    return out;
  }

  private tryAdmit(m: { id: number; bytes: number; key: PartitionKey | undefined }): boolean {
    const i = m.key === undefined ? -1 : this.q.findIndex((x) => x.key === m.key);
    if (i >= 0) {
      if (this.bytes() - this.q[i]!.bytes + m.bytes > this.o.maxBytes) return false;
      this.q[i] = m;
      this.droppedStale++;
    } else {
      if (this.q.length >= this.o.maxMessages || this.bytes() + m.bytes > this.o.maxBytes) return false;
      this.q.push(m);
    }
    this.resolved.add(m.id);
    return true;
  }
}
