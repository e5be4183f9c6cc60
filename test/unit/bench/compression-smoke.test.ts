/** `npm run bench:compression` still runs: both modes, nonzero traffic, the comparison computed. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { promisify } from 'node:util';

const script = fileURLToPath(new URL('../../../native-bench/compression/run.ts', import.meta.url));

it('compression --quick measures pool and inline in one run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-compression-'));
  try {
    const json = join(dir, 'c.json');
    await promisify(execFile)(process.execPath, ['--import', 'tsx', script, '--quick', '--json', json], { timeout: 120_000 });
    const doc = JSON.parse(readFileSync(json, 'utf8')) as {
      scenario: string;
      runs: Array<{ mode: string; metrics: { msgsPerSec: number; sender: { elu: number } } }>;
      summary: { mainThreadSaved: number };
    };
    assert.equal(doc.scenario, 'compression');
    assert.deepEqual(doc.runs.map((r) => r.mode), ['pool', 'inline']);
    for (const r of doc.runs) {
      assert.ok(r.metrics.msgsPerSec > 0, `${r.mode} moved messages`);
      assert.ok(r.metrics.sender.elu > 0 && r.metrics.sender.elu <= 1);
    }
    assert.equal(typeof doc.summary.mainThreadSaved, 'number');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
