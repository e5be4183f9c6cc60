import { PartisanError } from '../util/errors.js';
import { boolOption, enumOption, intOption, objectOption, rejectUnknownKeys } from '../util/options.js';
import type { OverflowPolicy } from './channel-options.js';
import type { PartitionKey } from './stream-selector.js';

/**
 * The outbound queue of one (peer, channel, stream): messages wait here until the writer
 * drains a batch into one frame. Bounded in messages and bytes (bytes as the caller measures
 * them, e.g. `estimateEncodedSize`), never unbounded memory (DESIGN "Delivery").
 *
 * Hot path: a power-of-two ring of parallel arrays (items, sizes, keys), no per-message
 * object, no `shift()`; the key index is touched only on monotonic queues.
 */

export interface OutboundQueueOptions {
  /** Bound in messages. Default 65536 (as the channel's maxQueueMessages). */
  maxMessages?: number;
  /** Bound in bytes; a single message larger than this is refused (ERR_QUEUE_FULL). Default 16 MiB (as maxQueueBytes). */
  maxBytes?: number;
  /**
   * When full: 'block' — `enqueue` returns a Promise that resolves once the message is in
   * (FIFO among waiters, so order holds); 'dropOldest' — drop from the head (counted);
   * 'error' — throw ERR_QUEUE_FULL, nothing enqueued. Default 'block' (the channel layer
   * passes 'dropOldest' for monotonic channels).
   */
  overflow?: OverflowPolicy;
  /**
   * Newest value per partition key wins: a pending message with the same key is replaced in
   * place (keeps the key's turn; the stale value is counted). Keyless messages never replace.
   * Default false.
   */
  monotonic?: boolean;
}

export type ResolvedOutboundQueueOptions = Readonly<Required<OutboundQueueOptions>>;

export function resolveOutboundQueueOptions(options?: OutboundQueueOptions, field = 'queue'): ResolvedOutboundQueueOptions {
  const raw = objectOption(field, options);
  rejectUnknownKeys(field, raw, ['maxMessages', 'maxBytes', 'overflow', 'monotonic']);
  return Object.freeze({
    maxMessages: intOption(`${field}.maxMessages`, raw.maxMessages, 65_536, 1, 1 << 30),
    maxBytes: intOption(`${field}.maxBytes`, raw.maxBytes, 16 * 1024 * 1024, 1, 2 ** 40),
    overflow: enumOption<OverflowPolicy>(`${field}.overflow`, raw.overflow, 'block', ['block', 'dropOldest', 'error']),
    monotonic: boolOption(`${field}.monotonic`, raw.monotonic, false),
  });
}

/** Live counters (read them, do not write them). enqueued = sent + dropped* + discarded + depth. */
export interface OutboundQueueCounters {
  enqueued: number;
  /** Taken by the writer. */
  sent: number;
  /** Dropped from the head by 'dropOldest'. */
  droppedOldest: number;
  /** Replaced by a newer value with the same key (monotonic). */
  droppedStale: number;
  /** Thrown away by `clear()` or `close()`. */
  discarded: number;
  /** Refused: ERR_QUEUE_FULL thrown by 'error' or for a message over maxBytes (not in `enqueued`). */
  rejected: number;
  highWaterMessages: number;
  highWaterBytes: number;
}

interface Waiter<T> {
  item: T;
  bytes: number;
  readonly key: PartitionKey | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
  done: boolean;
  unlisten: (() => void) | undefined;
}

const INITIAL_CAPACITY = 16;

export class OutboundQueue<T> {
  readonly options: ResolvedOutboundQueueOptions;
  readonly counters: OutboundQueueCounters = {
    enqueued: 0, sent: 0, droppedOldest: 0, droppedStale: 0, discarded: 0, rejected: 0, highWaterMessages: 0, highWaterBytes: 0,
  };
  private items: (T | undefined)[];
  private sizes: Float64Array;
  private keys: (PartitionKey | undefined)[] | undefined;
  private mask: number;
  /** Absolute sequence number of the head; slot = seq & mask. */
  private head = 0;
  private count = 0;
  private byteCount = 0;
  /** Monotonic: key → absolute seq of its pending message. */
  private readonly index: Map<PartitionKey, number> | undefined;
  private readonly waiters: Waiter<T>[] = [];
  private waitHead = 0;
  /** Monotonic: key → its (newest) blocked waiter. */
  private readonly waitingKeys: Map<PartitionKey, Waiter<T>> | undefined;
  private closedWith: PartisanError | undefined;

