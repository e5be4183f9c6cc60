/** `npm run bench:rpc` still runs: RPC with 1 and 64 in flight, acked and unacked forwards, one run. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runQuick, variants } from './run-bench.js';

it('rpc --quick reports round trips and acked vs unacked throughput', async () => {
  const { doc } = await runQuick('rpc');
  assert.deepEqual(doc.skipped, []);
  assert.deepEqual(variants(doc), ['forward/acked', 'forward/unacked', 'rpc/1-in-flight', 'rpc/64-in-flight']);
  for (const run of doc.runs) {
    assert.ok(((run.metrics.callsPerSec ?? run.metrics.msgsPerSec) as number) > 0, run.variant);
    assert.ok(run.metrics.latencyMs && run.metrics.latencyMs.p99 >= run.metrics.latencyMs.p50, run.variant);
  }
  assert.equal(typeof doc.summary?.ackedOverUnacked, 'number');
});
