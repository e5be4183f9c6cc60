import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { startNode, type Node } from '../../../src/node/node.js';
import type { MonitorMessage } from '../../../src/monitor/monitor-service.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';
import { isPartisanError } from '../../../src/util/errors.js';
import type { Pid } from '../../../src/process/ref.js';

const nodes: Node[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function pair(peerService: 'static' | 'fullMesh' = 'static') {
  const memoryNetwork = new MemoryNetwork();
  const common = { transport: 'memory' as const, memoryNetwork, peerService, channels: [{ name: 'gps', parallelism: 2 }] };
  const a = await startNode({ ...common, name: 'a@mem', host: 'a' });
  const b = await startNode({ ...common, name: 'b@mem', host: 'b' });
  nodes.push(a, b);
  const upA = new Promise<string>((resolve) => a.onUp('b@mem', resolve));
  const upB = new Promise<string>((resolve) => b.onUp('a@mem', resolve));
  a.join(b.nodeSpec());
  b.join(a.nodeSpec());
  await Promise.all([upA, upB]);
  return { a, b, memoryNetwork };
}

describe('node on the memory transport', () => {
  it('sends between processes on two nodes, by pid and by name', async () => {
    const { a, b } = await pair();
    const inbox = b.spawnMailbox({ name: 'sink' });
    a.forwardMessage(inbox.pid, { hello: 1 });
    a.forwardMessage(b.name('sink'), { hello: 2 }, { channel: 'gps', partitionKey: 'veh-1' });
    a.forwardMessage({ name: 'sink', node: 'b@mem' }, { hello: 3 });
    const got = [await inbox.receive(), await inbox.receive(), await inbox.receive()];
    assert.deepEqual(
      got.map((m) => (m as { hello: number }).hello).sort(),
      [1, 2, 3],
    );
  });

  it('runs spawned processes with self() and selective receive', async () => {
    const { a, b } = await pair();
    const results: unknown[] = [];
    const done = new Promise<void>((resolve) => {
      b.spawn(
        async (self) => {
          assert.equal(b.self(), self.pid);
          const second = await self.receive<{ n: number }>({ match: (m) => (m as { n: number }).n === 2 });
          const first = await self.receive<{ n: number }>();
          results.push(second.n, first.n);
          resolve();
        },
        { name: 'echo' },
      );
    });
    a.forwardMessage(b.name('echo'), { n: 1 });
    a.forwardMessage(b.name('echo'), { n: 2 });
    await done;
    assert.deepEqual(results, [2, 1]);
  });

  it('delivers DOWN with the exit reason, noproc, and noconnection', async () => {
    const { a, b, memoryNetwork } = await pair();
    const isDown = (m: unknown): boolean => (m as MonitorMessage).type === 'DOWN';
    const target = b.spawn(async (self) => {
      await self.receive();
      throw new Error('boom');
    });
    const ref1 = a.monitor(target);
    a.forwardMessage(target, 'go');
    const down1 = await a.receive<MonitorMessage>({ match: isDown });
    assert.equal(down1.type, 'DOWN');
    assert.equal(down1.type === 'DOWN' && down1.ref, ref1);
    assert.deepEqual(down1.type === 'DOWN' && typeof down1.reason === 'object' && down1.reason.error, 'boom');

    const ref2 = a.monitor(target);
    const down2 = await a.receive<MonitorMessage>({ match: isDown });
    assert.ok(down2.type === 'DOWN' && down2.ref === ref2 && down2.reason === 'noproc');

    const sleeper = b.spawnMailbox();
    const ref3 = a.monitor(sleeper.pid);
    a.monitorNode('b@mem');
    memoryNetwork.crash('b');
    const down3 = await a.receive<MonitorMessage>({ match: isDown });
    assert.ok(down3.type === 'DOWN' && down3.ref === ref3 && down3.reason === 'noconnection');
    const nodedown = await a.receive<MonitorMessage>({ match: (m) => (m as MonitorMessage).type === 'nodedown' });
    assert.equal(nodedown.type === 'nodedown' && nodedown.node, 'b@mem');
    assert.deepEqual(Object.values(a.monitorTableSizes()).reduce((x, y) => x + y, 0), 0, 'nothing left in the monitor tables');
  });

  it('leaks nothing after 10,000 monitors come and go', async () => {
    const { a, b } = await pair();
    const targets: Pid[] = [];
    for (let i = 0; i < 100; i++) targets.push(b.spawnMailbox().pid);
    const refs = [];
    for (let i = 0; i < 10_000; i++) refs.push(a.monitor(targets[i % targets.length]!));
    // Half demonitored, half settled by their target exiting.
    for (let i = 0; i < 10_000; i += 2) a.demonitor(refs[i]!, { flush: true });
    for (const t of targets) b.exit(t, 'shutdown');
    let downs = 0;
    while (downs < 5_000) {
      await a.receive({ match: (m) => (m as MonitorMessage).type === 'DOWN' });
      downs++;
    }
    const sizes = { ...a.monitorTableSizes(), ...Object.fromEntries(Object.entries(b.monitorTableSizes()).map(([k, v]) => [`b.${k}`, v])) };
    assert.deepEqual(Object.entries(sizes).filter(([, v]) => v !== 0), []);
    assert.equal(a.currentProcess().mailbox.size, 0, 'no DOWN for a demonitored ref');
  });

  it('answers isProcessAlive for remote pids and fails fast for unknown nodes', async () => {
    const { a, b } = await pair();
    const p = b.spawnMailbox();
    assert.equal(await a.isProcessAlive(p.pid), true);
    p.exit('normal');
    assert.equal(await a.isProcessAlive(p.pid), false);
    assert.throws(() => a.forwardMessage({ name: 'x', node: 'nobody@mem' }, 1), (err: unknown) => isPartisanError(err, 'ERR_NOT_CONNECTED'));
    assert.throws(() => a.forwardMessage(p.pid, 1, { channel: 'nope' }), (err: unknown) => isPartisanError(err, 'ERR_UNKNOWN_CHANNEL'));
    await assert.rejects(a.isProcessAlive('partisan:pid:nobody@mem:1' as Pid), (err: unknown) => isPartisanError(err, 'ERR_NOT_CONNECTED'));
  });

  it('partitions a node: both sides see it down, monitors fire, and healing brings it back', async () => {
    const { a, b } = await pair();
    const downB = new Promise<string>((resolve) => b.onDown('a@mem', resolve));
    a.monitorNodes(true);
    const ref = a.injectPartition('b@mem');
    await downB;
    const nd = await a.receive<MonitorMessage>({ match: (m) => (m as MonitorMessage).type === 'nodedown' });
    assert.equal(nd.type === 'nodedown' && nd.node, 'b@mem');
    assert.throws(() => a.forwardMessage({ name: 'x', node: 'b@mem' }, 1), (err: unknown) => isPartisanError(err, 'ERR_PARTITIONED'));
    assert.deepEqual(a.partitions().map((p) => p.node), ['b@mem']);
    a.resolvePartition(ref);
    const nu = await a.receive<MonitorMessage>({ match: (m) => (m as MonitorMessage).type === 'nodeup' });
    assert.equal(nu.type === 'nodeup' && nu.node, 'b@mem');
  });
});

describe('remote ref encoding', () => {
  it('pads refs to 65 bytes when remoteRefBinaryPadding is on, and reads both forms back', async () => {
    const memoryNetwork = new MemoryNetwork();
    const padded = await startNode({ name: 'p@mem', host: 'p', transport: 'memory', memoryNetwork, remoteRefs: { remoteRefBinaryPadding: true } });
    const plain = await startNode({ name: 'q@mem', host: 'q', transport: 'memory', memoryNetwork });
    nodes.push(padded, plain);
    const pid = padded.self();
    const wire = padded.encodeRef(pid);
    assert.equal(Buffer.byteLength(wire), 65);
    assert.equal(plain.decodeRef(wire), pid);
    assert.equal(plain.encodeRef(pid), pid);
    assert.throws(() => plain.decodeRef('partisan:pid:nope'), (err: unknown) => isPartisanError(err, 'ERR_INVALID_REF'));
  });
});
