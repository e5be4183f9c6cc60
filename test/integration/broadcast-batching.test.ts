import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { fix, layer, seen, startCluster, type Cluster } from './broadcast-cluster.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe('broadcast main ↔ worker traffic', () => {
  it('moves batches, not messages: postMessages stay far below the messages they carry', async () => {
    cluster = await startCluster(4, { gps: {} });
    const [a, b] = cluster.nodes;
    const subs = cluster.nodes.map((n) => n.subscribe('gps'));
    const want = new Map<string, number>();
    // 2 origins × 20 waves × 250 records, a turn of the event loop between waves.
    for (let wave = 0; wave < 20; wave++) {
      for (let i = 0; i < 250; i++) {
        const ts = wave * 250 + i;
        a!.broadcast(fix(`a-${i}`, ts), 'gps');
        b!.broadcast(fix(`b-${i}`, ts), 'gps');
        want.set(`a-${i}`, ts);
        want.set(`b-${i}`, ts);
      }
      await turn();
    }
    await Promise.all(subs.map((s) => seen(s, want)));

    let posts = 0;
    let messages = 0;
    for (const node of cluster.nodes) {
      const s = layer(node).stats();
      const m = (await layer(node).metrics('gps')).gps!;
      posts += s.postsToGroups + s.messagesFromGroups;
      // Every Plumtree message in or out, every local broadcast and every update crossed the boundary.
      messages += m.messagesIn! + m.messagesOut! + s.broadcastsToGroups + s.updatesFromGroups;
    }
    console.log(`posts ${posts}, messages ${messages}, ${(messages / posts).toFixed(1)} per post`);
    assert.ok(posts * 20 < messages, `${posts} postMessages for ${messages} messages`);
  });

  it('runs channels of one worker group in one worker', async () => {
    cluster = await startCluster(2, { gps: { worker: 'telemetry' }, fleet: { worker: 'telemetry' } }, ['fleet']);
    const [a, b] = cluster.nodes;
    assert.equal(layer(a!).groupOf('gps').group, 'telemetry');
    assert.equal(layer(a!).groupOf('fleet').group, 'telemetry');
    const gps = b!.subscribe('gps');
    const fleet = b!.subscribe('fleet');
    a!.broadcast(fix('g', 1), 'gps');
    a!.broadcast(fix('f', 2), 'fleet');
    assert.deepEqual([...(await seen(gps, new Map([['g', 1]])))], [['g', 1]]);
    assert.deepEqual([...(await seen(fleet, new Map([['f', 2]])))], [['f', 2]]);
    const m = await layer(b!).metrics();
    assert.deepEqual(Object.keys(m).sort(), ['fleet', 'gps']);
    assert.equal(m.gps!.delivered, 1);
    assert.equal(m.fleet!.delivered, 1);
  });
});
