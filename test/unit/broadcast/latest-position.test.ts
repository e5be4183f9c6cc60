import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pack } from 'msgpackr';
import { LatestPositionHandler, latestPosition, type LatestPositionOptions, type PositionRecord } from '../../../src/broadcast/latest-position.js';
import type { PositionExchangeBody } from '../../../src/broadcast/position-exchange.js';
import { BroadcastSim } from '../../../src/broadcast/sim.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { seededRandom } from '../../../src/util/random.js';

const fix = (vehicleId: string, ts: number, extra: Record<string, unknown> = {}): PositionRecord => ({ vehicleId, ts, lat: 48.1, lon: 11.6, ...extra });
const id = (key: string, ts: number) => ({ key, ts });

describe('latestPosition semantics', () => {
  it('newest timestamp wins; older and equal versions are stale', () => {
    const h = latestPosition();
    assert.equal(h.merge(id('v1', 10), fix('v1', 10)), true);
    assert.equal(h.merge(id('v1', 5), fix('v1', 5)), false);
    assert.equal(h.merge(id('v1', 10), fix('v1', 10)), false);
    assert.equal(h.merge(id('v1', 11), fix('v1', 11, { speed: 42 })), true);
    assert.equal(h.get('v1')?.speed, 42);
    assert.deepEqual(h.stats, { accepted: 2, repaired: 0, stale: 2, invalid: 0, updatesDropped: 0, listenerErrors: 0 });
  });

  it('isStale is true when the stored ts ≥ the id ts', () => {
    const h = latestPosition();
    assert.equal(h.isStale(id('v1', 1)), false);
    h.merge(id('v1', 10), fix('v1', 10));
    assert.deepEqual([9, 10, 11].map((ts) => h.isStale(id('v1', ts))), [true, true, false]);
  });

  it("graft returns the stored record only for its exact version, else 'stale'", () => {
    const h = latestPosition();
    h.merge(id('v1', 10), fix('v1', 10));
    assert.deepEqual(h.graft(id('v1', 10)), { ok: fix('v1', 10) });
    assert.equal(h.graft(id('v1', 9)), 'stale');
    assert.equal(h.graft(id('v2', 1)), 'stale');
  });

  it('broadcastData stores a copy and cancels when not newer; malformed input is a coded error', () => {
    const h = latestPosition();
    const record = { ...fix('v1', 10) };
    assert.deepEqual(h.broadcastData(record), { id: id('v1', 10), payload: fix('v1', 10) });
    assert.equal(h.broadcastData(fix('v1', 9)), undefined);
    assert.throws(() => h.broadcastData({ vehicleId: 'v1', lat: 1, lon: 2 } as never), (err) => isPartisanError(err, 'ERR_BROADCAST_INVALID_MESSAGE'));
  });

  it('merge refuses payloads that do not match their id or are malformed', () => {
    const h = latestPosition();
    assert.equal(h.merge(id('v1', 10), fix('v2', 10)), false);
    assert.equal(h.merge(id('v1', 10), fix('v1', 11)), false);
    assert.equal(h.merge(id('v1', 10), { vehicleId: 'v1', ts: 10 } as never), false);
    assert.equal(h.stats.invalid, 3);
    assert.equal(h.size, 0);
  });

  it('idKey tells versions and vehicles apart, even with separators in the key', () => {
    const h = latestPosition();
    assert.notEqual(h.idKey(id('a|1', 2)), h.idKey(id('a', 12)));
    assert.equal(h.idKey(id('v', 3)), h.idKey({ ts: 3, key: 'v' }));
  });
});

describe('latestPosition subscribers', () => {
  it('onUpdate sees every accepted update with its source; listener errors are isolated', () => {
    const h = latestPosition();
    const seen: string[] = [];
    const off = h.onUpdate((r, source) => seen.push(`${r.vehicleId}@${r.ts}:${source}`));
    h.onUpdate(() => {
      throw new Error('bad listener');
    });
    h.broadcastData(fix('v1', 1));
    h.merge(id('v1', 2), fix('v1', 2));
    h.merge(id('v1', 1), fix('v1', 1));
    off();
    h.merge(id('v1', 3), fix('v1', 3));
    assert.deepEqual(seen, ['v1@1:local', 'v1@2:broadcast']);
    assert.equal(h.stats.listenerErrors, 3);
  });

  it('the update buffer holds the newest record per vehicle and is bounded', () => {
    const h = latestPosition({ updateBufferSize: 3 });
    for (let v = 0; v < 5; v++) h.merge(id(`v${v}`, 1), fix(`v${v}`, 1));
    h.merge(id('v4', 2), fix('v4', 2));
    assert.equal(h.bufferedUpdates, 3);
    assert.equal(h.stats.updatesDropped, 2);
    assert.deepEqual(h.drainUpdates(2).map((r) => `${r.vehicleId}@${r.ts}`), ['v2@1', 'v3@1']);
    assert.deepEqual(h.drainUpdates().map((r) => `${r.vehicleId}@${r.ts}`), ['v4@2']);
    assert.deepEqual(h.drainUpdates(), []);
  });
});

