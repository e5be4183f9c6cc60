import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveChannelOptions } from '../../../src/channels/channel-options.js';
import { QueueRegistry, TrafficCounters } from '../../../src/observability/traffic.js';

describe('traffic counters', () => {
  it('counts per (peer, channel) and keeps totals of peers that left', () => {
    const t = new TrafficCounters();
    t.sent('a', 'gps');
    t.sent('a', 'gps');
    t.sent('b', 'gps');
    t.sent('a', 'default');
    t.received('a', 'default', 10);
    t.receivedRaw('b', 'gps', 2, 300);
    t.sentRaw('b', 'gps', 120);
    const byKey = new Map(t.snapshot().map((r) => [`${r.peer}/${r.channel}`, r]));
    assert.deepEqual(byKey.get('a/gps'), { peer: 'a', channel: 'gps', messagesOut: 2, messagesIn: 0, framesIn: 0, bytesIn: 0, bytesOut: 0 });
    assert.equal(byKey.get('a/default')!.messagesIn, 10);
    assert.deepEqual(byKey.get('b/gps'), { peer: 'b', channel: 'gps', messagesOut: 1, messagesIn: 0, framesIn: 2, bytesIn: 300, bytesOut: 120 });
  });

  it('folds the counters of closed queues into their channel, and sums the live ones', () => {
    const registry = new QueueRegistry();
    const gps = resolveChannelOptions({ name: 'gps', maxQueueMessages: 2, overflow: 'dropOldest' });
    const q1 = registry.create<string>(gps);
    const q2 = registry.create<string>(gps);
    for (const m of ['a', 'b', 'c']) q1.enqueue(m, 10);
    q2.enqueue('x', 5);
    assert.deepEqual(q1.take(1, 1000), ['b']);
    let [t] = registry.totals();
    assert.equal(t!.queues, 2);
    assert.equal(t!.depth, 2);
    assert.equal(t!.bytes, 15);
    assert.equal(t!.enqueued, 4);
    assert.equal(t!.bytesEnqueued, 35);
    assert.equal(t!.droppedOldest, 1);
    assert.equal(t!.sent, 1);
    q1.close();
    [t] = registry.totals();
    assert.equal(t!.queues, 1);
    assert.equal(t!.depth, 1);
    assert.equal(t!.enqueued, 4, 'a closed queue keeps counting in the totals');
    assert.equal(t!.discarded, 1);
  });
});
