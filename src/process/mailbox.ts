import type { Clock, TimerHandle } from '../util/clock.js';
import { PartisanError } from '../util/errors.js';

/**
 * A process mailbox with Erlang's selective receive: `receive(match)` takes the first queued
 * message the matcher accepts, leaving the others in order. Unlike Erlang's, it is bounded:
 * beyond `capacity` new messages are dropped and counted, because a process that stopped
 * reading must not take the node's memory with it.
 */

export type Matcher<T = unknown> = (message: T) => boolean;

/**
 * A message whose sender waits for it to be *consumed*, not merely queued (acknowledged
 * delivery): `consumed()` runs when a receive hands it to the process. A message still queued
 * when a process dies is never acknowledged, so the sender retransmits it — queued is not
 * delivered.
 */
export class TrackedMessage {
  constructor(
    readonly message: unknown,
    readonly consumed: () => void,
  ) {}
}

function unwrap(item: unknown): unknown {
  if (item instanceof TrackedMessage) {
    item.consumed();
    return item.message;
  }
  return item;
}

function peek(item: unknown): unknown {
  return item instanceof TrackedMessage ? item.message : item;
}

export interface ReceiveOptions<T = unknown> {
  /** Take only messages this accepts (Erlang's receive patterns). Default: any message. */
  match?: Matcher<T>;
  /** Reject with ERR_RECEIVE_TIMEOUT after this many ms (Erlang's `after`). Default: wait forever. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Waiter {
  match: Matcher | undefined;
  resolve(message: unknown): void;
  reject(error: Error): void;
  timer: TimerHandle | undefined;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;
}

export class Mailbox {
  private queue: unknown[] = [];
  private head = 0;
  private waiters: Waiter[] = [];
  private closedWith: Error | undefined;
  /** Messages dropped because the mailbox was full. */
  dropped = 0;

  constructor(
    private readonly clock: Clock,
    /** Most messages held; Erlang has no bound, we do. */
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.queue.length - this.head;
  }

  get isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Deliver one message. Returns false (and counts it) when the mailbox is full or closed. */
  push(message: unknown): boolean {
    if (this.closedWith) return false;
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      if (w.match && !w.match(peek(message))) continue;
      this.waiters.splice(i, 1);
      this.settle(w);
      w.resolve(unwrap(message));
      return true;
    }
    if (this.size >= this.capacity) {
      this.dropped++;
      return false;
    }
    this.queue.push(message);
    return true;
  }

  /** The next matching message; waits for one. */
  receive<T = unknown>(options: ReceiveOptions<T> = {}): Promise<T> {
    const found = this.take(options.match as Matcher | undefined);
    if (found.hit) return Promise.resolve(found.message as T);
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (options.signal?.aborted) return Promise.reject(options.signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        match: options.match as Matcher | undefined,
        resolve: resolve as (m: unknown) => void,
        reject,
        timer: undefined,
        onAbort: undefined,
        signal: options.signal,
      };
      if (options.timeoutMs !== undefined) {
        waiter.timer = this.clock.setTimeout(() => {
          this.remove(waiter);
          reject(new PartisanError('ERR_RECEIVE_TIMEOUT', `no matching message within ${options.timeoutMs} ms`));
        }, options.timeoutMs);
      }
      if (options.signal) {
        waiter.onAbort = () => {
          this.remove(waiter);
          reject(options.signal!.reason as Error);
        };
        options.signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  /** The first matching message if one is queued, else undefined (Erlang's `after 0`). */
  tryReceive<T = unknown>(match?: Matcher<T>): T | undefined {
    const found = this.take(match as Matcher | undefined);
    return found.hit ? (found.message as T) : undefined;
  }

  /** Take up to `max` queued messages at once — one call per batch on hot paths. */
  drain<T = unknown>(max = Number.MAX_SAFE_INTEGER): T[] {
    const n = Math.min(max, this.size);
    const out = this.queue.slice(this.head, this.head + n) as T[];
    for (let i = 0; i < out.length; i++) if (out[i] instanceof TrackedMessage) out[i] = unwrap(out[i]) as T;
    this.head += n;
    this.compact();
    return out;
  }

  /** Wait until at least one message is queued, then take up to `max`. */
  async receiveMany<T = unknown>(max = Number.MAX_SAFE_INTEGER, options: Omit<ReceiveOptions<T>, 'match'> = {}): Promise<T[]> {
    if (this.size === 0) {
      const first = await this.receive<T>(options);
      return [first, ...this.drain<T>(max - 1)];
    }
    return this.drain<T>(max);
  }

  /** Fail pending and future receives with `reason`, and forget queued messages. */
  close(reason: Error): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    this.queue = [];
    this.head = 0;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      this.settle(w);
      w.reject(reason);
    }
  }

  private take(match: Matcher | undefined): { hit: true; message: unknown } | { hit: false } {
    if (this.size === 0) return { hit: false };
    if (!match) {
      const message = this.queue[this.head];
      this.queue[this.head++] = undefined;
      this.compact();
      return { hit: true, message: unwrap(message) };
    }
    for (let i = this.head; i < this.queue.length; i++) {
      const message = this.queue[i];
      if (match(peek(message))) {
        if (i === this.head) {
          this.queue[this.head++] = undefined;
          this.compact();
        } else {
          this.queue.splice(i, 1);
        }
        return { hit: true, message: unwrap(message) };
      }
    }
    return { hit: false };
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private remove(waiter: Waiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
    this.settle(waiter);
  }

  private settle(waiter: Waiter): void {
    waiter.timer?.cancel();
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }
}