  constructor(options?: OutboundQueueOptions) {
    this.options = resolveOutboundQueueOptions(options);
    const capacity = Math.min(INITIAL_CAPACITY, pow2AtLeast(this.options.maxMessages));
    this.items = new Array<T | undefined>(capacity).fill(undefined);
    this.sizes = new Float64Array(capacity);
    this.mask = capacity - 1;
    if (this.options.monotonic) {
      this.keys = new Array<PartitionKey | undefined>(capacity).fill(undefined);
      this.index = new Map();
      this.waitingKeys = new Map();
    }
  }

  /** Messages queued (not counting blocked callers). */
  get depth(): number {
    return this.count;
  }

  /** Same as `depth` (the connections layer's LaneQueue reads `length`). */
  get length(): number {
    return this.count;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** Callers of a 'block' queue waiting for room. */
  get waiting(): number {
    let n = 0;
    for (let i = this.waitHead; i < this.waiters.length; i++) if (!this.waiters[i]!.done) n++;
    return n;
  }

  /**
   * Queue `item` of `bytes`. Returns undefined when it is in (monotonic: possibly in place of
   * its key's pending value), or — 'block' only — a Promise that resolves once it is in, or
   * once a newer value of its key replaced it (monotonic); it rejects on `close()` or when
   * `signal` aborts. Throws ERR_QUEUE_FULL per the policy, or for a message over maxBytes.
   */
  enqueue(item: T, bytes: number, key?: PartitionKey, signal?: AbortSignal): Promise<void> | undefined {
    if (this.closedWith) throw this.closedWith;
    if (!(bytes >= 0) || bytes > this.options.maxBytes) throw this.refuse('tooLarge', bytes);
    if (this.index !== undefined && key !== undefined) return this.enqueueKeyed(item, bytes, key, signal);
    if (this.waitHead === this.waiters.length && this.count < this.options.maxMessages && this.byteCount + bytes <= this.options.maxBytes) {
      this.push(item, bytes, undefined);
      return undefined;
    }
    return this.overflow(item, bytes, undefined, signal);
  }

  /**
   * Drain up to `maxMessages` / `maxBytes` for one write, in order, appended to `out`. At least
   * one message is taken when any is queued, even if it alone is over `maxBytes`.
   */
  /** Bytes (as enqueued) of what the last `take` removed. */
  lastTakeBytes = 0;

  take(maxMessages = Infinity, maxBytes = Infinity, out: T[] = []): T[] {
    const items = this.items;
    const sizes = this.sizes;
    const keys = this.keys;
    let n = 0;
    let b = 0;
    while (this.count > 0 && n < maxMessages) {
      const slot = this.head & this.mask;
      const size = sizes[slot]!;
      if (n > 0 && b + size > maxBytes) break;
      out.push(items[slot] as T);
      items[slot] = undefined;
      if (keys !== undefined) this.forgetKey(slot);
      this.head++;
      this.count--;
      this.byteCount -= size;
      b += size;
      n++;
    }
    this.counters.sent += n;
    this.lastTakeBytes = b;
    // Blocked senders move in only now, after the taken bytes were counted.
    if (n > 0 && this.waitHead < this.waiters.length) this.admitWaiters();
    return out;
  }

  /**
   * Throw away what is queued (the lane died; counted as discarded) and return how many.
   * Blocked callers stay in line and move in now that there is room.
   */
  clear(): number {
    const n = this.discardQueued().length;
    if (this.waitHead < this.waiters.length) this.admitWaiters();
    return n;
  }

  /**
   * Discard everything: queued messages (returned, counted as discarded) and blocked
   * callers (rejected with `error`). Later enqueues throw `error`.
   */
  close(error = new PartisanError('ERR_TRANSPORT_CLOSED', 'outbound queue closed')): T[] {
    this.closedWith = error;
    // Waiters first, so draining below cannot admit them.
    const waiters = this.waiters.splice(this.waitHead);
    this.waiters.length = 0;
    this.waitHead = 0;
    this.waitingKeys?.clear();
    for (const w of waiters) this.finish(w, error);
    return this.discardQueued();
  }

  private discardQueued(): T[] {
    const rest: T[] = [];
    while (this.count > 0) {
      const slot = this.head & this.mask;
      rest.push(this.items[slot] as T);
      this.items[slot] = undefined;
      if (this.keys !== undefined) this.forgetKey(slot);
      this.head++;
      this.count--;
    }
    this.byteCount = 0;
    this.counters.discarded += rest.length;
    return rest;
  }

  private enqueueKeyed(item: T, bytes: number, key: PartitionKey, signal?: AbortSignal): Promise<void> | undefined {
    // A blocked value for this key is older than anything we could admit now: supersede it.
    const w = this.waitingKeys!.get(key);
    if (w !== undefined) return this.supersede(w, item, bytes, signal);
    const pending = this.index!.get(key);
    if (pending !== undefined) {
      const slot = pending & this.mask;
      if (this.byteCount - this.sizes[slot]! + bytes <= this.options.maxBytes) {
        this.replace(slot, item, bytes);
        return undefined;
      }
    }
    if (this.waitHead === this.waiters.length && this.count < this.options.maxMessages && this.byteCount + bytes <= this.options.maxBytes) {
      this.push(item, bytes, key);
      return undefined;
    }
    return this.overflow(item, bytes, key, signal);
  }

  private overflow(item: T, bytes: number, key: PartitionKey | undefined, signal?: AbortSignal): Promise<void> | undefined {
    switch (this.options.overflow) {
      case 'error':
        throw this.refuse('full', bytes);
      case 'dropOldest':
        // Only reached with no waiters. Dropping the key's own pending value turns this into a push.
        while (!this.admit(item, bytes, key)) this.dropHead();
        return undefined;
      case 'block':
        return this.wait(item, bytes, key, signal);
    }
  }

  /** Put a message in if it fits now (replacing its key's pending value if any). */
  private admit(item: T, bytes: number, key: PartitionKey | undefined): boolean {
    const pending = key === undefined ? undefined : this.index?.get(key);
    if (pending !== undefined) {
      const slot = pending & this.mask;
      if (this.byteCount - this.sizes[slot]! + bytes > this.options.maxBytes) return false;
      this.replace(slot, item, bytes);
      return true;
    }
    if (this.count >= this.options.maxMessages || this.byteCount + bytes > this.options.maxBytes) return false;
    this.push(item, bytes, key);
    return true;
  }

  private push(item: T, bytes: number, key: PartitionKey | undefined): void {
    if (this.count === this.items.length) this.grow();
    const seq = this.head + this.count;
    const slot = seq & this.mask;
    this.items[slot] = item;
    this.sizes[slot] = bytes;
    if (this.keys !== undefined) {
      this.keys[slot] = key;
      if (key !== undefined) this.index!.set(key, seq);
    }
    this.count++;
    this.byteCount += bytes;
    const c = this.counters;
    c.enqueued++;
    if (this.count > c.highWaterMessages) c.highWaterMessages = this.count;
    if (this.byteCount > c.highWaterBytes) c.highWaterBytes = this.byteCount;
  }

  private replace(slot: number, item: T, bytes: number): void {
    this.byteCount += bytes - this.sizes[slot]!;
    this.items[slot] = item;
    this.sizes[slot] = bytes;
    const c = this.counters;
    c.enqueued++;
    c.droppedStale++;
    if (this.byteCount > c.highWaterBytes) c.highWaterBytes = this.byteCount;
  }

  private dropHead(): void {
    const slot = this.head & this.mask;
    this.items[slot] = undefined;
    if (this.keys !== undefined) this.forgetKey(slot);
    this.byteCount -= this.sizes[slot]!;
    this.head++;
    this.count--;
    this.counters.droppedOldest++;
  }

  private forgetKey(slot: number): void {
    const key = this.keys![slot];
    if (key !== undefined) {
      this.index!.delete(key);
      this.keys![slot] = undefined;
    }
  }

  private grow(): void {
    const capacity = this.items.length * 2;
    const items = new Array<T | undefined>(capacity).fill(undefined);
    const sizes = new Float64Array(capacity);
    const keys = this.keys ? new Array<PartitionKey | undefined>(capacity).fill(undefined) : undefined;
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) & this.mask;
      const to = (this.head + i) & (capacity - 1);
      items[to] = this.items[from];
      sizes[to] = this.sizes[from]!;
      if (keys) keys[to] = this.keys![from];
    }
    this.items = items;
    this.sizes = sizes;
    this.keys = keys;
    this.mask = capacity - 1;
  }

  private wait(item: T, bytes: number, key: PartitionKey | undefined, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: Waiter<T> = { item, bytes, key, resolve, reject, done: false, unlisten: undefined };
      this.listen(w, signal);
      this.waiters.push(w);
      if (key !== undefined) this.waitingKeys?.set(key, w);
    });
  }

  /** The blocked value `w` is replaced by a newer one; its caller is done (value dropped as stale). */
  private supersede(w: Waiter<T>, item: T, bytes: number, signal?: AbortSignal): Promise<void> {
    const previous = w.resolve;
    w.unlisten?.();
    w.unlisten = undefined;
    this.counters.enqueued++;
    this.counters.droppedStale++;
    previous();
    return new Promise<void>((resolve, reject) => {
      w.item = item;
      w.bytes = bytes;
      w.resolve = resolve;
      w.reject = reject;
      this.listen(w, signal);
    });
  }

  private listen(w: Waiter<T>, signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    const onAbort = (): void => this.abort(w, signal.reason);
    if (signal.aborted) return void queueMicrotask(onAbort);
    signal.addEventListener('abort', onAbort, { once: true });
    w.unlisten = () => signal.removeEventListener('abort', onAbort);
  }

  private abort(w: Waiter<T>, reason: unknown): void {
    if (w.done) return;
    this.finish(w, reason);
    if (w.key !== undefined && this.waitingKeys?.get(w.key) === w) this.waitingKeys.delete(w.key);
    // The head waiter may have been the one holding the line.
    this.admitWaiters();
  }

  private finish(w: Waiter<T>, err?: unknown): void {
    if (w.done) return;
    w.done = true;
    w.unlisten?.();
    w.unlisten = undefined;
    if (err === undefined) w.resolve();
    else w.reject(err);
  }

  /** Admit blocked callers in FIFO order while they fit; stop at the first that does not. */
  private admitWaiters(): void {
    const ws = this.waiters;
    while (this.waitHead < ws.length) {
      const w = ws[this.waitHead]!;
      if (!w.done) {
        if (!this.admit(w.item, w.bytes, w.key)) break;
        if (w.key !== undefined && this.waitingKeys?.get(w.key) === w) this.waitingKeys.delete(w.key);
        this.finish(w);
      }
      ws[this.waitHead++] = undefined as unknown as Waiter<T>;
    }
    if (this.waitHead === ws.length) {
      ws.length = 0;
      this.waitHead = 0;
    } else if (this.waitHead > 1024 && this.waitHead * 2 > ws.length) {
      ws.splice(0, this.waitHead);
      this.waitHead = 0;
    }
  }

  private refuse(reason: 'full' | 'tooLarge', bytes: number): PartisanError {
    this.counters.rejected++;
    const what = reason === 'full' ? 'outbound queue is full' : `message of ${bytes} bytes exceeds the queue's maxBytes`;
    return new PartisanError('ERR_QUEUE_FULL', what, {
      details: { reason, bytes, depth: this.count, depthBytes: this.byteCount, maxMessages: this.options.maxMessages, maxBytes: this.options.maxBytes },
    });
  }
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
