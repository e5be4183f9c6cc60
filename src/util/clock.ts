/**
 * Time is injected, never read from globals, so that state machines, timers and tests are
 * deterministic: production code gets `systemClock`, tests and the simulator a `FakeClock`.
 */

export interface TimerHandle {
  /** Stop the timer; calling it twice is harmless. */
  cancel(): void;
  /** Let the process exit while this timer is pending (node's `unref`). No-op on fake timers. */
  unref(): TimerHandle;
}

export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time). */
  now(): number;
  /** Milliseconds since the Unix epoch (wall time), for timestamps that cross processes. */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
}

class NodeTimer implements TimerHandle {
  constructor(private readonly handle: NodeJS.Timeout, private readonly interval: boolean) {}
  cancel(): void {
    if (this.interval) clearInterval(this.handle);
    else clearTimeout(this.handle);
  }
  unref(): TimerHandle {
    this.handle.unref();
    return this;
  }
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => new NodeTimer(setTimeout(fn, ms), false),
  setInterval: (fn, ms) => new NodeTimer(setInterval(fn, ms), true),
};

interface FakeTimer {
  seq: number;
  at: number;
  every: number | undefined;
  fn: () => void;
  cancelled: boolean;
}

function earlier(a: FakeTimer, b: FakeTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * A clock that only moves when told to. Timers fire in time order (ties in scheduling order)
 * during `advance`, which is what makes simulations reproducible. Timers live in a binary
 * heap so a simulation with many thousands of pending timers stays O(log n) per timer.
 */
export class FakeClock implements Clock {
  private current: number;
  private readonly wallOffset: number;
  private seq = 0;
  private live = 0;
  private readonly heap: FakeTimer[] = [];

  constructor(start = 0, wallStart = 1_700_000_000_000) {
    this.current = start;
    this.wallOffset = wallStart - start;
  }

  now(): number {
    return this.current;
  }

  wallNow(): number {
    return this.current + this.wallOffset;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  /** Number of timers still pending. */
  pending(): number {
    return this.live;
  }

  /** Time of the next pending timer, or undefined. */
  nextAt(): number | undefined {
    this.dropCancelledTop();
    return this.heap[0]?.at;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.current + Math.max(0, ms);
    for (;;) {
      this.dropCancelledTop();
      const top = this.heap[0];
      if (!top || top.at > target) break;
      this.pop();
      this.current = top.at;
      if (top.every !== undefined) {
        top.at += top.every;
        top.seq = this.seq++;
        this.push(top);
      } else {
        top.cancelled = true;
        this.live--;
      }
      top.fn();
    }
    this.current = target;
  }

  /** Fire timers until none is left or `limit` ms have passed; returns the time advanced. */
  runAll(limit = 3_600_000): number {
    const start = this.current;
    for (;;) {
      const next = this.nextAt();
      if (next === undefined || next - start > limit) break;
      this.advance(next - this.current);
    }
    return this.current - start;
  }

  private add(fn: () => void, ms: number, every: number | undefined): TimerHandle {
    const timer: FakeTimer = { seq: this.seq++, at: this.current + Math.max(0, ms), every, fn, cancelled: false };
    this.push(timer);
    this.live++;
    const handle: TimerHandle = {
      cancel: () => {
        if (timer.cancelled) return;
        timer.cancelled = true;
        this.live--;
      },
      unref: () => handle,
    };
    return handle;
  }

  private dropCancelledTop(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
  }

  private push(t: FakeTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): FakeTimer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && earlier(h[l]!, h[m]!)) m = l;
        if (r < h.length && earlier(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
