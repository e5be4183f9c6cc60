/**
 * A FIFO of (key, deadline) for timers that all have the same duration: with a
 * non-decreasing `now`, deadlines come out in order, so push and pop are O(1) — no heap.
 * Cancelling is lazy: the owner checks on pop whether the entry still matches its state.
 */
export class DeadlineQueue<K> {
  private keys: K[] = [];
  private deadlines: number[] = [];
  private head = 0;

  push(key: K, deadline: number): void {
    this.keys.push(key);
    this.deadlines.push(deadline);
  }

  /** Deadline of the oldest entry, or undefined when empty. */
  peek(): number | undefined {
    return this.head < this.deadlines.length ? this.deadlines[this.head] : undefined;
  }

  /** Removes and returns the oldest entry if its deadline is ≤ now. */
  popDue(now: number): { key: K; deadline: number } | undefined {
    if (this.head >= this.deadlines.length || this.deadlines[this.head]! > now) return undefined;
    const entry = { key: this.keys[this.head]!, deadline: this.deadlines[this.head]! };
    this.head++;
    if (this.head === this.deadlines.length) {
      this.keys = [];
      this.deadlines = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.deadlines.length) {
      this.keys = this.keys.slice(this.head);
      this.deadlines = this.deadlines.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  get size(): number {
    return this.deadlines.length - this.head;
  }
}
