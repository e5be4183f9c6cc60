import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionTable } from '../../../src/connections/connection-table.js';
import { waitAsync } from '../../../src/util/atomics.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { siblingModuleUrl, startWorker } from '../../../src/util/worker.js';

const channels = [
  { name: 'default', parallelism: 1 },
  { name: 'gps', parallelism: 4 },
];

describe('connection table', () => {
  it('counts streams per node and channel', () => {
    const t = ConnectionTable.create({ maxPeers: 4, channels });
    assert.equal(t.isConnected('a@h'), false);
    t.streamOpened('a@h', 'default');
    assert.equal(t.isConnected('a@h'), true);
    assert.equal(t.isConnected('a@h', 'default'), true);
    assert.equal(t.isConnected('a@h', 'gps'), false);
    assert.equal(t.isFullyConnected('a@h'), false);
    for (let i = 0; i < 4; i++) t.streamOpened('a@h', 'gps');
    assert.equal(t.isFullyConnected('a@h'), true);
    assert.deepEqual(t.connectedNodes('gps'), ['a@h']);
    t.streamClosed('a@h', 'gps');
    assert.equal(t.isFullyConnected('a@h'), false);
    assert.equal(t.openStreams('a@h', 'gps'), 3);
    t.nodeDisconnected('a@h');
    assert.equal(t.isConnected('a@h'), false);
    t.streamClosed('a@h', 'gps');
    assert.equal(t.openStreams('a@h', 'gps'), 0, 'never below zero');
  });

  it('reuses a released slot only with a new generation', () => {
    const t = ConnectionTable.create({ maxPeers: 1, channels });
    const slot = t.assignSlot('a@h');
    const gen = t.generation('a@h');
    assert.throws(() => t.assignSlot('b@h'), (err: unknown) => isPartisanError(err, 'ERR_CONNECTION_TABLE_FULL'));
    t.releaseSlot('a@h');
    assert.equal(t.slotOf('a@h'), -1);
    assert.equal(t.assignSlot('b@h'), slot);
    assert.equal(t.generation('b@h'), gen + 1);
  });

  it('rejects unknown channels and bad names with coded errors', () => {
    const t = ConnectionTable.create({ channels });
    assert.throws(() => t.streamOpened('a@h', 'bulk'), (err: unknown) => isPartisanError(err, 'ERR_UNKNOWN_CHANNEL'));
    assert.throws(() => t.assignSlot('x'.repeat(300)), (err: unknown) => isPartisanError(err, 'ERR_INVALID_OPTION'));
    assert.throws(() => ConnectionTable.create({ maxPeers: 0, channels }), /maxPeers/);
  });

  it('is read by a worker thread with no message round trip', async () => {
    const table = ConnectionTable.create({ maxPeers: 8, channels });
    const queries = [{ node: 'a@h' }, { node: 'a@h', channel: 'gps' }, { node: 'b@h' }];
    const control = new SharedArrayBuffer(4 * (2 + queries.length));
    const view = new Int32Array(control);
    const worker = startWorker(siblingModuleUrl(import.meta.url, './table-reader-worker'), {
      workerData: { table: table.handle(), control, queries },
    });
    const messages: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    const errors: Error[] = [];
    worker.on('error', (e) => errors.push(e));

    let step = 0;
    async function ask(): Promise<number[]> {
      step++;
      Atomics.store(view, 0, step);
      Atomics.notify(view, 0);
      for (;;) {
        const seen = Atomics.load(view, 1);
        if (seen === step) break;
        await waitAsync(view, 1, seen, 10_000);
      }
      return queries.map((_, i) => Atomics.load(view, 2 + i));
    }
    const decode = (x: number): { connected: boolean; full: boolean; generation: number } => ({
      connected: (x & 1) === 1,
      full: (x & 2) === 2,
      generation: (x >> 2) - 1,
    });

    let answers = (await ask()).map(decode);
    assert.deepEqual(answers[0], { connected: false, full: false, generation: -1 });

    table.streamOpened('a@h', 'default');
    answers = (await ask()).map(decode);
    assert.equal(answers[0]!.connected, true);
    assert.equal(answers[1]!.connected, false, 'no gps stream yet');

    for (let i = 0; i < 4; i++) table.streamOpened('a@h', 'gps');
    answers = (await ask()).map(decode);
    assert.equal(answers[1]!.connected, true);
    assert.equal(answers[0]!.full, true);

    table.streamOpened('b@h', 'gps');
    answers = (await ask()).map(decode);
    assert.equal(answers[2]!.connected, true);
    assert.equal(answers[2]!.full, false);

    table.nodeDisconnected('a@h');
    answers = (await ask()).map(decode);
    assert.equal(answers[0]!.connected, false, 'a killed connection is seen at once');
    assert.equal(answers[0]!.full, false);

    const genBefore = answers[0]!.generation;
    table.releaseSlot('a@h');
    table.streamOpened('a@h', 'default');
    answers = (await ask()).map(decode);
    assert.equal(answers[0]!.connected, true);

    Atomics.store(view, 0, -1);
    Atomics.notify(view, 0);
    await new Promise((resolve) => worker.once('exit', resolve));
    assert.deepEqual(errors, []);
    assert.deepEqual(messages, [], 'the worker never needed a message');
    assert.ok(genBefore >= 0);
  });
});
