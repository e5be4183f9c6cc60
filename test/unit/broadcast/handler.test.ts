import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalIdKey, type BroadcastHandler } from '../../../src/broadcast/handler.js';
import { invokeHandler, invokeHandlerSync } from '../../../src/broadcast/handler-calls.js';
import { MemoryBroadcastHandler } from '../../../src/broadcast/memory-handler.js';
import { isPlumtreeMessage } from '../../../src/broadcast/messages.js';
import { resolvePlumtreeOptions } from '../../../src/broadcast/options.js';
import { isPartisanError } from '../../../src/util/errors.js';

describe('broadcast handler calls', () => {
  it('run synchronously against a synchronous handler', () => {
    const h = new MemoryBroadcastHandler<string>();
    assert.deepEqual(invokeHandlerSync(h, { type: 'merge', ref: 1, id: 'm', payload: 'x', from: 'b', hops: 1 }), { type: 'merge', isNew: true });
    assert.deepEqual(invokeHandlerSync(h, { type: 'isStale', ref: 2, ids: ['m', 'n'] }), { type: 'isStale', stale: [true, false] });
    assert.deepEqual(invokeHandlerSync(h, { type: 'graft', ref: 3, id: 'm', from: 'b' }), { type: 'graft', result: { ok: 'x' } });
    assert.deepEqual(invokeHandlerSync(h, { type: 'exchange', ref: 4, xid: 1, peer: 'b' }), { type: 'exchange', start: 'ignore' });
  });

  it('await asynchronous handlers, and turn throws and rejections into failed outcomes', async () => {
    const slow: BroadcastHandler<string, string> = {
      idKey: (id) => id,
      broadcastData: () => undefined,
      merge: async () => true,
      isStale: async (id) => id === 'old',
      graft: () => {
        throw new Error('boom');
      },
      exchange: async () => Promise.reject(new Error('no')),
      exchangeMessage: () => [],
    };
    assert.deepEqual(await invokeHandler(slow, { type: 'merge', ref: 1, id: 'm', payload: 'x', from: 'b', hops: 1 }), { type: 'merge', isNew: true });
    assert.deepEqual(await invokeHandler(slow, { type: 'isStale', ref: 2, ids: ['old', 'new'] }), { type: 'isStale', stale: [true, false] });
    assert.equal((await invokeHandler(slow, { type: 'graft', ref: 3, id: 'm', from: 'b' })).type, 'failed');
    assert.equal((await invokeHandler(slow, { type: 'exchange', ref: 4, xid: 1, peer: 'b' })).type, 'failed');
    assert.throws(() => invokeHandlerSync(slow as never, { type: 'merge', ref: 5, id: 'm', payload: 'x', from: 'b', hops: 1 }), TypeError);
  });

  it('canonicalIdKey is equal for equal ids whatever the key order, different otherwise', () => {
    assert.equal(canonicalIdKey({ a: 1, b: [1, 'x'] }), canonicalIdKey({ b: [1, 'x'], a: 1 }));
    assert.notEqual(canonicalIdKey('1'), canonicalIdKey(1));
    assert.notEqual(canonicalIdKey(new Uint8Array([1, 2])), canonicalIdKey(new Uint8Array([1, 3])));
  });
});

describe('plumtree messages and options', () => {
  it('isPlumtreeMessage accepts the wire shapes and rejects the rest', () => {
    assert.ok(isPlumtreeMessage({ t: 'broadcast', id: 'm', payload: 1, round: 0, root: 'a' }));
    assert.ok(isPlumtreeMessage({ t: 'i_have', items: [['m', 1, 'a']] }));
    assert.ok(isPlumtreeMessage({ t: 'ignored_i_have', ids: ['m'] }));
    assert.ok(isPlumtreeMessage({ t: 'x_rep', xid: 1, bodies: [] }));
    assert.ok(!isPlumtreeMessage({ t: 'broadcast', id: 'm', payload: 1, round: -1, root: 'a' }));
    assert.ok(!isPlumtreeMessage({ t: 'i_have', items: [['m', 1]] }));
    assert.ok(!isPlumtreeMessage({ t: 'gossip' }));
    assert.ok(!isPlumtreeMessage(null));
  });

  it('resolvePlumtreeOptions fills the documented defaults', () => {
    assert.deepEqual(resolvePlumtreeOptions(), {
      lazyTickPeriod: 1000,
      graftTimeout: 200,
      graftRetryTimeout: 100,
      exchangeTickPeriod: 10_000,
      exchangeLimit: 1,
      exchangeSelection: 'optimized',
      exchangeTimeout: 60_000,
      initialEagerPeers: Infinity,
      maxOutstandingPerPeer: 10_000,
      maxMissing: 10_000,
      maxIHaveBatch: 1024,
      maxPendingCalls: 10_000,
      callTimeout: 30_000,
      maxTrees: 4096,
    });
  });

  it('rejects bad values and unknown keys with ERR_INVALID_OPTION naming the field', () => {
    const field = (options: object): unknown => {
      try {
        resolvePlumtreeOptions(options as never);
      } catch (err) {
        assert.ok(isPartisanError(err, 'ERR_INVALID_OPTION'));
        return err.details.field;
      }
      return undefined;
    };
    assert.equal(field({ lazyTickPeriod: 0 }), 'plumtree.lazyTickPeriod');
    assert.equal(field({ initialEagerPeers: 0 }), 'plumtree.initialEagerPeers');
    assert.equal(field({ exchangeSelection: 'best' }), 'plumtree.exchangeSelection');
    assert.equal(field({ lazyTick: 5 }), 'plumtree.lazyTick');
  });
});
