/** `npm run bench -- fleet` still runs: 2 gateways, consumers keeping the latest position per vehicle. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runQuick } from './run-bench.js';

it('fleet --quick runs one step with delivered/s, end-to-end latency, drops and per-node usage', async () => {
  const { doc } = await runQuick('fleet', ['--nodes', '2']);
  assert.equal(doc.runs.length + doc.skipped.length, 1);
  const step = doc.runs[0]!;
  assert.ok((step.metrics.deliveredPerSec as number) > 0);
  assert.ok((step.metrics.e2eLatencyMs as { p99: number }).p99 > 0);
  assert.equal(typeof step.metrics.drops, 'number');
  assert.deepEqual(step.metrics.processes?.map((p) => p.role).sort(), ['consumer1', 'consumer2', 'gateway1', 'gateway2']);
  for (const n of step.metrics.latestPositions as number[]) assert.ok(n > 0, 'consumers keep latest positions');
  assert.equal(typeof doc.summary?.maxSustainablePerSec, 'number');
});