/** Two replicas with overlapping, diverging contents, and the largest encoded message seen. */
function twoReplicas(keys: number, options: LatestPositionOptions, seed = 9) {
  const sizes = { max: 0, total: 0, messages: 0, maxRecords: 0, maxEntries: 0, maxHashes: 0, resumed: 0 };
  const sim = new BroadcastSim({
    seed,
    nodes: ['a', 'b'],
    handler: () => new LatestPositionHandler(options),
    plumtree: { exchangeTickPeriod: 0 },
    onSend: (_from, _to, msg) => {
      const bytes = pack(msg).length;
      sizes.max = Math.max(sizes.max, bytes);
      sizes.total += bytes;
      sizes.messages++;
      const bodies = (msg.t === 'x_req' ? [msg.body] : msg.t === 'x_rep' ? msg.bodies : []) as PositionExchangeBody[];
      for (const body of bodies) {
        if (body.k === 'records') sizes.maxRecords = Math.max(sizes.maxRecords, body.r.length);
        if (body.k === 'digest') sizes.maxEntries = Math.max(sizes.maxEntries, body.e.length);
        if (body.k === 'hashes') sizes.maxHashes = Math.max(sizes.maxHashes, body.h.length / 2);
        if (body.k === 'more') sizes.resumed++;
      }
    },
  });
  const random = seededRandom(seed);
  const a = sim.node('a').handler;
  const b = sim.node('b').handler;
  for (let i = 0; i < keys; i++) {
    const vehicleId = `veh-${i}`;
    const put = (h: LatestPositionHandler, ts: number) => h.merge(id(vehicleId, ts), fix(vehicleId, ts, { heading: random.int(360) }));
    const base = 1_700_000_000_000 + i;
    switch (random.int(4)) {
      case 0:
        put(a, base);
        break;
      case 1:
        put(b, base);
        break;
      default:
        put(a, base + random.int(3));
        put(b, base + random.int(3));
    }
  }
  const converged = (): boolean => a.size === b.size && [...a.values()].every((r) => b.get(r.vehicleId)?.ts === r.ts);
  return { sim, a, b, sizes, converged };
}

describe('latestPosition anti-entropy', () => {
  it('one exchange converges 10,000 keys between two replicas in bounded messages', (t) => {
    const { sim, a, sizes, converged } = twoReplicas(10_000, {});
    const newest = new Map<string, number>();
    for (const h of [sim.node('a').handler, sim.node('b').handler]) for (const r of h.values()) newest.set(r.vehicleId, Math.max(r.ts, newest.get(r.vehicleId) ?? 0));
    assert.ok(!converged());
    sim.inject('a', (sm) => sm.exchangeTick(sim.now));
    sim.run(10_000);
    assert.ok(converged());
    assert.equal(a.size, 10_000);
    for (const r of a.values()) assert.equal(r.ts, newest.get(r.vehicleId));
    assert.equal(sim.node('a').sm.metrics.exchangesCompleted, 1);
    t.diagnostic(`repair: ${sizes.messages} messages, ${sizes.total} bytes, largest ${sizes.max} bytes`);
    assert.ok(sizes.maxHashes <= 256 && sizes.maxEntries <= 512 && sizes.maxRecords <= 256);
    assert.ok(sizes.max <= 32 * 1024, `largest message ${sizes.max} bytes`);

    Object.assign(sizes, { max: 0, total: 0, messages: 0 });
    sim.inject('b', (sm) => sm.exchangeTick(sim.now));
    sim.run(10_000);
    t.diagnostic(`converged check: ${sizes.messages} messages, ${sizes.total} bytes`);
    assert.equal(sizes.messages, 8, 'in sync: 4 digest pages and 4 empty replies');
  });

  it('pages large buckets by key range and resumes with `more` (tiny limits)', () => {
    const options = { buckets: 4, hashesPerMessage: 3, entriesPerMessage: 8, recordsPerMessage: 16 };
    const { sim, a, b, sizes, converged } = twoReplicas(1000, options, 4);
    for (let i = 0; i < 300; i++) b.merge(id(`only-b-${i}`, 1), fix(`only-b-${i}`, 1));
    sim.inject('a', (sm) => sm.exchangeTick(sim.now));
    sim.run(60_000);
    assert.ok(converged(), `a ${a.size}, b ${b.size}`);
    assert.ok(sizes.maxRecords <= 16 && sizes.maxEntries <= 8 && sizes.maxHashes <= 3);
    assert.ok(sizes.resumed > 0, 'some ranges were resumed with `more`');
  });

  it('ignores malformed exchange bodies and records', () => {
    const h = latestPosition({ buckets: 8 });
    const reply = h.exchangeMessage('b', [null, { k: 'digest', b: 99, from: null, to: null, e: [] }, { k: 'records', r: [{ vehicleId: 1 }] }, { k: 'hashes', n: 16, start: 0, h: [] }]);
    assert.deepEqual(reply, []);
    assert.equal(h.stats.invalid, 1);
  });
});
