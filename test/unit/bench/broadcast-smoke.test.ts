/**
 * The broadcast fan-out benchmark still runs end to end: a --quick run (an origin and 2 receivers,
 * Plumtree in a worker thread and on the main thread) writes a JSON result with nonzero
 * deliveries. No timing thresholds: the machine running the tests may be arbitrarily busy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { BroadcastBenchResult } from '../../../native-bench/broadcast/report.js';

it('bench:broadcast --quick writes a JSON result with nonzero deliveries in both modes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'partisan-bench-'));
  try {
    const json = join(dir, 'broadcast.json');
    const markdown = join(dir, 'broadcast.md');
    const child = spawn(process.execPath, ['--import', 'tsx', 'native-bench/broadcast/run.ts', '--quick', '--json', json, '--markdown', markdown], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, output);

    const result = JSON.parse(await readFile(json, 'utf8')) as BroadcastBenchResult;
    assert.equal(result.scenario, 'broadcast');
    assert.ok(result.env.commit && result.env.node && result.env.cpu && result.env.cores > 0 && result.env.date);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(result.runs.map((r) => r.variant).sort(), ['main/2-receivers', 'worker/2-receivers']);
    for (const run of result.runs) {
      const m = run.metrics;
      assert.ok(m.deliveries > 0 && m.deliveriesPerSec > 0, `${run.variant} deliveries`);
      assert.equal(m.deliveries, m.records * (run.nodes - 1), `${run.variant}: every record reached every receiver`);
      assert.ok(m.latencyP99Ms >= m.latencyP50Ms && m.latencyP50Ms > 0, `${run.variant} latency percentiles`);
      assert.ok(Number.isFinite(m.rmr), `${run.variant} RMR`);
      assert.equal(run.cpuPerNodePct.length, run.nodes);
    }
    assert.match(await readFile(markdown, 'utf8'), /worker ÷ main/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
