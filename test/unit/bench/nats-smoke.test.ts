/** `npm run bench -- nats` still runs when nats-server is installed, and skips with a clear reason when not. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { hasCommand } from '../../../native-bench/lib/external.js';
import { runQuick, variants } from './run-bench.js';

it('nats --quick measures NATS and partisan-ts side by side (or says why not)', async () => {
  const { doc } = await runQuick('nats', ['--nodes', '2']);
  if (!hasCommand('nats-server')) {
    assert.equal(doc.runs.length, 0);
    assert.match(doc.skipped[0]!.reason, /nats-server not found/);
    return;
  }
  assert.deepEqual(doc.skipped, []);
  assert.deepEqual(variants(doc), ['nats/fanout-2', 'nats/p2p', 'partisan-quic/p2p']);
  for (const run of doc.runs) assert.ok((run.metrics.msgsPerSec ?? 0) > 0, run.variant);
  assert.ok(doc.runs.find((r) => r.variant === 'nats/p2p')!.metrics.processes?.some((p) => p.role === 'nats-server'));
});
