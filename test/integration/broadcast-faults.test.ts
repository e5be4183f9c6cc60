import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { FaultyPositionOptions } from '../fixtures/handlers/faulty-position.js';
import { fix, layer, nextEvent, seen, startCluster, type Cluster } from './broadcast-cluster.js';

const FAULTY = new URL('../fixtures/handlers/faulty-position.ts', import.meta.url).href;

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function faulty(options: FaultyPositionOptions, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    gps: {
      handler: { module: FAULTY, options },
      restartBackoff: { initialMs: 50, maxMs: 1000 },
      ...extra,
    },
  };
}

function versions(prefix: string, from: number, to: number): Map<string, number> {
  const want = new Map<string, number>();
  for (let i = from; i < to; i++) want.set(`${prefix}-${i}`, i);
  return want;
}

describe('broadcast channel faults', () => {
  it('restarts a worker whose handler throws uncaught; the node lives and anti-entropy fills the gap', async () => {
    const once = new SharedArrayBuffer(4);
    cluster = await startCluster(3, faulty({ vehicle: 'boom', fault: 'crash', node: 'n1@mem', once }));
    const [a, b, c] = cluster.nodes as [NonNullable<Cluster['nodes'][0]>, NonNullable<Cluster['nodes'][0]>, NonNullable<Cluster['nodes'][0]>];
    const subB = b.subscribe('gps');
    const subC = c.subscribe('gps');

    const before = versions('v', 0, 20);
    for (const [v, ts] of before) a.broadcast(fix(v, ts), 'gps');
    const stateB = await seen(subB, before);
    await seen(subC, before);

    const down = nextEvent(b, (e) => e.type === 'down');
    const restarted = nextEvent(b, (e) => e.type === 'ready' && e.restarted);
    a.broadcast(fix('boom', 1), 'gps');
    const event = await down;
    assert.equal(event.type === 'down' && event.reason, 'crash');
    // Sent while n1's worker is down or restarting: its copy is dropped there, exchanges repair it.
    const during = versions('w', 0, 20);
    for (const [v, ts] of during) a.broadcast(fix(v, ts), 'gps');
    await restarted;

    // The new worker's store is empty: everything from before the crash comes back by anti-entropy.
    const all = new Map([...before, ...during, ['boom', 1]]);
    await seen(subB, all, stateB);
    const after = versions('x', 0, 5);
    for (const [v, ts] of after) a.broadcast(fix(v, ts), 'gps');
    await seen(subB, after, stateB);

    assert.equal(b.isStopped, false);
    const m = (await layer(b).metrics('gps')).gps!;
    assert.equal(m.restarts, 1);
    assert.ok(m['handler.repaired']! >= before.size, `repaired ${m['handler.repaired']}`);
    assert.ok(m.catchUpExchanges! >= 1);
    assert.equal((await layer(a).metrics('gps')).gps!.restarts, 0);
  });

  it('terminates and restarts a worker whose handler loops forever', async () => {
    const once = new SharedArrayBuffer(4);
    cluster = await startCluster(3, faulty({ vehicle: 'spin', fault: 'loop', node: 'n2@mem', once }, { heartbeatInterval: 100, heartbeatTimeout: 1000 }));
    const [a, , c] = cluster.nodes as [NonNullable<Cluster['nodes'][0]>, unknown, NonNullable<Cluster['nodes'][0]>];
    const subC = c.subscribe('gps');
    const down = nextEvent(c, (e) => e.type === 'down');
    const restarted = nextEvent(c, (e) => e.type === 'ready' && e.restarted);
    a.broadcast(fix('spin', 1), 'gps');
    const event = await down;
    assert.equal(event.type === 'down' && event.reason, 'heartbeat');
    await restarted;
    const later = versions('y', 0, 10);
    for (const [v, ts] of later) a.broadcast(fix(v, ts), 'gps');
    await seen(subC, new Map([...later, ['spin', 1]]));
    assert.equal((await layer(c).metrics('gps')).gps!.restarts, 1);
  });

  it('isolates a handler callback that throws: the call fails, the worker keeps running', async () => {
    cluster = await startCluster(3, faulty({ vehicle: 'bad', fault: 'throw', node: 'n1@mem' }));
    const [a, b] = cluster.nodes as [NonNullable<Cluster['nodes'][0]>, NonNullable<Cluster['nodes'][0]>];
    const subB = b.subscribe('gps');
    a.broadcast(fix('bad', 1), 'gps');
    const later = versions('z', 0, 10);
    for (const [v, ts] of later) a.broadcast(fix(v, ts), 'gps');
    await seen(subB, later);
    const m = (await layer(b).metrics('gps')).gps!;
    assert.ok(m.handlerFailures! >= 1);
    assert.equal(m.restarts, 0);
  });
});
