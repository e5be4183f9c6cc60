/**
 * A FIFO with a hard bound that drops its oldest items on overflow and counts them: what
 * sits between a broadcast channel and a slow consumer (a subscriber, a restarting worker)
 * must shed stale data, never grow without limit (DESIGN.md, Delivery).
 */
export class BoundedQueue<T> {
  private items: T[] = [];
  private head = 0;
  /** Items dropped by the bound since creation. */
  dropped = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
    if (this.length > this.capacity) {
      this.head++;
      this.dropped++;
      // Compact now and then so dropped slots don't pin memory.
      if (this.head >= 1024 && this.head * 2 >= this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
    }
  }

  pushAll(items: readonly T[]): void {
    for (let i = 0; i < items.length; i++) this.push(items[i]!);
  }

  /** Everything queued, oldest first; the queue is empty afterwards. */
  takeAll(): T[] {
    const out = this.head === 0 ? this.items : this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}
