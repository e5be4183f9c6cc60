import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { resolveChannels } from '../../../src/channels/channel-options.js';
import { ConnectionManager, type ConnectionEvents } from '../../../src/connections/connection-manager.js';
import { ConnectionTable } from '../../../src/connections/connection-table.js';
import type { LaneQueue } from '../../../src/connections/lane.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';
import { systemClock } from '../../../src/util/clock.js';
import { isPartisanError, type PartisanError } from '../../../src/util/errors.js';
import { seededRandom } from '../../../src/util/random.js';
import { FRAME_HEADER_BYTES, resolveWireLimits, type Envelope } from '../../../src/wire/index.js';

/** Unbounded FIFO: these tests are about connections, not queue policies. */
class FifoQueue implements LaneQueue {
  private items: Envelope[] = [];
  enqueue(item: Envelope): void {
    this.items.push(item);
  }
  lastTakeBytes = 0;
  take(maxMessages: number): Envelope[] {
    const taken = this.items.splice(0, maxMessages);
    this.lastTakeBytes = taken.length;
    return taken;
  }
  get length(): number {
    return this.items.length;
  }
  get bytes(): number {
    return this.items.length;
  }
  close(): Envelope[] {
    const all = this.items;
    this.items = [];
    return all;
  }
}

interface Recorded {
  ups: string[];
  downs: string[];
  messages: Array<{ from: string; channel: string; slot: number; envelope: Envelope }>;
  problems: PartisanError[];
  waiters: Array<() => void>;
}

function recorder(): { events: ConnectionEvents; log: Recorded; until(cond: () => boolean): Promise<void> } {
  const log: Recorded = { ups: [], downs: [], messages: [], problems: [], waiters: [] };
  const poke = (): void => {
    const w = log.waiters;
    log.waiters = [];
    for (const f of w) f();
  };
  const events: ConnectionEvents = {
    up: (peer) => {
      log.ups.push(peer.node);
      poke();
    },
    down: (node) => {
      log.downs.push(node);
      poke();
    },
    channelUp: () => poke(),
    channelDown: () => poke(),
    messages: (from, lane, envelopes) => {
      for (const envelope of envelopes) log.messages.push({ from, channel: lane.channel.name, slot: lane.slot, envelope });
      poke();
    },
    raw: () => {},
    acks: () => {},
    control: () => {},
    problem: (_node, error) => {
      log.problems.push(error);
      poke();
    },
  };
  const until = async (cond: () => boolean): Promise<void> => {
    while (!cond()) await new Promise<void>((resolve) => log.waiters.push(resolve));
  };
  return { events, log, until };
}

const channels = resolveChannels([{ name: 'gps', parallelism: 4 }, { name: 'bulk', parallelism: 1 }]);
const running: ConnectionManager[] = [];

async function manager(network: MemoryNetwork, name: string, opts: { clusterId?: string; incarnation?: number; keepaliveMs?: number } = {}) {
  const rec = recorder();
  const table = ConnectionTable.create({ maxPeers: 16, channels });
  const m = new ConnectionManager({
    node: name,
    clusterId: opts.clusterId ?? 'test',
    incarnation: opts.incarnation ?? 1,
    spec: { name, listenAddrs: [] },
    transport: network.transport(name),
    channels,
    limits: resolveWireLimits({ maxFrameSize: 64 * 1024, maxHandshakeTime: 2_000 }),
    table,
    clock: systemClock,
    random: seededRandom(name.length),
    keepalive: { idleMs: opts.keepaliveMs ?? 60_000, timeoutMs: opts.keepaliveMs ?? 60_000, attempts: 2 },
    newQueue: () => new FifoQueue(),
    events: rec.events,
  });
  const addrs = await m.start([{ host: name, port: 0 }]);
  const spec = { name, listenAddrs: addrs };
  m.setSpec(spec);
  running.push(m);
  return { m, spec, table, ...rec };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((m) => m.stop()));
});

