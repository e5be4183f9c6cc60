import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode, type Node } from '../../../src/node/node.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { seededRandom } from '../../../src/util/random.js';

const nodes: Node[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function cluster(names: string[], memoryNetwork: MemoryNetwork, extra: Record<string, unknown> = {}): Promise<Node[]> {
  const started: Node[] = [];
  for (const name of names) {
    const n = await startNode({ name: `${name}@mem`, host: name, transport: 'memory', memoryNetwork, peerService: 'static', ...extra });
    started.push(n);
    nodes.push(n);
  }
  const ups: Promise<unknown>[] = [];
  for (const a of started) {
    for (const b of started) {
      if (a === b) continue;
      ups.push(new Promise((resolve) => a.onUp(b.node(), resolve)));
      a.join(b.nodeSpec());
    }
  }
  await Promise.all(ups);
  return started;
}

describe('acknowledged and causal delivery', () => {
  it('delivers every acked message exactly once over a lossy link', async () => {
    const net = new MemoryNetwork({ random: seededRandom(7) });
    const [a, b] = await cluster(['a', 'b'], net, { delivery: { ack: { retransmitInterval: 20, maxRetransmitInterval: 100, maxAttempts: 0 } } });
    const sink = b!.spawnMailbox({ name: 'sink' });
    // Loss starts after the connection is up: keepalive is slow, so the link itself survives.
    net.setFaults('a', 'b', { loss: 0.3 });
    net.setFaults('b', 'a', { loss: 0.3 });
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) sends.push(a!.forwardMessage(sink.pid, i, { ack: true }) as Promise<void>);
    const seen: number[] = [];
    while (seen.length < 300) seen.push(await sink.receive<number>());
    await Promise.all(sends);
    assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: 300 }, (_, i) => i), 'each message once');
    assert.equal(sink.tryReceive(), undefined, 'no duplicates delivered later');
    assert.ok(a!.stats().ackRetransmitted! > 0, 'losses were repaired by retransmission');
  });

  it('keeps unacked messages across a dropped connection and sends them on reconnect', async () => {
    const net = new MemoryNetwork();
    const [a, b] = await cluster(['a', 'b'], net);
    const sink = b!.spawnMailbox({ name: 'sink' });
    const ref = a!.injectPartition('b@mem');
    const pending = [1, 2, 3].map((i) => a!.forwardMessage(sink.pid, i, { ack: true }) as Promise<void>);
    const up = new Promise((resolve) => a!.onUp('b@mem', resolve));
    a!.resolvePartition(ref);
    await up;
    assert.deepEqual([await sink.receive(), await sink.receive(), await sink.receive()].sort(), [1, 2, 3]);
    await Promise.all(pending);
  });

  it('acknowledges only when the target consumes the message', async () => {
    const net = new MemoryNetwork();
    const [a, b] = await cluster(['a', 'b'], net);
    const sink = b!.spawnMailbox();
    let settled = false;
    const p = (a!.forwardMessage(sink.pid, 'x', { ack: true }) as Promise<void>).then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(settled, false, 'queued in a mailbox is not delivered');
    assert.equal(await sink.receive(), 'x');
    await p;
    assert.equal(settled, true);
  });

  it('rejects with ERR_DELIVERY_TIMEOUT when the target never gets it', async () => {
    const net = new MemoryNetwork();
    const [a] = await cluster(['a', 'b'], net, { delivery: { ack: { retransmitInterval: 10, maxAttempts: 3, deadline: 200 } } });
    net.partition('a', 'b');
    await assert.rejects(a!.forwardMessage({ name: 'nobody', node: 'b@mem' }, 1, { ack: true }) as Promise<void>, (err: unknown) =>
      isPartisanError(err, 'ERR_DELIVERY_TIMEOUT'),
    );
  });

  it('recognises already consumed messages after the receiver restarts, with a journal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'partisan-journal-'));
    try {
      const net = new MemoryNetwork();
      const [a, b1] = await cluster(['a', 'b'], net, { delivery: { journalDir: dir } });
      const sink1 = b1!.spawnMailbox({ name: 'sink' });
      let settled = false;
      const sent = (a!.forwardMessage(b1!.name('sink'), 'once', { ack: true }) as Promise<void>).then(() => {
        settled = true;
      });
      assert.equal(await sink1.receive(), 'once');
      // The receiver consumed it, but its ack never reaches the sender: then it dies.
      net.setFaults('b', 'a', { loss: 1 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      net.crash('b');
      await b1!.stop();
      nodes.splice(nodes.indexOf(b1!), 1);
      net.setFaults('b', 'a', undefined);
      assert.equal(settled, false, 'the sender never saw the ack');
      const b2 = await startNode({ name: 'b@mem', host: 'b', transport: 'memory', memoryNetwork: net, peerService: 'static', delivery: { journalDir: dir } });
      nodes.push(b2);
      const sink2 = b2.spawnMailbox({ name: 'sink' });
      b2.join(a!.nodeSpec());
      await sent; // retransmitted to the new incarnation, recognised from the journal, acked
      assert.equal(sink2.tryReceive(), undefined, 'not delivered a second time');
      assert.equal(b2.stats().ackDuplicates, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('delivers causally under reordering: an effect never before its cause', async () => {
    const net = new MemoryNetwork({ random: seededRandom(3) });
    const [a, b, c] = await cluster(['a', 'b', 'c'], net);
    const sinkC = c!.spawnMailbox({ name: 'log' });
    const relayB = b!.spawnMailbox({ name: 'relay' });
    // A → C is slow; A → B → C is fast. C must still see A's message first.
    net.setFaults('a', 'c', { latencyMs: 80 });
    a!.forwardMessage(c!.name('log'), 'cause', { causalLabel: 'chat' });
    a!.forwardMessage(b!.name('relay'), 'go', { causalLabel: 'chat' });
    assert.equal(await relayB.receive(), 'go');
    b!.forwardMessage(c!.name('log'), 'effect', { causalLabel: 'chat' });
    assert.equal(await sinkC.receive(), 'cause');
    assert.equal(await sinkC.receive(), 'effect');
  });
});
