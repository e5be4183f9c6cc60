import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import pino from 'pino';
import { startBroadcastLayer, type BroadcastLayerEvent, type BroadcastManager } from '../../../src/broadcast/broadcast-manager.js';
import { forEachFrame } from '../../../src/broadcast/frame-batch.js';
import type { BroadcastLayerHost } from '../../../src/broadcast/layer.js';
import type { PositionRecord } from '../../../src/broadcast/latest-position.js';
import { ConnectionTable } from '../../../src/connections/connection-table.js';
import { systemClock } from '../../../src/util/clock.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { systemRandom } from '../../../src/util/random.js';
import { FrameType } from '../../../src/wire/frame.js';
import { decodeRawFrame, encodeFrame } from '../../../src/wire/frame-codec.js';
import { DEFAULT_WIRE_LIMITS } from '../../../src/wire/limits.js';
import type { FaultyPositionOptions } from '../../fixtures/handlers/faulty-position.js';

const FAULTY = new URL('../../fixtures/handlers/faulty-position.ts', import.meta.url).href;
const PEER = 'p@mem';

const fix = (v: string, ts: number): PositionRecord => ({ vehicleId: v, ts, lat: 1, lon: 2 });
/** Frames as the peer's lane would hand them over: one Message frame per record. */
const frames = (...records: PositionRecord[]): Uint8Array[] =>
  records.map((r) =>
    encodeFrame({ type: FrameType.Message, messages: [[0, { t: 'broadcast', id: { key: r.vehicleId, ts: r.ts }, payload: r, round: 0, root: PEER }]] }, 1 << 20),
  );
const size = (fs: Uint8Array[]) => fs.reduce((n, f) => n + f.length, 0);

function fakeHost() {
  const table = ConnectionTable.create({ channels: [{ name: 'default', parallelism: 1 }, { name: 'gps', parallelism: 1 }] });
  table.streamOpened(PEER, 'gps');
  const sent: Array<{ peer: string; bytes: Uint8Array }> = [];
  const host: BroadcastLayerHost = {
    node: 'me@mem',
    clock: systemClock,
    random: systemRandom,
    logger: pino({ level: 'silent' }),
    limits: DEFAULT_WIRE_LIMITS,
    table: table.handle(),
    sendEncoded: (peer, _channel, bytes) => {
      sent.push({ peer, bytes: Uint8Array.from(bytes) });
      return true;
    },
    members: () => [PEER],
  };
  return { host, sent };
}

/** Resolves with the bytes `raw` reports consumed. */
function raw(layer: BroadcastManager, fs: Uint8Array[]): Promise<number> {
  return new Promise((resolve) => layer.raw(PEER, 'gps', fs, size(fs), resolve));
}

function event(layer: BroadcastManager, match: (e: BroadcastLayerEvent) => boolean): Promise<BroadcastLayerEvent> {
  return new Promise((resolve) => {
    const off = layer.onEvent((e) => {
      if (match(e)) {
        off();
        resolve(e);
      }
    });
  });
}

const faulty = (options: FaultyPositionOptions, extra: Record<string, unknown> = {}) => ({
  gps: { handler: { module: FAULTY, options }, restartBackoff: { initialMs: 100, maxMs: 100 }, ...extra },
});

let layer: BroadcastManager | undefined;
afterEach(async () => {
  await layer?.stop();
  layer = undefined;
});

