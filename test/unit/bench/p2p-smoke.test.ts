/** `npm run bench -- p2p` still runs: quic through the runtime and both bare-binding baselines. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runQuick, variants } from './run-bench.js';

it('p2p --quick measures quic and the bare quinn binding in one run', async () => {
  const { doc } = await runQuick('p2p', ['--transports', 'quic']);
  assert.deepEqual(doc.skipped, []);
  assert.deepEqual(variants(doc), ['quic/100B', 'quinn-binding+msgpack/100B', 'quinn-binding/100B']);
  for (const run of doc.runs) {
    assert.ok((run.metrics.msgsPerSec ?? 0) > 0, `${run.variant} msgs/s`);
    assert.ok((run.metrics.mbPerSec ?? 0) > 0, `${run.variant} MB/s`);
    assert.deepEqual(run.metrics.processes?.map((p) => p.role).sort(), ['receiver', 'sender']);
  }
  const quic = doc.runs.find((r) => r.variant === 'quic/100B')!;
  assert.ok(quic.metrics.latencyMs && quic.metrics.latencyMs.p99 >= quic.metrics.latencyMs.p50);
  const ratios = doc.summary?.ratios as Array<{ baseline: string }>;
  assert.deepEqual(ratios.map((r) => r.baseline).sort(), ['quinn-binding', 'quinn-binding+msgpack']);
});
