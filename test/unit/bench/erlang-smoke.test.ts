/** `npm run bench -- erlang` still runs when Erlang is installed, and skips with a clear reason when not. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { hasCommand } from '../../../native-bench/lib/external.js';
import { runQuick, variants } from './run-bench.js';

it('erlang --quick measures distributed Erlang and partisan-ts side by side (or says why not)', async () => {
  const { doc } = await runQuick('erlang');
  if (!hasCommand('escript') || !hasCommand('epmd')) {
    assert.equal(doc.runs.length, 0);
    assert.match(doc.skipped[0]!.reason, /not found/);
    return;
  }
  assert.deepEqual(doc.skipped, []);
  assert.deepEqual(variants(doc), ['erlang-dist/bulk-512KiB', 'erlang-dist/idle', 'erlang/p2p/100B', 'partisan-quic/p2p/100B']);
  const p2p = doc.runs.find((r) => r.variant === 'erlang/p2p/100B')!;
  assert.ok((p2p.metrics.msgsPerSec ?? 0) > 0);
  const bulk = doc.runs.find((r) => r.variant === 'erlang-dist/bulk-512KiB')!;
  assert.ok((bulk.metrics.gpsLatencyMs as { p99: number }).p99 > 0);
});
