/** Two nodes talk over every real transport: lanes per channel, per-key order, clean stop. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startNode, type Node } from '../../src/node/node.js';

for (const transport of ['quic', 'tcp', 'webtransport'] as const) {
  describe(`nodes over ${transport}`, () => {
    it('connect, carry a multi-stream channel in order per key, and stop cleanly', async () => {
      const common = { transport, channels: [{ name: 'gps', parallelism: 3 }] };
      const nodes: Node[] = [];
      try {
        const a = await startNode({ ...common, name: `a-${transport}@127.0.0.1` });
        nodes.push(a);
        const b = await startNode({ ...common, name: `b-${transport}@127.0.0.1` });
        nodes.push(b);
        b.join(a.nodeSpec());
        // Every lane open on both sides (the table is shared memory: poll it).
        while (!a.isFullyConnected(b.node()) || !b.isFullyConnected(a.node())) await new Promise((resolve) => setTimeout(resolve, 10));
        const sink = b.spawnMailbox({ name: 'sink' });
        for (let i = 0; i < 3000; i++) await a.forwardMessage(sink.pid, { key: `veh-${i % 5}`, i }, { channel: 'gps', partitionKey: `veh-${i % 5}` });
        const last = new Map<string, number>();
        for (let n = 0; n < 3000; n++) {
          const m = await sink.receive<{ key: string; i: number }>();
          assert.ok((last.get(m.key) ?? -1) < m.i, `in order for ${m.key}`);
          last.set(m.key, m.i);
        }
        assert.equal(a.connectionTable.openStreams(b.node(), 'gps'), 3);
      } finally {
        for (const n of nodes.reverse()) await n.stop();
      }
    });
  });
}

describe('webtransport across processes', () => {
  it('connects two node processes: the spec carries the certificate hash to pin', async () => {
    const { NodeProcess, eventually } = await import('./harness/node-process.js');
    const a = await NodeProcess.start({ name: 'wa@127.0.0.1', transport: 'webtransport' });
    const b = await NodeProcess.start({ name: 'wb@127.0.0.1', transport: 'webtransport' });
    try {
      assert.match(a.spec.listenAddrs[0]!.certHash ?? '', /^[0-9a-f]{64}$/);
      await b.call('sink', 'sink', { keepSeqs: true });
      await a.call('join', b.spec);
      await eventually(() => a.call<boolean>('isConnected', b.name), 'connected over webtransport', 20_000);
      await a.call('send', { name: 'sink', node: b.name }, 100, {});
      await eventually(async () => (await b.call<{ count: number }>('sinkState', 'sink')).count === 100, 'messages arrive');
    } finally {
      await a.kill();
      await b.kill();
    }
  });
});
