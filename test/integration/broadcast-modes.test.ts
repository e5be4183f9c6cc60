import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { fix, layer, seen, startCluster, type Cluster } from './broadcast-cluster.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** Two origins, 1,000 updates of 100 vehicles each, in waves; every node's final view. */
async function run(worker: string | false): Promise<Array<Map<string, number>>> {
  cluster = await startCluster(3, { gps: { worker } });
  const [a, b] = cluster.nodes;
  const subs = cluster.nodes.map((n) => n.subscribe('gps'));
  const want = new Map<string, number>();
  for (let wave = 0; wave < 10; wave++) {
    for (let i = 0; i < 100; i++) {
      const ts = wave * 100 + i;
      a!.broadcast(fix(`v-${i}`, 2 * ts), 'gps');
      b!.broadcast(fix(`v-${i}`, 2 * ts + 1), 'gps');
      want.set(`v-${i}`, 2 * ts + 1);
    }
    await turn();
  }
  const views = await Promise.all(subs.map((s) => seen(s, want)));
  const m = (await layer(a!).metrics('gps')).gps!;
  assert.equal(m.broadcasts, 1000);
  assert.equal(layer(a!).groupOf('gps').group, worker === false ? '(main thread)' : worker);
  await cluster.stop();
  cluster = undefined;
  return views.map((v) => new Map([...v].sort()));
}

describe('broadcast: worker thread vs main thread', () => {
  it('gives the same results', async () => {
    const inWorker = await run('gps-worker');
    const onMain = await run(false);
    assert.deepEqual(onMain, inWorker);
    for (const view of onMain) assert.equal(view.get('v-99'), 1999);
  });
});
