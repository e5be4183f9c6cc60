/**
 * Issue 6 across real processes over QUIC: an acked stream survives kill -9 of its receiver
 * (every message reaches the application exactly once), RPC against slow, throwing and dead
 * nodes, multicall with a node down, and a GenServer call whose server node dies mid-call.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { NodeProcess, eventually } from './harness/node-process.js';

const plugin = fileURLToPath(new URL('./harness/plugins/rpc-gen.ts', import.meta.url));
const env = { PARTISAN_AGENT_PLUGINS: plugin };
const base = {
  transport: 'quic',
  quic: { idleTimeoutMs: 3_000, keepAliveIntervalMs: 500 },
  keepalive: { idleMs: 1_000, timeoutMs: 1_000, attempts: 2 },
  membership: { gossipIntervalMs: 500 },
};
const started: NodeProcess[] = [];
async function start(name: string, extra: Record<string, unknown> = {}): Promise<NodeProcess> {
  const p = await NodeProcess.start({ ...base, name: `${name}@127.0.0.1`, ...extra }, env);
  started.push(p);
  return p;
}
after(async () => {
  await Promise.all(started.map((p) => p.kill()));
});

function lines(file: string): number[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('delivery, RPC and GenServer across real processes', { timeout: 180_000 }, () => {
  it('delivers an acked stream exactly once to the application across kill -9 of the receiver', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'partisan-acked-'));
    try {
      const file = join(dir, 'received.log');
      const journalDir = join(dir, 'journal');
      const a = await start('sender', { delivery: { ack: { retransmitInterval: 200, maxRetransmitInterval: 1_000, maxAttempts: 0, deadline: 120_000 } } });
      const b = await start('receiver', { delivery: { journalDir } });
      const port = b.spec.listenAddrs[0]!.port;
      await b.call('sink', 'sink', { file });
      await a.call('join', b.spec);
      await eventually(() => a.call<boolean>('isConnected', b.name), 'connected');
      const sending = a.call<{ failed: number }>('send', { name: 'sink', node: b.name }, 10_000, { kind: 'acked' }, { ack: true });
      await eventually(() => lines(file).length >= 2_000, 'part of the stream consumed', 60_000, 5);
      await b.kill('SIGKILL');
      const before = lines(file).length;
      assert.ok(before < 10_000, 'killed mid-stream');

      const b2 = await start('receiver', { port, delivery: { journalDir } });
      await b2.call('sink', 'sink', { file });
      await b2.call('join', a.spec);
      const { failed } = await sending;
      assert.equal(failed, 0, 'every send was acknowledged');
      await eventually(() => lines(file).length >= 10_000, 'all 10,000 recorded', 60_000);
      const seqs = lines(file);
      assert.equal(seqs.length, 10_000, 'no duplicates recorded');
      assert.deepEqual([...new Set(seqs)].sort((x, y) => x - y), Array.from({ length: 10_000 }, (_, i) => i), 'nothing lost');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells apart RPC timeouts, remote exceptions, unknown functions and dead nodes; multicall with one down', async () => {
    const [a, b, c] = [await start('ra'), await start('rb'), await start('rc')];
    for (const n of [a, b, c]) await n.call('rpcServe');
    await b.call('join', a.spec);
    await c.call('join', a.spec);
    await eventually(async () => (await a.call<string[]>('nodes')).length === 2, 'a connected to b and c');

    const echo = await a.call<{ ok: boolean; value?: unknown }>('rpcCall', b.name, 'echo', [1, 'two']);
    assert.deepEqual(echo, { ok: true, value: [1, 'two'] });
    const slow = await a.call<{ ok: boolean; code?: string }>('rpcCall', b.name, 'slow', [2_000], { timeout: 200 });
    assert.equal(slow.code, 'ERR_RPC_TIMEOUT');
    const boom = await a.call<{ ok: boolean; code?: string; details?: { remoteMessage?: string; remoteStack?: string } }>('rpcCall', b.name, 'boom', []);
    assert.equal(boom.code, 'ERR_RPC_REMOTE_EXCEPTION');
    assert.match(boom.details?.remoteMessage ?? '', /boom from the remote side/);
    assert.match(boom.details?.remoteStack ?? '', /TypeError/);
    const unknown = await a.call<{ code?: string }>('rpcCall', b.name, 'nope', []);
    assert.equal(unknown.code, 'ERR_RPC_UNKNOWN_FUNCTION');

    await c.kill('SIGKILL');
    const results = await a.call<Array<{ node: string; ok: boolean; code?: string }>>('rpcMulticall', [b.name, c.name], 'echo', ['x'], { timeout: 5_000 });
    assert.deepEqual(results.find((r) => r.node === b.name)?.ok, true);
    assert.equal(results.find((r) => r.node === c.name)?.code, 'ERR_NOT_CONNECTED');
    const dead = await a.call<{ code?: string }>('rpcCall', c.name, 'echo', [], { timeout: 5_000 });
    assert.equal(dead.code, 'ERR_NOT_CONNECTED');
  });

  it('fails a GenServer call with ERR_NOT_CONNECTED when the server node is killed mid-call', async () => {
    const [a, b] = [await start('ga'), await start('gb')];
    await b.call('join', a.spec);
    await eventually(() => a.call<boolean>('isConnected', b.name), 'connected');
    await b.call('genStart', 'counter');
    const first = await a.call<{ ok: boolean; value?: number }>('genCall', b.name, 'counter', { op: 'get' });
    assert.deepEqual(first, { ok: true, value: 0 });
    const pending = a.call<{ ok: boolean; code?: string }>('genCall', b.name, 'counter', { op: 'sleep', ms: 30_000 }, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await b.kill('SIGKILL');
    const result = await pending;
    assert.equal(result.ok, false);
    assert.equal(result.code, 'ERR_NOT_CONNECTED');
  });
});
