import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { startNode, type Node } from '../../../src/node/node.js';
import { PayloadCompression } from '../../../src/channels/compression.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';
import { isPartisanError } from '../../../src/util/errors.js';

const nodes: Node[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function pair(mode: 'pool' | 'inline') {
  const memoryNetwork = new MemoryNetwork();
  const common = {
    transport: 'memory' as const,
    memoryNetwork,
    peerService: 'static' as const,
    channels: [{ name: 'bulk', compression: 6 }],
    compression: { mode, thresholdBytes: 8 * 1024 },
  };
  const a = await startNode({ ...common, name: 'a@mem', host: 'a' });
  const b = await startNode({ ...common, name: 'b@mem', host: 'b' });
  nodes.push(a, b);
  const up = new Promise((resolve) => a.onUp('b@mem', resolve, { channel: 'bulk' }));
  a.join(b.nodeSpec());
  b.join(a.nodeSpec());
  await up;
  return { a, b };
}

for (const mode of ['pool', 'inline'] as const) {
  describe(`compressed channels (${mode})`, () => {
    it('compresses large payloads and keeps the channel order with small ones in between', async () => {
      const { a, b } = await pair(mode);
      const sink = b.spawnMailbox({ name: 'sink' });
      const big = (i: number): Buffer => Buffer.alloc(512 * 1024, `block-${i}-`);
      const sends: Array<void | Promise<void>> = [];
      for (let i = 0; i < 6; i++) {
        sends.push(a.forwardMessage(sink.pid, { i, blob: big(i) }, { channel: 'bulk' }));
        sends.push(a.forwardMessage(sink.pid, { i, small: true }, { channel: 'bulk' }));
      }
      await Promise.all(sends);
      for (let i = 0; i < 6; i++) {
        const first = await sink.receive<{ i: number; blob: Buffer }>();
        assert.equal(first.i, i);
        assert.ok(Buffer.compare(first.blob, big(i)) === 0, 'the payload survives the round trip');
        const second = await sink.receive<{ i: number; small: boolean }>();
        assert.deepEqual(second, { i, small: true }, 'small messages keep their place');
      }
    });
  });
}

describe('payload compression', () => {
  it('refuses a payload that inflates beyond the limit, with a coded error', async () => {
    const c = new PayloadCompression({ mode: 'inline', maxInflatedBytes: 4096 });
    const bomb = await c.compress(Buffer.alloc(1024 * 1024), 9);
    assert.ok(bomb.length < 4096, 'a megabyte of zeros deflates to almost nothing');
    await assert.rejects(c.decompress(bomb), (err: unknown) => isPartisanError(err, 'ERR_WIRE_MALFORMED_FRAME'));
    await c.close();
  });

  it('counts what it saved', async () => {
    const c = new PayloadCompression({ mode: 'pool' });
    const out = await c.compress({ text: 'x'.repeat(100_000) }, 6);
    assert.deepEqual(await c.decompress(out), { text: 'x'.repeat(100_000) });
    assert.ok(c.counters.bytesOut < c.counters.bytesIn / 10);
    await c.close();
  });
});
