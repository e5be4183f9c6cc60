import type { ResolvedChannel } from '../channels/channel-options.js';
import type { LaneQueue } from '../connections/lane.js';
import type { Envelope } from '../wire/frame.js';

/** Placeholder until the bounded outbound queue lands: unbounded FIFO. */
export class FifoLaneQueue implements LaneQueue {
  private items: Envelope[] = [];
  private head = 0;
  constructor(readonly channel: ResolvedChannel) {}
  enqueue(item: Envelope): void {
    this.items.push(item);
  }
  take(maxMessages: number): Envelope[] {
    const out = this.items.slice(this.head, this.head + maxMessages);
    this.head += out.length;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return out;
  }
  get length(): number {
    return this.items.length - this.head;
  }
  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    return n;
  }
}
