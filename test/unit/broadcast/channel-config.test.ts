import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupSettings, resolveBroadcastConfig } from '../../../src/broadcast/channel-config.js';
import { isPartisanError } from '../../../src/util/errors.js';

function rejects(config: Record<string, unknown>, field: string): void {
  assert.throws(
    () => resolveBroadcastConfig(config),
    (err) => isPartisanError(err, 'ERR_INVALID_OPTION') && err.details.field === field,
    `expected ERR_INVALID_OPTION on ${field}`,
  );
}

describe('resolveBroadcastConfig', () => {
  it('fills the documented defaults', () => {
    const [gps] = resolveBroadcastConfig({ gps: {} });
    assert.deepEqual(gps, {
      name: 'gps',
      handler: 'latestPosition',
      group: 'gps',
      plumtree: {},
      heartbeatInterval: 1000,
      heartbeatTimeout: 5000,
      startTimeout: 30_000,
      restartBackoff: { initialMs: 100, maxMs: 10_000 },
      catchUpExchanges: 2,
      subscriberBuffer: 10_000,
      maxPendingBroadcasts: 10_000,
    });
  });

  it('takes worker groups, the main thread, and handler modules by path or URL', () => {
    const [a, b, c] = resolveBroadcastConfig({
      a: { worker: 'shared', handler: { module: '/opt/h.js', export: 'make', options: { k: 1 } } },
      b: { worker: false, handler: { module: 'file:///opt/h.js' } },
      c: { worker: 'shared' },
    });
    assert.equal(a!.group, 'shared');
    assert.deepEqual(a!.handler, { module: 'file:///opt/h.js', export: 'make', options: { k: 1 } });
    assert.equal(b!.group, null);
    assert.deepEqual(b!.handler, { module: 'file:///opt/h.js', export: 'default', options: undefined });
    assert.equal(c!.group, 'shared');
  });

  it('rejects bad values naming the field', () => {
    rejects({ gps: { handler: 'fancy' } }, 'broadcast.gps.handler');
    rejects({ gps: { handler: { module: './relative.js' } } }, 'broadcast.gps.handler.module');
    rejects({ gps: { handler: { module: 'https://example.com/h.js' } } }, 'broadcast.gps.handler.module');
    rejects({ gps: { handler: { module: '/h.js', options: { f: () => 1 } } } }, 'broadcast.gps.handler.options');
    rejects({ gps: { worker: true } }, 'broadcast.gps.worker');
    rejects({ gps: { heartbeatInterval: 5 } }, 'broadcast.gps.heartbeatInterval');
    rejects({ gps: { heartbeatInterval: 2000, heartbeatTimeout: 1000 } }, 'broadcast.gps.heartbeatTimeout');
    rejects({ gps: { restartBackoff: { initialMs: -1 } } }, 'broadcast.gps.restartBackoff.initialMs');
    rejects({ gps: { plumtree: { lazyTickPeriod: 0 } } }, 'broadcast.gps.plumtree.lazyTickPeriod');
    rejects({ gps: { plumtree: { nope: 1 } } }, 'broadcast.gps.plumtree.nope');
    rejects({ gps: { typo: 1 } }, 'broadcast.gps.typo');
    rejects({ gps: 3 }, 'broadcast.gps');
  });

  it('gives a shared worker the strictest settings of its channels', () => {
    const channels = resolveBroadcastConfig({
      a: { worker: 'w', heartbeatTimeout: 9000, restartBackoff: { initialMs: 50 } },
      b: { worker: 'w', heartbeatTimeout: 3000 },
    });
    assert.deepEqual(groupSettings(channels), {
      heartbeatInterval: 1000,
      heartbeatTimeout: 3000,
      startTimeout: 30_000,
      restartBackoff: { initialMs: 50, maxMs: 10_000 },
    });
  });
});
