import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { after, describe, it } from 'node:test';
import { startNode, type Node } from '../../../src/node/node.js';
import { DiagnosticsChannelNames, classifyProblem, type HandshakeRefusedMessage } from '../../../src/observability/channels.js';
import { createNodeMetrics } from '../../../src/observability/metrics.js';
import { formatStatus, nodeStatus } from '../../../src/observability/status.js';
import { createDevCa } from '../../../src/security/certificates.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';

const nodes: Node[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `name{labels} value` lines of a Prometheus exposition, labels in any order. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('observability of a node', () => {
  it('publishes diagnostics, exports metrics and reports status', async () => {
    const net = new MemoryNetwork();
    const events: Array<{ channel: string; message: unknown }> = [];
    const listeners = Object.values(DiagnosticsChannelNames).map((channel) => {
      const fn = (message: unknown): void => void events.push({ channel, message });
      diagnosticsChannel.subscribe(channel, fn);
      return () => diagnosticsChannel.unsubscribe(channel, fn);
    });
    const common = { transport: 'memory' as const, memoryNetwork: net, channels: ['gps', 'events'], broadcast: { gps: {} }, logLevel: 'silent' as const };
    const a = await startNode({ ...common, name: 'a@mem', host: 'a', security: { ca: 'dev' } });
    const b = await startNode({ ...common, name: 'b@mem', host: 'b', security: { ca: 'dev' } });
    const rogue = await startNode({ ...common, name: 'r@mem', host: 'r', security: { ca: await createDevCa() } });
    nodes.push(a, b, rogue);
    const metrics = createNodeMetrics(a, { processMetrics: false });
    try {
      b.join(a.nodeSpec());
      rogue.join(a.nodeSpec());
      await until(() => a.isFullyConnected('b@mem') && b.members().length === 2, 'a and b connected');
      const sink = b.spawnMailbox({ name: 'sink' });
      for (let i = 0; i < 5; i++) a.forwardMessage({ name: 'sink', node: 'b@mem' }, { i }, { channel: 'events' });
      await until(() => sink.mailbox.size === 5, 'five messages at b');
      const subscription = b.subscribe('gps');
      a.broadcast({ vehicleId: 'v1', ts: 1, lat: 48.8, lon: 2.3 }, 'gps');
      assert.equal(((await subscription.next()).value as unknown[]).length, 1);
      await subscription.return?.();
      await until(() => events.some((e) => e.channel === DiagnosticsChannelNames.handshakeRefused && (e.message as HandshakeRefusedMessage).node === 'a@mem'), 'a refuses the rogue');

      let text = '';
      await until(async () => {
        text = await metrics.metrics();
        return (sample(text, 'partisan_broadcast_originated_total', { channel: 'gps' }) ?? 0) >= 1;
      }, 'broadcast metrics');
      assert.equal(sample(text, 'partisan_members', { node: 'a@mem' }), 2);
      assert.equal(sample(text, 'partisan_peers_connected'), 1);
      assert.equal(sample(text, 'partisan_connection_streams', { peer: 'b@mem', channel: 'events' }), 1);
      assert.equal(sample(text, 'partisan_messages_sent_total', { peer: 'b@mem', channel: 'events' }), 5);
      assert.equal(sample(text, 'partisan_queue_enqueued_total', { channel: 'events' }), 5);
      assert.ok((sample(text, 'partisan_channel_bytes_sent_total', { peer: 'b@mem', channel: 'gps' }) ?? 0) > 0);
      assert.equal(sample(text, 'partisan_connection_events_total', { event: 'up' }), 1);
      assert.ok((sample(text, 'partisan_handshake_refused_total', { code: 'ERR_AUTH_UNTRUSTED_CERTIFICATE', by: 'local' }) ?? 0) >= 1);
      assert.ok((sample(text, 'partisan_auth_refusals_total', { code: 'ERR_AUTH_UNTRUSTED_CERTIFICATE' }) ?? 0) >= 1);
      assert.equal(sample(text, 'partisan_ack_retransmissions_total'), 0);
      assert.notEqual(sample(text, 'partisan_broadcast_rmr', { channel: 'gps' }), undefined);

      const status = await nodeStatus(a);
      assert.deepEqual(status.members, ['a@mem', 'b@mem']);
      assert.deepEqual(status.peers[0]!.channels.map((c) => [c.channel, c.open, c.parallelism]), [['default', 1, 1], ['gps', 1, 1], ['events', 1, 1]]);
      assert.equal(status.queues.find((q) => q.channel === 'events')!.enqueued, 5);
      assert.ok(status.broadcast.gps);
      const printed = formatStatus(status);
      assert.match(printed, /members {4}2: a@mem, b@mem/);
      assert.match(printed, /b@mem +(in|out) +default 1\/1 {2}gps 1\/1 {2}events 1\/1/);

      await b.stop();
      await until(() => events.some((e) => e.channel === DiagnosticsChannelNames.connectionDown && (e.message as { node: string }).node === 'a@mem'), 'connection down');
      const up = events.find((e) => e.channel === DiagnosticsChannelNames.connectionUp && (e.message as { node: string }).node === 'a@mem')!.message;
      assert.deepEqual(Object.keys(up as object).sort(), ['channels', 'incarnation', 'node', 'peer']);
      assert.equal(sample(await metrics.metrics(), 'partisan_connection_events_total', { event: 'down' }), 1);
      assert.ok(!a.members().includes('r@mem' as never));
    } finally {
      metrics.close();
      for (const off of listeners) off();
    }
  });

  it('classifies connection problems into diagnostics events', () => {
    assert.equal(classifyProblem('ERR_AUTH_KEY_MISMATCH'), 'handshakeRefused');
    assert.equal(classifyProblem('ERR_HANDSHAKE_CLUSTER_MISMATCH'), 'handshakeRefused');
    assert.equal(classifyProblem('ERR_HANDSHAKE_DUPLICATE'), undefined);
    assert.equal(classifyProblem('ERR_WIRE_MALFORMED_FRAME'), 'frameError');
    assert.equal(classifyProblem('ERR_QUEUE_FULL'), undefined);
  });
});
