/**
 * The transport benchmark still runs end to end: a --quick run of the quic transport and both
 * baselines writes a JSON result with nonzero throughput. No timing thresholds: the machine
 * running the tests may be arbitrarily busy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { BenchResult } from '../../../native-bench/transport/report.js';

it('bench:transport --quick writes a JSON result with nonzero throughput', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'partisan-bench-'));
  try {
    const json = join(dir, 'transport.json');
    const transports = ['quic', 'quinn-binding', 'node-net'];
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'native-bench/transport/run.ts', '--quick', '--transports', transports.join(','), '--streams', '1', '--sizes', '100', '--json', json],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, output);

    const result = JSON.parse(await readFile(json, 'utf8')) as BenchResult;
    assert.equal(result.scenario, 'transport');
    assert.ok(result.env.commit && result.env.node && result.env.cpu && result.env.cores > 0 && result.env.date);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(result.runs.map((r) => r.variant).sort(), transports.map((t) => `${t}/1s/100B`).sort());
    for (const run of result.runs) {
      assert.ok(run.metrics.msgsPerSec > 0, `${run.variant} msgs/s`);
      assert.ok(run.metrics.mbPerSec > 0, `${run.variant} MB/s`);
      assert.ok(run.metrics.frames > 0, `${run.variant} frames`);
      assert.ok(run.metrics.latencyP99Ms >= run.metrics.latencyP50Ms, `${run.variant} latency percentiles`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
