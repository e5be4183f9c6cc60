/** `npm run bench -- fanout` still runs: the broadcast bench wrapped into the suite's document shape. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runQuick } from './run-bench.js';

it('fanout --quick wraps the broadcast bench', async () => {
  const { doc } = await runQuick('fanout', ['--nodes', '2']);
  assert.ok(doc.runs.length > 0, JSON.stringify(doc.skipped));
  for (const run of doc.runs) {
    assert.match(run.variant, /^(worker|main)\/2-receivers$/);
    assert.ok((run.metrics.msgsPerSec ?? 0) > 0, run.variant);
  }
});
