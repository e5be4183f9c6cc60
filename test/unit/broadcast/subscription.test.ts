import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedQueue } from '../../../src/broadcast/bounded-queue.js';
import { Subscription } from '../../../src/broadcast/subscription.js';

describe('BoundedQueue', () => {
  it('drops the oldest beyond its capacity and counts them', () => {
    const q = new BoundedQueue<number>(3);
    q.pushAll([1, 2, 3, 4, 5]);
    assert.equal(q.length, 3);
    assert.equal(q.dropped, 2);
    assert.deepEqual(q.takeAll(), [3, 4, 5]);
    assert.equal(q.length, 0);
    for (let i = 0; i < 5000; i++) q.push(i);
    assert.deepEqual(q.takeAll(), [4997, 4998, 4999]);
    assert.equal(q.dropped, 2 + 4997);
  });
});

describe('Subscription', () => {
  it('hands a waiting reader the next batch, merges batches that arrive meanwhile', async () => {
    const sub = new Subscription(100, () => {});
    const first = sub.next();
    sub.push([1, 2]);
    assert.deepEqual(await first, { value: [1, 2], done: false });
    sub.push([3]);
    sub.push([4, 5]);
    assert.deepEqual(await sub.next(), { value: [3, 4, 5], done: false });
  });

  it('is bounded: a slow reader loses the oldest updates, counted', async () => {
    const sub = new Subscription(3, () => {});
    sub.push([1, 2]);
    sub.push([3, 4, 5]);
    assert.equal(sub.dropped, 2);
    assert.deepEqual((await sub.next()).value, [3, 4, 5]);
  });

  it('ends on return() and on close(), telling its owner once', async () => {
    let closed = 0;
    const sub = new Subscription(10, () => closed++);
    const pending = sub.next();
    await sub.return();
    assert.deepEqual(await pending, { value: undefined, done: true });
    assert.deepEqual(await sub.next(), { value: undefined, done: true });
    sub.close();
    assert.equal(closed, 1);
  });

  it('works with for await … break', async () => {
    let closed = 0;
    const sub = new Subscription(10, () => closed++);
    sub.push(['a']);
    for await (const batch of sub) {
      assert.deepEqual(batch, ['a']);
      break;
    }
    assert.equal(closed, 1);
  });
});