for (const worker of ['gps', false] as const) {
  describe(`BroadcastManager (${worker === false ? 'main thread' : 'worker'})`, () => {
    it('hands a raw batch over in one post, releases its credit once processed, and delivers updates', async () => {
      const { host } = fakeHost();
      layer = await startBroadcastLayer(host, { gps: { worker } });
      const sub = layer.subscribe('gps');
      const before = layer.stats().postsToGroups;
      const batch = frames(...Array.from({ length: 10 }, (_, i) => fix(`v${i}`, 1)));
      assert.equal(await raw(layer, batch), size(batch));
      assert.equal(layer.stats().postsToGroups - before, 1);
      assert.equal(layer.stats().framesToGroups, 10);
      const got = (await sub.next()).value as PositionRecord[];
      assert.equal(got.length, 10);
    });

    it('sends local broadcasts to members as encoded Message frames, batched', async () => {
      const { host, sent } = fakeHost();
      layer = await startBroadcastLayer(host, { gps: { worker } });
      const sub = layer.subscribe('gps');
      for (let i = 0; i < 50; i++) layer.broadcast('gps', fix(`v${i}`, 1));
      assert.equal((await sub.next()).value!.length, 50);
      const messages: unknown[] = [];
      for (const s of sent) {
        assert.equal(s.peer, PEER);
        forEachFrame(s.bytes, (f) => {
          const frame = decodeRawFrame(f);
          assert.equal(frame.type, FrameType.Message);
          if (frame.type === FrameType.Message) messages.push(...frame.messages.map((e) => e[1]));
        });
      }
      assert.equal(messages.length, 50);
      assert.equal(layer.stats().broadcastBatches, 1);
      assert.throws(() => layer!.broadcast('gps', { vehicleId: 'x' }), (err) => isPartisanError(err, 'ERR_BROADCAST_INVALID_MESSAGE'));
      assert.throws(() => layer!.broadcast('other', fix('x', 1)), (err) => isPartisanError(err, 'ERR_UNKNOWN_CHANNEL'));
    });

    it('answers queries and ends subscriptions on stop', async () => {
      const { host } = fakeHost();
      layer = await startBroadcastLayer(host, { gps: { worker } });
      assert.deepEqual(await layer.broadcastMembers('gps'), [PEER]);
      layer.setMembers([PEER, 'q@mem', 'me@mem']);
      assert.deepEqual(await layer.broadcastMembers('gps'), [PEER, 'q@mem']);
      assert.deepEqual(await layer.exchanges('gps'), []);
      assert.equal(await layer.cancelExchanges('gps', 'all'), 0);
      await assert.rejects(layer.cancelExchanges('gps', 'some'), (err) => isPartisanError(err, 'ERR_INVALID_OPTION'));
      const m = await layer.metrics();
      assert.equal(m.gps!.members, 2);
      assert.equal(m.gps!.restarts, 0);
      const sub = layer.subscribe('gps');
      const pending = sub.next();
      await layer.stop();
      assert.deepEqual(await pending, { value: undefined, done: true });
    });

    it('fails to start with ERR_INVALID_OPTION when the handler module cannot be loaded', async () => {
      const { host } = fakeHost();
      await assert.rejects(
        startBroadcastLayer(host, { gps: { worker, handler: { module: '/nonexistent/handler.js' } } }),
        (err) => isPartisanError(err, 'ERR_INVALID_OPTION') && String(err.details.field).startsWith('broadcast.gps.handler'),
      );
      await assert.rejects(
        startBroadcastLayer(host, { gps: { worker, handler: { module: FAULTY, export: 'missing' } } }),
        (err) => isPartisanError(err, 'ERR_INVALID_OPTION') && err.details.field === 'broadcast.gps.handler.export',
      );
    });
  });
}

describe('BroadcastManager worker restarts', () => {
  it('drops frames while the worker restarts (credit released), keeps local broadcasts, re-sends members', async () => {
    const { host, sent } = fakeHost();
    layer = await startBroadcastLayer(host, faulty({ vehicle: 'boom', fault: 'crash' }));
    const sub = layer.subscribe('gps');
    const down = event(layer, (e) => e.type === 'down');
    const ready = event(layer, (e) => e.type === 'ready' && e.restarted);
    await raw(layer, frames(fix('boom', 1)));
    assert.equal((await down).type === 'down' && (await down as { reason: string }).reason, 'crash');
    assert.equal(layer.groupOf('gps').state, 'restarting');
    const dropped = frames(fix('lost', 1), fix('lost2', 1));
    assert.equal(await raw(layer, dropped), size(dropped), 'credit comes back at once');
    layer.broadcast('gps', fix('kept', 1));
    await ready;
    const updates = new Set<string>();
    while (!updates.has('kept')) for (const u of (await sub.next()).value as PositionRecord[]) updates.add(u.vehicleId);
    assert.ok(sent.length > 0, 'the broadcast held during the restart went out afterwards');
    assert.deepEqual(await layer.broadcastMembers('gps'), [PEER]);
    const m = (await layer.metrics('gps')).gps!;
    assert.equal(m.restarts, 1);
    assert.equal(m.framesDroppedRestarting, 2);
    assert.equal(m.bytesDroppedRestarting, size(dropped));
  });

  it('terminates a worker stuck in its handler and gives back the credit of the batches it held', async () => {
    const { host } = fakeHost();
    layer = await startBroadcastLayer(host, faulty({ vehicle: 'spin', fault: 'loop' }, { heartbeatInterval: 100, heartbeatTimeout: 1000 }));
    const down = event(layer, (e) => e.type === 'down');
    void raw(layer, frames(fix('spin', 1)));
    const held = frames(fix('held', 1));
    const released = raw(layer, held);
    assert.equal((await down).type === 'down' && (await down as { reason: string }).reason, 'heartbeat');
    assert.equal(await released, size(held));
    assert.ok((await layer.metrics('gps')).gps!.batchesLost! >= 1);
    await event(layer, (e) => e.type === 'ready');
  });
});
