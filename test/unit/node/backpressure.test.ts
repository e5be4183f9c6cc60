/**
 * A stalled receiver must not grow the sender's memory: credits stop the lane, the outbound
 * queue fills to its bound, and then the channel's policy applies — `block` makes the sender
 * wait, `dropOldest` drops (counted), `error` throws ERR_QUEUE_FULL.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startNode, type Node } from '../../../src/node/node.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';
import { isPartisanError } from '../../../src/util/errors.js';

const nodes: Node[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

const MiB = 1024 * 1024;

async function stalledPair(overflow: 'block' | 'dropOldest' | 'error') {
  // The receiver's side of the link stops taking bytes: a stalled peer (its reads never come).
  const memoryNetwork = new MemoryNetwork({ highWaterMark: 256 * 1024 });
  const channels = [{ name: 'bulk', overflow, maxQueueBytes: 4 * MiB, maxQueueMessages: 1_000_000, creditBytes: 256 * 1024 }];
  const a = await startNode({ name: 'a@mem', host: 'a', transport: 'memory', memoryNetwork, peerService: 'static', channels });
  const b = await startNode({ name: 'b@mem', host: 'b', transport: 'memory', memoryNetwork, peerService: 'static', channels });
  nodes.push(a, b);
  const up = new Promise((resolve) => a.onUp('b@mem', resolve, { channel: 'bulk' }));
  a.join(b.nodeSpec());
  b.join(a.nodeSpec());
  await up;
  // Stall: b's process never drains a mailbox of bounded capacity and the link is cut silently,
  // so no credit ever comes back to a.
  memoryNetwork.partition('a', 'b');
  return { a, b };
}

// A real collection before each measurement, so garbage is not mistaken for retained memory.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap plus ArrayBuffer memory (Buffers live outside the JS heap), MiB. */
function memoryMiB(): number {
  gc();
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / MiB;
}

describe('a stalled receiver', () => {
  it('dropOldest: the sender keeps going, its memory stays bounded and drops are counted', async () => {
    const { a } = await stalledPair('dropOldest');
    const before = memoryMiB();
    for (let i = 0; i < 12_800; i++) {
      // 200 MiB offered in all, each message its own 16 KiB; the queue holds at most 4 MiB.
      const payload = Buffer.alloc(16 * 1024, i);
      const r = a.forwardMessage({ name: 'sink', node: 'b@mem' }, { i, payload }, { channel: 'bulk' });
      assert.equal(r, undefined, 'dropOldest never makes the sender wait');
      if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const grown = memoryMiB() - before;
    assert.ok(grown < 64, `sender heap grew by ${grown.toFixed(1)} MiB for 200 MiB sent to a stalled peer`);
    const dropped = a.queues.totals().find((t) => t.channel === 'bulk')?.droppedOldest ?? 0;
    assert.ok(dropped > 10_000, `old messages were dropped and counted (${dropped})`);
  });

  it('error: the sender gets ERR_QUEUE_FULL once the bound is reached', async () => {
    const { a } = await stalledPair('error');
    const payload = Buffer.alloc(64 * 1024, 1);
    let refused = 0;
    for (let i = 0; i < 500 && refused === 0; i++) {
      try {
        a.forwardMessage({ name: 'sink', node: 'b@mem' }, { i, payload }, { channel: 'bulk' });
      } catch (err) {
        assert.ok(isPartisanError(err, 'ERR_QUEUE_FULL'));
        refused++;
      }
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(refused, 1, 'refused before 500 × 64 KiB were queued');
  });

  it('block: the sender waits (its send Promise stays pending) instead of queueing more', async () => {
    const { a } = await stalledPair('block');
    const payload = Buffer.alloc(64 * 1024, 1);
    let waiting: Promise<void> | undefined;
    let sent = 0;
    while (!waiting && sent < 1_000) {
      const r = a.forwardMessage({ name: 'sink', node: 'b@mem' }, { sent, payload }, { channel: 'bulk' });
      if (r) waiting = r;
      sent++;
      if (sent % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(waiting, 'backpressure reached the sender');
    assert.ok(sent < 200, `it came after about 4 MiB (${sent} messages of 64 KiB)`);
    const state = await Promise.race([waiting.then(() => 'resolved', () => 'rejected'), new Promise((resolve) => setTimeout(() => resolve('pending'), 100))]);
    assert.equal(state, 'pending');
  });
});
