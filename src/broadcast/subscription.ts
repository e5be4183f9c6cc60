import { BoundedQueue } from './bounded-queue.js';

/**
 * One `subscribe(channel)` iterator: batches of accepted updates. Updates that arrive while
 * the consumer is busy are merged into the next batch; past `capacity` the oldest are dropped
 * and counted (a slow subscriber sheds stale positions, it never grows memory).
 */
export class Subscription implements AsyncIterableIterator<unknown[]> {
  private readonly queue: BoundedQueue<unknown>;
  private waiter: ((result: IteratorResult<unknown[]>) => void) | undefined;
  private done = false;

  constructor(
    capacity: number,
    private readonly onClose: (sub: Subscription) => void,
  ) {
    this.queue = new BoundedQueue(capacity);
  }

  /** Updates dropped because this subscriber fell more than `capacity` behind. */
  get dropped(): number {
    return this.queue.dropped;
  }

  push(items: readonly unknown[]): void {
    if (this.done || items.length === 0) return;
    if (this.waiter) {
      const resolve = this.waiter;
      this.waiter = undefined;
      resolve({ value: items.length > this.queue.capacity ? items.slice(-this.queue.capacity) : [...items], done: false });
      return;
    }
    this.queue.pushAll(items);
  }

  next(): Promise<IteratorResult<unknown[]>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.takeAll(), done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Ends the iterator (also what `break` in for-await calls). Buffered updates are discarded. */
  return(): Promise<IteratorResult<unknown[]>> {
    this.close();
    this.queue.takeAll();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** The channel is gone (node stopping): pending `next` calls end; buffered updates can still be read. */
  close(): void {
    if (this.done) return;
    this.done = true;
    const resolve = this.waiter;
    this.waiter = undefined;
    resolve?.({ value: undefined, done: true });
    this.onClose(this);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown[]> {
    return this;
  }
}
