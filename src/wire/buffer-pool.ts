/**
 * Write buffers, reused. Every batched write used to allocate a fresh buffer (a transport may
 * hold a written buffer until its write resolves), and under bulk traffic those allocations —
 * hundreds of 256 KiB–8 MiB buffers a second — drove full GCs whose pauses showed up as the
 * p99 of every other channel. A buffer goes back to the pool once its write resolved.
 *
 * Buffers come in power-of-two classes from 64 KiB up; the pool keeps at most `maxBytes` in all
 * (extra buffers are simply dropped for the GC), so it never holds more than a few MiB.
 */
const MIN_CLASS = 64 * 1024;

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  /** ArrayBuffers this pool handed out, so `release` ignores foreign ones. */
  private readonly mine = new WeakSet<ArrayBufferLike>();
  private pooledBytes = 0;
  readonly counters = { acquired: 0, reused: 0, released: 0, dropped: 0 };

  constructor(private readonly maxBytes = 16 * 1024 * 1024) {}

  /** A buffer of at least `size` bytes (its length is the class size). */
  acquire(size: number): Buffer {
    const cls = classOf(size);
    this.counters.acquired++;
    const list = this.free.get(cls);
    const reused = list?.pop();
    if (reused) {
      this.pooledBytes -= cls;
      this.counters.reused++;
      return reused;
    }
    const fresh = Buffer.allocUnsafeSlow(cls);
    this.mine.add(fresh.buffer);
    return fresh;
  }

  /** Give back a buffer (or any view of one) from `acquire`, once nothing references it. */
  release(view: Uint8Array): void {
    const base = view.buffer;
    if (!this.mine.has(base)) return;
    const cls = base.byteLength;
    this.counters.released++;
    if (this.pooledBytes + cls > this.maxBytes) {
      this.counters.dropped++;
      return;
    }
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(Buffer.from(base, 0, cls));
    this.pooledBytes += cls;
  }

  /** Bytes held for reuse right now. */
  get held(): number {
    return this.pooledBytes;
  }
}

function classOf(size: number): number {
  let c = MIN_CLASS;
  while (c < size) c *= 2;
  return c;
}
