/**
 * The compiled package (dist/, built by `npm test` before the suites run) works on its own:
 * imported as JavaScript, it starts nodes whose broadcast channel runs in a worker thread
 * loaded from the compiled files (not through tsx).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const entry = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));

describe('the built package', () => {
  it('starts nodes and a worker-thread broadcast channel from dist/', { skip: existsSync(entry) ? false : 'dist/ not built (npm test builds it first)' }, async () => {
    const api = (await import(entry)) as typeof import('../../src/index.js');
    const memoryNetwork = new api.MemoryNetwork();
    const common = {
      transport: 'memory' as const,
      memoryNetwork,
      peerService: 'static' as const,
      channels: [{ name: 'gps', parallelism: 1 }],
      broadcast: { gps: { handler: 'latestPosition' } },
    };
    const a = await api.startNode({ ...common, name: 'a@built', host: 'a' });
    const b = await api.startNode({ ...common, name: 'b@built', host: 'b' });
    try {
      const up = new Promise((resolve) => b.onUp('a@built', resolve, { channel: 'gps' }));
      a.join(b.nodeSpec());
      b.join(a.nodeSpec());
      await up;
      const updates = b.subscribe('gps');
      a.broadcast({ vehicleId: 'veh-1', ts: 1, lat: 52.1, lon: 4.3 }, 'gps');
      const next = await updates.next();
      assert.equal(next.done, false);
      assert.equal((next.value as Array<{ vehicleId: string }>)[0]!.vehicleId, 'veh-1');
      await updates.return?.();
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
