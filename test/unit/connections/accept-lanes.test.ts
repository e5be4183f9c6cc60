/**
 * The dialer opens its lanes as soon as its side of the handshake is done; the acceptor may
 * still be finishing its own (its welcome write not yet acknowledged by the transport). Lanes
 * that arrive in that window must reach the acceptor's PeerConnection: they used to go to the
 * handshake's stream handler and were lost — the dialer saw the lane up, the acceptor never
 * did, and what the dialer sent on it went nowhere.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { resolveChannels } from '../../../src/channels/channel-options.js';
import { ConnectionManager, type ConnectionEvents } from '../../../src/connections/connection-manager.js';
import { ConnectionTable } from '../../../src/connections/connection-table.js';
import { OutboundQueue } from '../../../src/channels/outbound-queue.js';
import type { Envelope } from '../../../src/wire/index.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';
import type { Transport, TransportConnection, TransportStream } from '../../../src/transport/transport.js';
import { systemClock } from '../../../src/util/clock.js';
import { seededRandom } from '../../../src/util/random.js';
import { resolveWireLimits } from '../../../src/wire/index.js';

const channels = resolveChannels([{ name: 'gps', parallelism: 4 }]);
const running: ConnectionManager[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((m) => m.stop()));
});

/** Accepted connections whose stream writes resolve 30 ms after the bytes left (a slow transport ack). */
function slowAcceptorWrites(inner: Transport): Transport {
  const slow = (s: TransportStream): TransportStream => ({
    id: s.id,
    read: () => s.read(),
    write: async (chunk) => {
      await s.write(chunk);
      await new Promise((resolve) => setTimeout(resolve, 30));
    },
    end: () => s.end(),
    abort: (reason) => s.abort(reason),
  });
  const wrap = (c: TransportConnection): TransportConnection => ({
    transport: c.transport,
    remoteAddress: c.remoteAddress,
    remoteKey: c.remoteKey,
    outbound: c.outbound,
    closed: c.closed,
    openStream: () => c.openStream(),
    onStream: (handler) => c.onStream((s) => handler(slow(s))),
    close: () => c.close(),
    abort: (reason) => c.abort(reason),
  });
  return {
    name: inner.name,
    listen: (address, onConnection) => inner.listen(address, (c) => onConnection(wrap(c))),
    dial: (address, options) => inner.dial(address, options),
    close: () => inner.close(),
  };
}

async function manager(transport: Transport, name: string, received: string[]): Promise<{ m: ConnectionManager; table: ConnectionTable; spec: { name: string; listenAddrs: { host: string; port: number }[] } }> {
  const table = ConnectionTable.create({ maxPeers: 4, channels });
  const events: ConnectionEvents = {
    up: () => {},
    down: () => {},
    channelUp: () => {},
    channelDown: () => {},
    messages: (_from, lane, envelopes) => {
      for (const e of envelopes) received.push(`${lane.channel.name}:${String(e[1])}`);
    },
    raw: () => {},
    acks: () => {},
    control: () => {},
    problem: () => {},
  };
  const m = new ConnectionManager({
    node: name,
    clusterId: 'test',
    incarnation: 1,
    spec: { name, listenAddrs: [] },
    transport,
    channels,
    limits: resolveWireLimits({ maxFrameSize: 64 * 1024, maxHandshakeTime: 2_000 }),
    table,
    clock: systemClock,
    random: seededRandom(name.length),
    keepalive: { idleMs: 60_000, timeoutMs: 60_000, attempts: 2 },
    newQueue: () => new OutboundQueue<Envelope>({ maxMessages: 10_000, maxBytes: 1 << 24, overflow: 'block', monotonic: false }),
    events,
  });
  running.push(m);
  const listenAddrs = await m.start([{ host: name, port: 0 }]);
  m.setSpec({ name, listenAddrs });
  return { m, table, spec: { name, listenAddrs } };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not reached: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

it('lanes the dialer opens while the acceptor is still in its handshake reach the acceptor', async () => {
  const net = new MemoryNetwork();
  const atA: string[] = [];
  const atB: string[] = [];
  const a = await manager(net.transport('a@h'), 'a@h', atA);
  const b = await manager(slowAcceptorWrites(net.transport('b@h')), 'b@h', atB);
  await a.m.connect(b.spec);
  await until(() => a.table.openStreams('b@h', 'gps') === 4 && b.table.openStreams('a@h', 'gps') === 4, 'all four gps lanes up on both sides');
  // Both directions carry traffic on every gps lane.
  for (let k = 0; k < 4; k++) a.m.send('b@h', 'gps', ['sink', `a${k}`], `key-${k}`);
  for (let k = 0; k < 4; k++) b.m.send('a@h', 'gps', ['sink', `b${k}`], `key-${k}`);
  await until(() => atB.length === 4 && atA.length === 4, 'messages both ways');
  assert.deepEqual(atB.sort(), ['gps:a0', 'gps:a1', 'gps:a2', 'gps:a3']);
  assert.deepEqual(atA.sort(), ['gps:b0', 'gps:b1', 'gps:b2', 'gps:b3']);
});
