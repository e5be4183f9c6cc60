/**
 * Five real node processes on loopback over QUIC: form a cluster, exchange messages on several
 * channels, leave and rejoin, kill -9 one node (nodedown + DOWN elsewhere), restart it on a new
 * port (one member entry), partition and heal, and the coded errors for bad sends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NodeProcess, eventually, type AgentError } from './harness/node-process.js';

const base = {
  transport: 'quic',
  quic: { idleTimeoutMs: 3_000, keepAliveIntervalMs: 500 },
  keepalive: { idleMs: 1_000, timeoutMs: 1_000, attempts: 2 },
  channels: [{ name: 'gps', parallelism: 4, monotonic: false }, { name: 'bulk', parallelism: 1 }],
  membership: { gossipIntervalMs: 500 },
  wire: { maxFrameSize: 1024 * 1024 },
};

function options(i: number, port = 0): Record<string, unknown> {
  return { ...base, name: `n${i}@127.0.0.1`, host: '127.0.0.1', port };
}

describe('a five-node cluster over QUIC, in five processes', { timeout: 180_000 }, () => {
  const nodes: NodeProcess[] = [];
  const names = () => nodes.map((n) => n.name).sort();

  async function converged(expected: string[]): Promise<void> {
    const want = JSON.stringify([...expected].sort());
    await eventually(async () => {
      const views = await Promise.all(nodes.filter((n) => expected.includes(n.name)).map((n) => n.call<string[]>('members')));
      return views.every((v) => JSON.stringify(v) === want);
    }, `members converge on ${want}`);
  }

  before(async () => {
    nodes.push(...(await Promise.all([0, 1, 2, 3, 4].map((i) => NodeProcess.start(options(i))))));
    for (const n of nodes.slice(1)) await n.call('join', nodes[0]!.spec);
    await converged(names());
    await eventually(async () => (await Promise.all(nodes.map((n) => n.call<string[]>('nodes')))).every((c) => c.length === 4), 'full mesh of connections');
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
  });

  it('exchanges messages on several channels, in order per key', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    await eventually(() => a.call<boolean>('isFullyConnected', b.name), 'a fully connected to b');
    await b.call('sink', 'sink', { keepSeqs: true });
    const dest = { name: 'sink', node: b.name };
    await a.call('send', dest, 2000, { kind: 'default' }, {});
    await a.call('send', dest, 2000, { kind: 'gps', v: 'veh-7' }, { channel: 'gps', partitionKey: 'veh-7' }, 2000);
    await a.call('send', dest, 50, { kind: 'bulk', blob: 'x'.repeat(16_000) }, { channel: 'bulk' }, 4000);
    await eventually(async () => (await b.call<{ count: number }>('sinkState', 'sink')).count === 4050, 'all 4050 messages arrive');
    const { seqs } = await b.call<{ seqs: number[] }>('sinkState', 'sink');
    const gps = seqs.filter((s) => s >= 2000 && s < 4000);
    assert.deepEqual(gps, [...gps].sort((x, y) => x - y), 'per-key order on a 4-stream channel');
    assert.equal(new Set(seqs).size, 4050, 'no duplicates');
  });

  it('answers bad sends with coded errors, without hanging', async () => {
    const a = nodes[0]!;
    const code = (p: Promise<unknown>) => p.then(() => 'resolved', (err: AgentError) => err.code);
    assert.equal(await code(a.call('send', { name: 'x', node: 'ghost@127.0.0.1' }, 1, {})), 'ERR_NOT_CONNECTED');
    assert.equal(await code(a.call('send', { name: 'x', node: nodes[1]!.name }, 1, {}, { channel: 'nope' })), 'ERR_UNKNOWN_CHANNEL');
    assert.equal(await code(a.call('send', { name: 'x', node: nodes[1]!.name }, 1, { blob: 'y'.repeat(2 * 1024 * 1024) })), 'ERR_WIRE_FRAME_TOO_LARGE');
  });

  it('leaves and rejoins', async () => {
    const leaver = nodes[4]!;
    await leaver.call('leave');
    const rest = names().filter((n) => n !== leaver.name);
    await converged(rest);
    assert.deepEqual(await leaver.call('members'), [leaver.name]);
    await eventually(async () => !(await nodes[0]!.call<boolean>('isConnected', leaver.name)), 'connections to the leaver closed');
    await leaver.call('join', nodes[1]!.spec);
    await converged(names());
  });

  it('tells the others when a node is killed (nodedown, DOWN), and takes it back on a new port once', async () => {
    const victim = nodes[3]!;
    const watcher = nodes[0]!;
    const target = await victim.call<string>('spawnWaiter', 'waiter');
    await watcher.call('monitor', target);
    await watcher.call('monitorNode', victim.name);
    const oldPort = victim.spec.listenAddrs[0]!.port;
    await victim.kill('SIGKILL');
    await eventually(async () => {
      const seen = await watcher.call<Array<{ type: string; reason?: unknown; node?: string }>>('watched');
      return seen.some((m) => m.type === 'DOWN' && m.reason === 'noconnection') && seen.some((m) => m.type === 'nodedown' && m.node === victim.name);
    }, 'DOWN noconnection and nodedown at the watcher', 20_000);

    const restarted = await NodeProcess.start(options(3, oldPort + 7));
    nodes[3] = restarted;
    await restarted.call('join', nodes[0]!.spec);
    await converged(names());
    // The name never left the member list (a killed node stays a member), so wait for the
    // new spec itself to reach a node the restarted one did not join through.
    const entriesAt1 = async () =>
      (await nodes[1]!.call<Array<{ name: string; listenAddrs: Array<{ port: number }> }>>('specs')).filter((s) => s.name === restarted.name);
    await eventually(async () => (await entriesAt1()).some((e) => e.listenAddrs[0]!.port === oldPort + 7), 'the new spec gossiped to node 1', 20_000);
    const entries = await entriesAt1();
    assert.equal(entries.length, 1, 'one member entry');
    assert.equal(entries[0]!.listenAddrs[0]!.port, oldPort + 7, 'with the new address');
    await eventually(() => nodes[1]!.call<boolean>('isConnected', restarted.name), 'connected to the restarted node');
  });

  it('partitions a node off and heals', async () => {
    const [a, b] = [nodes[0]!, nodes[2]!];
    const ref = await a.call<string>('injectPartition', b.name);
    await eventually(async () => !(await a.call<boolean>('isConnected', b.name)) && !(await b.call<boolean>('isConnected', a.name)), 'both sides disconnected');
    const code = await a.call('send', { name: 'x', node: b.name }, 1, {}).then(() => 'sent', (err: AgentError) => err.code);
    assert.equal(code, 'ERR_PARTITIONED');
    await a.call('resolvePartition', ref);
    await eventually(() => a.call<boolean>('isConnected', b.name), 'reconnected after healing');
  });
});
