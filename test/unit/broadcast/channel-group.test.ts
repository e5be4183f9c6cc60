import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveBroadcastConfig } from '../../../src/broadcast/channel-config.js';
import { ChannelGroup } from '../../../src/broadcast/channel-group.js';
import { concatFrames } from '../../../src/broadcast/frame-batch.js';
import type { GroupEvent } from '../../../src/broadcast/worker-protocol.js';
import { ConnectionTable } from '../../../src/connections/connection-table.js';
import { FakeClock } from '../../../src/util/clock.js';
import { seededRandom } from '../../../src/util/random.js';
import { FrameType } from '../../../src/wire/frame.js';
import { encodeFrame } from '../../../src/wire/frame-codec.js';

async function group() {
  const events: GroupEvent[] = [];
  const table = ConnectionTable.create({ channels: [{ name: 'gps', parallelism: 1 }, { name: 'fleet', parallelism: 1 }] });
  table.streamOpened('p', 'gps');
  table.streamOpened('p', 'fleet');
  const g = await ChannelGroup.start(
    {
      node: 'me',
      group: 'g',
      channels: resolveBroadcastConfig({ gps: { worker: 'g' }, fleet: { worker: 'g' } }),
      table: table.handle(),
      maxFrameSize: 1 << 20,
      members: ['p'],
      subscribed: ['gps', 'fleet'],
      restarted: false,
    },
    { clock: new FakeClock(), random: seededRandom(1), emit: (e) => events.push(e) },
  );
  return { g, events };
}

const frame = (v: string) =>
  encodeFrame({ type: FrameType.Message, messages: [[0, { t: 'broadcast', id: { key: v, ts: 1 }, payload: { vehicleId: v, ts: 1, lat: 0, lon: 0 }, round: 0, root: 'p' }]] }, 1 << 20);

describe('ChannelGroup', () => {
  it('emits one output per turn for everything its channels produced', async () => {
    const { g, events } = await group();
    {
      g.handle({ t: 'in', id: 1, channel: 'gps', from: 'p', data: concatFrames([frame('a'), frame('b')]) });
      g.handle({ t: 'in', id: 2, channel: 'fleet', from: 'p', data: concatFrames([frame('c')]) });
      g.handle({ t: 'bcast', items: [['gps', { vehicleId: 'd', ts: 1, lat: 0, lon: 0 }], ['fleet', { vehicleId: 'e', ts: 1, lat: 0, lon: 0 }]] });
      g.flush();
      assert.equal(events.length, 1);
      const out = events[0]!.t === 'out' ? events[0]!.out : undefined;
      assert.deepEqual(out?.consumed, [1, 2]);
      assert.deepEqual(out?.updates.map(([c, items]) => [c, items.length]), [['gps', 3], ['fleet', 2]]);
      assert.deepEqual(out?.sends.map((s) => [s.peer, s.channel]), [['p', 'gps'], ['p', 'fleet']]);
      g.stop();
    }
  });

  it('answers pings at once and requests with results or coded errors', async () => {
    const { g, events } = await group();
    g.handle({ t: 'ping', seq: 7 });
    g.handle({ t: 'req', id: 1, op: 'broadcastMembers', channels: ['gps'] });
    g.handle({ t: 'req', id: 2, op: 'metrics', channels: ['nope'] });
    assert.deepEqual(events[0], { t: 'pong', seq: 7 });
    assert.deepEqual(events[1], { t: 'res', id: 1, ok: true, value: ['p'] });
    assert.ok(events[2]!.t === 'res' && !events[2]!.ok && events[2]!.error.code === 'ERR_UNKNOWN_CHANNEL');
    g.stop();
  });
});
