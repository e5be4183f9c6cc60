import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fix, layer, seen, startCluster, type Cluster } from './broadcast-cluster.js';

const clusters: Cluster[] = [];
after(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
});

describe('broadcast on gps with latestPosition (worker threads)', () => {
  it('reaches every node from two origins', async () => {
    const cluster = await startCluster(4, { gps: { handler: 'latestPosition' } });
    clusters.push(cluster);
    const [a, b] = cluster.nodes;
    const subs = cluster.nodes.map((n) => n.subscribe('gps'));
    const want = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      a!.broadcast(fix(`a-${i % 50}`, i), 'gps');
      b!.broadcast(fix(`b-${i % 50}`, i), 'gps');
      want.set(`a-${i % 50}`, i);
      want.set(`b-${i % 50}`, i);
    }
    const states = await Promise.all(subs.map((s) => seen(s, want)));
    for (const state of states) assert.deepEqual(new Map([...state].sort()), new Map([...want].sort()));
    const metrics = await layer(a!).metrics('gps');
    console.log(JSON.stringify(metrics), layer(a!).stats(), layer(cluster.nodes[2]!).stats());
  });
});
