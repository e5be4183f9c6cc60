/** `npm run bench -- hol` still runs, through both delay proxies (UDP for quic, TCP for tcp-single). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runQuick } from './run-bench.js';

it('hol --quick reports gps latency and bulk MB/s per variant, via the delay proxy', async () => {
  const { doc } = await runQuick('hol', ['--transports', 'quic-idle,quic-channels,tcp-single', '--rtt', '2']);
  assert.deepEqual(doc.skipped, []);
  assert.deepEqual(doc.runs.map((r) => r.variant), ['quic-idle', 'quic-channels', 'tcp-single']);
  for (const run of doc.runs) {
    assert.equal(run.rttMs, 2);
    const l = run.metrics.gpsLatencyMs as Record<string, number>;
    assert.deepEqual(Object.keys(l).sort(), ['max', 'p50', 'p90', 'p99', 'p999']);
    assert.ok(l.p50! > 0 && l.p99! >= l.p50!, `${run.variant} latency`);
    assert.equal(typeof run.metrics.bulkMBps, 'number');
    if (run.variant !== 'quic-idle') assert.ok((run.metrics.bulkMBps as number) > 0, `${run.variant} bulk`);
    assert.ok(run.metrics.processes?.some((p) => p.role === 'proxy'), 'the proxy process is accounted');
  }
  assert.equal((doc.summary?.ratios as unknown[]).length, 2);
});
