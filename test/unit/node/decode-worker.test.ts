/**
 * Channels with `decode: 'worker'`: frames are decoded in the node's decode worker, not on the
 * main thread, and the application cannot tell — same order, same Buffers, acks still work,
 * a dead worker is replaced.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { startNode, type Node } from '../../../src/node/node.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';
import { isPartisanError } from '../../../src/util/errors.js';

const nodes: Node[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

const channels = [{ name: 'gps' }, { name: 'bulk', parallelism: 2, decode: 'worker' as const, creditBytes: 256 * 1024 }];

async function pair(): Promise<[Node, Node]> {
  const net = new MemoryNetwork();
  const a = await startNode({ name: 'a@mem', host: 'a', transport: 'memory', memoryNetwork: net, channels, wire: { maxFrameSize: 16 * 1024 * 1024 } });
  const b = await startNode({ name: 'b@mem', host: 'b', transport: 'memory', memoryNetwork: net, channels, wire: { maxFrameSize: 16 * 1024 * 1024 } });
  nodes.push(a, b);
  a.join(b.nodeSpec());
  const deadline = Date.now() + 10_000;
  while (!(a.isConnected('b@mem', 'bulk') && b.isConnected('a@mem', 'bulk'))) {
    if (Date.now() > deadline) throw new Error('bulk channel did not come up');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return [a, b];
}

interface DecoderView {
  counters: { batches: number; movedBytes: number; copiedBytes: number; restarts: number };
  worker: { terminate(): Promise<number> } | undefined;
}

function decoderOf(n: Node): DecoderView {
  const d = (n as unknown as { decoder: DecoderView | undefined }).decoder;
  assert.ok(d, 'the node has a decode worker for its decode: worker channel');
  return d;
}

describe("channels with decode: 'worker'", () => {
  it('delivers small and large messages in per-key order, large binaries as Buffers', async () => {
    const [a, b] = await pair();
    const sink = b.spawnMailbox({ name: 'sink' });
    const big = (i: number) => Buffer.alloc(300 * 1024, i & 0xff);
    const sent: Array<{ key: string; seq: number; size: number }> = [];
    for (let i = 0; i < 60; i++) {
      const key = `k${i % 3}`;
      const blob = i % 4 === 0 ? big(i) : Buffer.from(`small-${i}`);
      sent.push({ key, seq: i, size: blob.length });
      const r = a.forwardMessage(b.name('sink'), { key, seq: i, blob }, { channel: 'bulk', partitionKey: key });
      if (r) await r;
    }
    const got = (await sink.receiveMany(60, { timeoutMs: 20_000 })) as Array<{ key: string; seq: number; blob: Buffer }>;
    while (got.length < 60) got.push(...((await sink.receiveMany(60 - got.length, { timeoutMs: 20_000 })) as typeof got));
    const last = new Map<string, number>();
    for (const m of got) {
      assert.ok(Buffer.isBuffer(m.blob), 'binary payloads arrive as Buffers');
      const expect = sent[m.seq]!;
      assert.equal(m.blob.length, expect.size);
      if (expect.size > 1000) assert.equal(m.blob[expect.size - 1], m.seq & 0xff, 'large payload intact');
      else assert.equal(m.blob.toString(), `small-${m.seq}`);
      assert.ok((last.get(m.key) ?? -1) < m.seq, `per-key order for ${m.key}`);
      last.set(m.key, m.seq);
    }
    const d = decoderOf(b);
    assert.ok(d.counters.batches > 0, 'batches went through the worker');
    assert.ok(d.counters.movedBytes > 0, 'large frames were moved to the worker, not copied');
  });

  it('acknowledged sends resolve through the worker, and a dead worker is replaced', async () => {
    const [a, b] = await pair();
    const sink = b.spawnMailbox({ name: 'sink' });
    // Acknowledged once the process took it (ack on consumption), so receive alongside.
    const [, first] = await Promise.all([a.forwardMessage(b.name('sink'), { n: 1 }, { channel: 'bulk', ack: true }), sink.receive({ timeoutMs: 10_000 })]);
    assert.deepEqual(first, { n: 1 });
    const d = decoderOf(b);
    await d.worker!.terminate();
    // The next batch starts a new worker; acked sends are retransmitted if a batch was lost.
    const [, second] = await Promise.all([a.forwardMessage(b.name('sink'), { n: 2 }, { channel: 'bulk', ack: true }), sink.receive({ timeoutMs: 10_000 })]);
    assert.deepEqual(second, { n: 2 });
    assert.equal(d.counters.restarts, 1);
  });

  it('moves the buffers real transports read into (quic, tcp): small and large frames arrive', async () => {
    // Read chunks come from the quinn binding and from node:net; moving them to the worker
    // must work for both (a non-transferable buffer would throw in postMessage).
    for (const transport of ['quic', 'tcp'] as const) {
      const ch = [{ name: 'bulk', decode: 'worker' as const }];
      const a = await startNode({ name: `a-${transport}@127.0.0.1`, transport, logLevel: 'warn', channels: ch });
      const b = await startNode({ name: `b-${transport}@127.0.0.1`, transport, logLevel: 'warn', channels: ch });
      nodes.push(a, b);
      a.join(b.nodeSpec());
      const deadline = Date.now() + 10_000;
      while (!a.isConnected(b.node(), 'bulk')) {
        if (Date.now() > deadline) throw new Error(`${transport}: bulk channel did not come up`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const sink = b.spawnMailbox({ name: 'sink' });
      for (let i = 0; i < 10; i++) {
        const size = i % 2 ? 10 : 70_000;
        a.forwardMessage(b.name('sink'), { i, blob: Buffer.alloc(size, i) }, { channel: 'bulk' });
        const m = (await sink.receive({ timeoutMs: 10_000 })) as { i: number; blob: Buffer };
        assert.equal(m.i, i);
        assert.ok(Buffer.isBuffer(m.blob) && m.blob.length === size && m.blob[size - 1] === i, `${transport}: message ${i} intact`);
      }
      assert.equal(decoderOf(b).counters.restarts, 0, `${transport}: the worker never died`);
    }
  });

  it('is refused on the default channel and for unknown values, with a coded error', async () => {
    const net = new MemoryNetwork();
    for (const bad of [[{ name: 'default', decode: 'worker' }], [{ name: 'bulk', decode: 'gpu' }]]) {
      await assert.rejects(
        startNode({ name: 'x@mem', host: 'x', transport: 'memory', memoryNetwork: net, channels: bad as never }),
        (err: unknown) => isPartisanError(err, 'ERR_INVALID_OPTION'),
      );
    }
  });
});
