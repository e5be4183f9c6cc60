/**
 * A binary min-heap of entries by `dueAt` that can also remove any entry in O(log n): each
 * entry remembers its own index. Acks remove entries from the middle of the retransmission
 * schedule all the time; lazy deletion would keep every acked entry alive until its due time.
 */
export interface DueEntry {
  dueAt: number;
  /** Position in the heap, or -1 when not in it. Owned by DueHeap. */
  heapIndex: number;
}

export class DueHeap<E extends DueEntry> {
  private readonly items: E[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): E | undefined {
    return this.items[0];
  }

  /** Insert, or move if already present, `entry` at `dueAt`. */
  schedule(entry: E, dueAt: number): void {
    if (entry.heapIndex >= 0) {
      const earlier = dueAt < entry.dueAt;
      entry.dueAt = dueAt;
      if (earlier) this.up(entry.heapIndex);
      else this.down(entry.heapIndex);
      return;
    }
    entry.dueAt = dueAt;
    entry.heapIndex = this.items.length;
    this.items.push(entry);
    this.up(entry.heapIndex);
  }

  remove(entry: E): void {
    const i = entry.heapIndex;
    if (i < 0) return;
    const last = this.items.pop()!;
    entry.heapIndex = -1;
    if (last === entry) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.up(i);
    this.down(last.heapIndex);
  }

  /** Remove and return the earliest entry if it is due at `now`. */
  popDue(now: number): E | undefined {
    const top = this.items[0];
    if (top === undefined || top.dueAt > now) return undefined;
    this.remove(top);
    return top;
  }

  private up(i: number): void {
    const h = this.items;
    const e = h[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (p.dueAt <= e.dueAt) break;
      h[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    h[i] = e;
    e.heapIndex = i;
  }

  private down(i: number): void {
    const h = this.items;
    const n = h.length;
    const e = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.dueAt < h[l]!.dueAt ? r : l;
      if (h[c]!.dueAt >= e.dueAt) break;
      h[i] = h[c]!;
      h[i]!.heapIndex = i;
      i = c;
    }
    h[i] = e;
    e.heapIndex = i;
  }
}
