import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChannelDriver } from '../../../src/broadcast/channel-driver.js';
import { forEachFrame } from '../../../src/broadcast/frame-batch.js';
import type { BroadcastHandler } from '../../../src/broadcast/handler.js';
import { latestPosition, type PositionRecord } from '../../../src/broadcast/latest-position.js';
import { MemoryBroadcastHandler } from '../../../src/broadcast/memory-handler.js';
import { FakeClock } from '../../../src/util/clock.js';
import { seededRandom } from '../../../src/util/random.js';
import { FrameType } from '../../../src/wire/frame.js';
import { encodeFrame } from '../../../src/wire/frame-codec.js';
import { DriverNet } from './driver-net.js';

const fix = (vehicleId: string, ts: number): PositionRecord => ({ vehicleId, ts, lat: 1, lon: 2 });
const positions = () => latestPosition() as unknown as BroadcastHandler<unknown, unknown>;
const vehicles = (updates: unknown[]) => new Map((updates as PositionRecord[]).map((u) => [u.vehicleId, u.ts]));

describe('ChannelDriver', () => {
  it('delivers broadcasts to every node, batching messages per peer into frames and updates per turn', () => {
    const net = new DriverNet(['a', 'b', 'c'], positions);
    net.get('a').broadcast(Array.from({ length: 100 }, (_, i) => fix(`v${i}`, 1)));
    net.pump();
    for (const n of ['a', 'b', 'c']) assert.equal(vehicles(net.updatesOf(n)).size, 100, n);
    // One turn: a's 100 eager pushes to each peer leave as one buffer per peer, one frame each.
    const fromA = net.sends.filter((s) => s.peer !== 'a').slice(0, 2);
    assert.deepEqual(fromA.map((s) => s.peer).sort(), ['b', 'c']);
    const m = net.get('a').metrics();
    assert.equal(m.messagesOut, 200 + m.prunesSent!);
    assert.ok(m.framesOut! <= 4, `framesOut ${m.framesOut}`);
    assert.equal(net.updates.get('b')!.length, 1, 'b got its 100 updates as one batch');
    net.stop();
  });

  it('repairs a lost eager push with i_have and graft on the fake clock', () => {
    const net = new DriverNet(['a', 'b', 'c'], positions, { exchangeTickPeriod: 0 });
    // The first broadcast floods; c gets a's copy first and prunes b for root a.
    net.get('a').broadcast([fix('v1', 1)]);
    net.pump();
    net.cut.add('a>c');
    net.get('a').broadcast([fix('v2', 1)]);
    net.pump();
    assert.equal(vehicles(net.updatesOf('c')).has('v2'), false);
    // b announces v2 on its lazy tick; c waits graftTimeout, then grafts it from b.
    net.advance(1500);
    assert.equal(vehicles(net.updatesOf('c')).get('v2'), 1);
    assert.ok(net.get('c').metrics().graftsSent! >= 1);
    assert.ok(net.get('b').metrics().iHavesSent! >= 1);
    net.stop();
  });

  it('counts malformed frames and non-Plumtree messages instead of failing', () => {
    const net = new DriverNet(['a', 'b'], positions);
    const bad = encodeFrame({ type: FrameType.Message, messages: [[0, { t: 'nonsense' }]] }, 1 << 20);
    const control = encodeFrame({ type: FrameType.Control, body: { t: 'ping' } }, 1 << 20);
    const garbage = Uint8Array.from([0, 0, 0, 2, FrameType.Message, 0xc1, 0xc1]);
    net.get('b').receive('a', Buffer.concat([bad, control, garbage]));
    const m = net.get('b').metrics();
    assert.equal(m.malformedIn, 2);
    assert.equal(m.ignoredFrames, 1);
    net.stop();
  });

  it('starts catch-up exchanges at once after a restart and refills the empty handler from a peer', () => {
    const net = new DriverNet(['a', 'b', 'c'], positions);
    net.get('a').broadcast(Array.from({ length: 50 }, (_, i) => fix(`v${i}`, 1)));
    net.pump();
    net.start('b', true);
    net.pump();
    // No time passed: the exchange ran on restart, not on the periodic tick.
    assert.equal(net.clock.now(), 0);
    const m = net.get('b').metrics();
    assert.ok(m.catchUpExchanges! >= 1);
    assert.equal(m['handler.repaired'], 50);
    assert.equal(vehicles(net.updatesOf('b')).size, 50);
    net.stop();
  });

  it('keeps updates only while subscribed, bounded with drop-oldest', () => {
    const clock = new FakeClock();
    const driver = new ChannelDriver({
      node: 'a',
      channel: 'gps',
      handler: positions(),
      clock,
      random: seededRandom(1),
      maxFrameSize: 1 << 20,
      members: [],
      isConnected: () => true,
      updateBuffer: 3,
      wake: () => {},
    });
    const collect = () => {
      const updates: Array<[string, unknown[]]> = [];
      driver.collect([], updates);
      return updates.flatMap(([, items]) => items) as PositionRecord[];
    };
    driver.broadcast([fix('x', 1)]);
    assert.deepEqual(collect(), []);
    driver.setSubscribed(true);
    driver.broadcast([1, 2, 3, 4, 5].map((i) => fix(`v${i}`, 1)));
    assert.deepEqual(collect().map((r) => r.vehicleId), ['v3', 'v4', 'v5']);
    assert.equal(driver.metrics().updatesDropped, 2);
    driver.stop();
    assert.equal(clock.pending(), 0, 'stop clears the timer');
  });

  it('runs asynchronous handlers, feeding outcomes back, and keeps local broadcast order', async () => {
    class AsyncMemory extends MemoryBroadcastHandler<string> {
      override broadcastData(m: { id: string; payload: string }) {
        return Promise.resolve(super.broadcastData(m)) as never;
      }
      override merge(id: string, payload: string) {
        return Promise.resolve(super.merge(id, payload)) as never;
      }
    }
    const net = new DriverNet(['a', 'b'], () => new AsyncMemory() as unknown as BroadcastHandler<unknown, unknown>);
    net.get('a').broadcast([{ id: '1', payload: 'one' }]);
    net.get('a').broadcast([{ id: '2', payload: 'two' }, { id: '3', payload: 'three' }]);
    for (let i = 0; i < 20; i++) {
      await Promise.resolve();
      net.pump();
    }
    assert.deepEqual(net.updatesOf('a'), ['one', 'two', 'three']);
    assert.deepEqual(net.updatesOf('b').sort(), ['one', 'three', 'two']);
    net.stop();
  });

  it('counts a broadcastData that throws as a failure and keeps going', () => {
    const net = new DriverNet(['a', 'b'], positions);
    net.get('a').broadcast([{ nope: true }, fix('v', 1)]);
    net.pump();
    assert.equal(net.get('a').metrics().broadcastFailures, 1);
    assert.equal(vehicles(net.updatesOf('b')).get('v'), 1);
    net.stop();
  });

  it('cuts outgoing frames to bounded sizes', () => {
    const net = new DriverNet(['a', 'b'], positions);
    const big = 'x'.repeat(2000);
    net.get('a').broadcast(Array.from({ length: 200 }, (_, i) => ({ ...fix(`v${i}`, 1), big })));
    net.pump();
    const toB = net.sends.filter((s) => s.peer === 'b');
    assert.equal(toB.length, 1, 'one buffer for the turn');
    const sizes: number[] = [];
    forEachFrame(toB[0]!.bytes, (frame) => sizes.push(frame.length));
    assert.ok(sizes.length >= 5, `${sizes.length} frames for ~400 KB`);
    assert.ok(Math.max(...sizes) <= 64 * 1024 + 8 * 1024, `largest frame ${Math.max(...sizes)}`);
    assert.equal(vehicles(net.updatesOf('b')).size, 200);
    net.stop();
  });
});