describe('connection manager', () => {
  it('connects two nodes with one connection and lanes for every channel', async () => {
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h');
    const b = await manager(net, 'b@h');
    await a.m.connect(b.spec);
    await a.until(() => a.table.isFullyConnected('b@h'));
    await b.until(() => b.table.isFullyConnected('a@h'));
    assert.deepEqual(a.log.ups, ['b@h']);
    assert.deepEqual(b.log.ups, ['a@h']);
    assert.equal(a.table.openStreams('b@h', 'gps'), 4);
    assert.equal(net.openConnections(), 2, 'one connection (two ends)');
  });

  it('writes from pooled buffers: batches reuse the same few buffers instead of allocating per write', async () => {
    // Each write batch is up to writeBatchBytes (256 KiB): allocating one per flush made 1,000
    // paced msgs/s cost ~50 MB/s of ArrayBuffers and a full GC every few hundred ms.
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h');
    const b = await manager(net, 'b@h');
    await a.m.connect(b.spec);
    await a.until(() => a.table.isFullyConnected('b@h'));
    for (let i = 0; i < 50; i++) {
      a.m.send('b@h', 'gps', ['sink', { seq: i }], 'veh-1');
      await b.until(() => b.log.messages.length === i + 1);
    }
    const c = a.m.writeBuffers.counters;
    assert.ok(c.acquired >= 50, `one buffer per flush (${c.acquired})`);
    assert.ok(c.reused >= c.acquired - 8, `buffers come back and are reused (${c.reused} of ${c.acquired})`);
    assert.equal(c.released, c.acquired, 'every written buffer went back');
  });

  it('keeps per-key order and spreads keys over the channel streams', async () => {
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h');
    const b = await manager(net, 'b@h');
    await a.m.connect(b.spec);
    await a.until(() => a.table.isFullyConnected('b@h'));
    for (let i = 0; i < 1000; i++) a.m.send('b@h', 'gps', ['sink', { v: `veh-${i % 10}`, seq: i }], `veh-${i % 10}`);
    await b.until(() => b.log.messages.length === 1000);
    const lastSeq = new Map<string, number>();
    const slotOf = new Map<string, number>();
    for (const { envelope, slot, channel } of b.log.messages) {
      assert.equal(channel, 'gps');
      const { v, seq } = envelope[1] as { v: string; seq: number };
      assert.ok((lastSeq.get(v) ?? -1) < seq, `per-key order for ${v}`);
      lastSeq.set(v, seq);
      if (slotOf.has(v)) assert.equal(slotOf.get(v), slot, 'same key, same stream');
      slotOf.set(v, slot);
    }
    assert.ok(new Set(slotOf.values()).size > 1, 'keys spread over several streams');
  });

  it('settles simultaneous dials on exactly one connection without flapping', async () => {
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h');
    const b = await manager(net, 'b@h');
    const results = await Promise.allSettled([a.m.connect(b.spec), b.m.connect(a.spec)]);
    assert.ok(results.some((r) => r.status === 'fulfilled'));
    await a.until(() => a.table.isFullyConnected('b@h'));
    await b.until(() => b.table.isFullyConnected('a@h'));
    a.m.send('b@h', 'default', ['x', 1]);
    b.m.send('a@h', 'default', ['y', 2]);
    await b.until(() => b.log.messages.length === 1);
    await a.until(() => a.log.messages.length === 1);
    assert.equal(net.openConnections(), 2, 'exactly one connection survives');
    assert.deepEqual(a.log.downs, []);
    assert.deepEqual(b.log.downs, []);
  });

  it('refuses a node of another cluster and a dial that reaches the wrong node', async () => {
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h');
    const b = await manager(net, 'b@h', { clusterId: 'other' });
    await assert.rejects(a.m.connect(b.spec), (err: unknown) => isPartisanError(err, 'ERR_HANDSHAKE_CLUSTER_MISMATCH'));
    const c = await manager(net, 'c@h');
    await assert.rejects(a.m.connect({ name: 'd@h', listenAddrs: c.spec.listenAddrs }), (err: unknown) =>
      isPartisanError(err, 'ERR_HANDSHAKE_UNEXPECTED_PEER'),
    );
    assert.deepEqual(a.log.ups, []);
    assert.deepEqual(c.log.ups, []);
  });

  it('fails sends with coded errors: unknown channel, not connected, too large', async () => {
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h');
    const b = await manager(net, 'b@h');
    assert.throws(() => a.m.send('b@h', 'default', ['x', 1]), (err: unknown) => isPartisanError(err, 'ERR_NOT_CONNECTED'));
    await a.m.connect(b.spec);
    assert.throws(() => a.m.send('b@h', 'nope', ['x', 1]), (err: unknown) => isPartisanError(err, 'ERR_UNKNOWN_CHANNEL'));
    assert.throws(() => a.m.send('b@h', 'bulk', ['x', Buffer.alloc(70 * 1024)]), (err: unknown) =>
      isPartisanError(err, 'ERR_WIRE_FRAME_TOO_LARGE'),
    );
    a.m.send('b@h', 'default', ['after', 'ok']);
    await b.until(() => b.log.messages.length === 1);
    assert.equal(b.log.messages[0]!.envelope[0], 'after', 'the oversized message was never sent');
  });

  it('closes a lane that receives a malformed frame, counts it, and keeps the connection', async () => {
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h');
    const b = await manager(net, 'b@h');
    await a.m.connect(b.spec);
    await a.until(() => a.table.isFullyConnected('b@h'));
    const lane = a.m.peer('b@h')!.laneFor('bulk', undefined)!;
    // Bypass the codec: a valid header announcing a Message frame with a body that is not msgpack.
    const bad = Buffer.alloc(FRAME_HEADER_BYTES + 3);
    bad.writeUInt32BE(3, 0);
    bad[4] = 0x02;
    bad.set([0xc1, 0xc1, 0xc1], FRAME_HEADER_BYTES);
    await lane.stream.write(bad);
    await b.until(() => b.m.counters.malformedFrames === 1);
    await b.until(() => b.table.isFullyConnected('a@h'));
    await a.until(() => a.table.isFullyConnected('b@h') && a.m.peer('b@h')!.laneFor('bulk', undefined) !== lane);
    a.m.send('b@h', 'bulk', ['still', 'works']);
    await b.until(() => b.log.messages.some((m) => m.envelope[0] === 'still'));
    assert.deepEqual(b.log.downs, [], 'the connection survived');
    assert.ok(b.log.problems.some((p) => p.code === 'ERR_WIRE_MALFORMED_FRAME'));
  });

  it('partitions: both sides go down, sends fail, and resolution reconnects', async () => {
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h');
    const b = await manager(net, 'b@h');
    a.m.maintain([b.spec]);
    b.m.maintain([a.spec]);
    await a.until(() => a.table.isFullyConnected('b@h'));
    const ref = a.m.injectPartition('b@h');
    await a.until(() => a.log.downs.length === 1);
    await b.until(() => b.log.downs.length === 1);
    assert.throws(() => a.m.send('b@h', 'default', ['x', 1]), (err: unknown) => isPartisanError(err, 'ERR_PARTITIONED'));
    assert.deepEqual(a.m.partitionList(), [{ ref, node: 'b@h' }]);
    assert.ok(a.m.resolvePartition(ref));
    await a.until(() => a.log.ups.length === 2);
    await b.until(() => b.log.ups.length === 2);
  });

  it('notices a peer that went silent through keepalive pings', async () => {
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h', { keepaliveMs: 100 });
    const b = await manager(net, 'b@h', { keepaliveMs: 100 });
    await a.m.connect(b.spec);
    net.partition('a@h', 'b@h');
    await a.until(() => a.log.downs.length === 1);
    await b.until(() => b.log.downs.length === 1);
  });

  it('treats a peer that restarted (new incarnation) as down then up', async () => {
    const net = new MemoryNetwork();
    const a = await manager(net, 'a@h');
    const b1 = await manager(net, 'b@h', { incarnation: 1 });
    await a.m.connect(b1.spec);
    net.crash('b@h');
    await a.until(() => a.log.downs.length === 1);
    await b1.m.stop();
    const b2 = await manager(net, 'b@h', { incarnation: 2 });
    await b2.m.connect(a.spec);
    await a.until(() => a.log.ups.length === 2);
    assert.deepEqual(a.log.ups, ['b@h', 'b@h']);
  });
});
