import { PartisanError, WireError } from '../util/errors.js';
import { intOption, objectOption, rejectUnknownKeys } from '../util/options.js';

/**
 * Causal delivery per label (Partisan's partisan_causality_backend, §3.5), after
 * Schiper, Eggli & Sandoz, "A new algorithm to implement causal ordering" (1989):
 * every node keeps a vector clock V (counting its own sends) and an order buffer ORD,
 * dest → the clock that dest must have reached before it may deliver our next message.
 * A message carries the sender's clock and whole ORD; the receiver delivers it once V
 * dominates the ORD entry for itself, then merges the clock AND the rest of ORD into its own.
 *
 * Fixed against Partisan (§7.4): the merge of the incoming order buffer is kept (Partisan
 * computes `orddict:merge` and discards it, and ships only the entry for the destination),
 * so dependencies through third parties hold; and any number of labels can run (one
 * `CausalLabel` each; `CausalDelivery` holds many).
 *
 * No redelivery timer (Partisan retries its buffer every redelivery_interval = 1000 ms): a
 * waiting message can only become deliverable when another is delivered, and every delivery
 * re-examines the waiting heads. `tick` only expires. Stamps grow with the cluster: a clock
 * has one entry per sender, ORD one clock per destination (O(n²) numbers at worst).
 *
 * Node ids are opaque strings. Use one per node incarnation (e.g. `name@host~<incarnation>`):
 * a restarted node counts from 0 again and must not collide with its old counters.
 * Sends to self never pass through here: the driver delivers them locally at once, like
 * Partisan, which bypasses the network when the destination is `node()`.
 */

/** A vector clock on the wire: [node, count] pairs, count > 0. */
export type VClockWire = ReadonlyArray<readonly [node: string, count: number]>;

export interface CausalStamp {
  readonly label: string;
  readonly from: string;
  readonly to: string;
  /** The sender's clock at this send. */
  readonly clock: VClockWire;
  /** The sender's order buffer before this send: dest → clock dest must have reached first. */
  readonly order: ReadonlyArray<readonly [dest: string, clock: VClockWire]>;
}

/** What the driver sends: `stamp` goes in the envelope meta (`causal`), `payload` as the message. */
export interface CausalMessage<T> {
  readonly stamp: CausalStamp;
  readonly payload: T;
}

export interface CausalOptions {
  /**
   * Messages waiting for their causal predecessors, per label. A message that must wait while
   * the buffer is full is refused (`accepted: false`, counted): with `ack: true` the driver
   * does not ack it and the sender retransmits it later. A deliverable one is always taken,
   * so the message that fills a gap is never refused. Default 10000.
   */
  maxBuffered?: number;
  /**
   * Ms a message may wait before it is dropped (with every later message from the same sender,
   * which depends on it), so a lost predecessor cannot pin memory forever. 0 = never.
   * Longer than the ack deadline (60 s) so retransmissions get their chance. Default 120000.
   */
  maxBufferAge?: number;
}

export type ResolvedCausalOptions = Readonly<Required<CausalOptions>>;

export function resolveCausalOptions(options?: CausalOptions, field = 'causal'): ResolvedCausalOptions {
  const raw = objectOption(field, options);
  rejectUnknownKeys(field, raw, ['maxBuffered', 'maxBufferAge']);
  return Object.freeze({
    maxBuffered: intOption(`${field}.maxBuffered`, raw.maxBuffered, 10_000, 1, 1 << 24),
    maxBufferAge: intOption(`${field}.maxBufferAge`, raw.maxBufferAge, 120_000, 0, 2 ** 31),
  });
}

export interface CausalReceipt<T> {
  /** False when the message had to wait and the buffer was full: it was not kept. */
  readonly accepted: boolean;
  /** Messages now deliverable, in causal order: possibly none, possibly several. */
  readonly delivered: CausalMessage<T>[];
}

export interface CausalStats {
  emitted: number;
  delivered: number;
  buffered: number;
  duplicates: number;
  /** Refused because the buffer was full. */
  rejected: number;
  /** Dropped by `maxBufferAge`. */
  expired: number;
}

interface Waiting<T> {
  readonly msg: CausalMessage<T>;
  /** The sender's own count in the message clock: its n-th send. */
  readonly seq: number;
  readonly receivedAt: number;
}

export class CausalLabel<T = unknown> {
  readonly options: ResolvedCausalOptions;
  private readonly clock = new Map<string, number>();
  private readonly order = new Map<string, VClockWire>();
  /** Per sender: its own clock count in the last message we delivered from it. */
  private readonly lastDelivered = new Map<string, number>();
  /**
   * Waiting messages per sender, sorted by the sender's count. A later message from a sender
   * requires its earlier ones (they are in its ORD entry for us), so only heads can be ready.
   */
  private readonly waiting = new Map<string, Waiting<T>[]>();
  private readonly counters: CausalStats = { emitted: 0, delivered: 0, buffered: 0, duplicates: 0, rejected: 0, expired: 0 };

  constructor(
    readonly label: string,
    readonly self: string,
    options?: CausalOptions,
  ) {
    this.options = resolveCausalOptions(options);
  }

  /** Stamp a message for `dest`. */
  emit(dest: string, payload: T): CausalMessage<T> {
    if (dest === this.self) {
      throw new PartisanError('ERR_NOT_IMPLEMENTED', 'causal send to self: deliver it locally, it cannot be reordered');
    }
    this.clock.set(this.self, (this.clock.get(this.self) ?? 0) + 1);
    const clock = toWire(this.clock);
    const stamp: CausalStamp = { label: this.label, from: this.self, to: dest, clock, order: [...this.order] };
    // Our next message to dest waits for this one (and for everything this one waits for).
    this.order.set(dest, clock);
    this.counters.emitted++;
    return { stamp, payload };
  }

  /**
   * Take a message addressed to this node; returns what is now deliverable, in causal order.
   * Duplicates (already delivered or already waiting) are dropped and count as accepted.
   */
  receive(msg: CausalMessage<T>, now: number): CausalReceipt<T> {
    const { stamp } = msg;
    if (stamp.to !== this.self || stamp.label !== this.label) {
      throw new WireError('ERR_WIRE_MALFORMED_FRAME', `causal message for ${stamp.to}/${stamp.label} reached ${this.self}/${this.label}`, {
        details: { to: stamp.to, label: stamp.label },
      });
    }
    const seq = countOf(stamp.clock, stamp.from);
    // A sender's messages to us are delivered in its send order (each waits for the previous
    // one), so anything at or below the last delivered count is a duplicate.
    if ((this.lastDelivered.get(stamp.from) ?? 0) >= seq) return this.duplicate();
    const queue = this.waiting.get(stamp.from);
    const at = queue ? insertionPoint(queue, seq) : 0;
    if (queue && at < queue.length && queue[at]!.seq === seq) return this.duplicate();
    const delivered: CausalMessage<T>[] = [];
    if (this.ready(stamp)) {
      this.deliver(msg, delivered);
    } else if (this.counters.buffered >= this.options.maxBuffered) {
      this.counters.rejected++;
      return { accepted: false, delivered };
    } else {
      const entry: Waiting<T> = { msg, seq, receivedAt: now };
      if (queue) queue.splice(at, 0, entry);
      else this.waiting.set(stamp.from, [entry]);
      this.counters.buffered++;
      return { accepted: true, delivered };
    }
    this.drain(delivered);
    return { accepted: true, delivered };
  }

  /** Drop messages that waited longer than `maxBufferAge`; returns them (for logs and metrics). */
  tick(now: number): CausalMessage<T>[] {
    const expired: CausalMessage<T>[] = [];
    const age = this.options.maxBufferAge;
    if (age === 0 || this.counters.buffered === 0) return expired;
    for (const [from, queue] of this.waiting) {
      const first = queue.findIndex((w) => now - w.receivedAt >= age);
      if (first < 0) continue;
      // Later messages from the same sender depend on the expired one: they can never be delivered.
      for (const w of queue.splice(first)) expired.push(w.msg);
      if (queue.length === 0) this.waiting.delete(from);
    }
    this.counters.buffered -= expired.length;
    this.counters.expired += expired.length;
    return expired;
  }

  /** Messages waiting for predecessors. */
  get buffered(): number {
    return this.counters.buffered;
  }

  stats(): CausalStats {
    return { ...this.counters };
  }

  private duplicate(): CausalReceipt<T> {
    this.counters.duplicates++;
    return { accepted: true, delivered: [] };
  }

  private ready(stamp: CausalStamp): boolean {
    for (const [dest, required] of stamp.order) {
      if (dest !== this.self) continue;
      for (const [node, count] of required) if ((this.clock.get(node) ?? 0) < count) return false;
    }
    return true;
  }

  private deliver(msg: CausalMessage<T>, out: CausalMessage<T>[]): void {
    const { stamp } = msg;
    for (const [node, count] of stamp.clock) if ((this.clock.get(node) ?? 0) < count) this.clock.set(node, count);
    this.lastDelivered.set(stamp.from, countOf(stamp.clock, stamp.from));
    // The fix for §7.4: keep what the sender knew about everyone else's predecessors.
    for (const [dest, required] of stamp.order) {
      if (dest === this.self) continue;
      const mine = this.order.get(dest);
      this.order.set(dest, mine === undefined ? required : maxClock(mine, required));
    }
    this.counters.delivered++;
    out.push(msg);
  }

  /** Deliver waiting heads until none is ready. */
  private drain(out: CausalMessage<T>[]): void {
    let progress = true;
    while (progress && this.counters.buffered > 0) {
      progress = false;
      for (const [from, queue] of this.waiting) {
        while (queue.length > 0 && this.ready(queue[0]!.msg.stamp)) {
          this.deliver(queue.shift()!.msg, out);
          this.counters.buffered--;
          progress = true;
        }
        if (queue.length === 0) this.waiting.delete(from);
      }
    }
  }
}

/** Many labels on one node, created on first use (Partisan could run only one, §7.4). */
export class CausalDelivery<T = unknown> {
  private readonly labels = new Map<string, CausalLabel<T>>();
  private readonly options: ResolvedCausalOptions;

  constructor(
    readonly self: string,
    options?: CausalOptions,
  ) {
    this.options = resolveCausalOptions(options);
  }

  label(name: string): CausalLabel<T> {
    let l = this.labels.get(name);
    if (!l) {
      l = new CausalLabel<T>(name, this.self, this.options);
      this.labels.set(name, l);
    }
    return l;
  }

  emit(label: string, dest: string, payload: T): CausalMessage<T> {
    return this.label(label).emit(dest, payload);
  }

  receive(msg: CausalMessage<T>, now: number): CausalReceipt<T> {
    return this.label(msg.stamp.label).receive(msg, now);
  }

  tick(now: number): CausalMessage<T>[] {
    const expired: CausalMessage<T>[] = [];
    for (const l of this.labels.values()) expired.push(...l.tick(now));
    return expired;
  }

  labelNames(): string[] {
    return [...this.labels.keys()];
  }
}

/** Validate a stamp read from the wire; anything else is ERR_WIRE_MALFORMED_FRAME. */
export function parseCausalStamp(value: unknown): CausalStamp {
  const v = value as Partial<Record<keyof CausalStamp, unknown>> | null;
  const ok =
    typeof v === 'object' && v !== null &&
    typeof v.label === 'string' && typeof v.from === 'string' && typeof v.to === 'string' && v.from !== v.to &&
    isClock(v.clock) && countOf(v.clock, v.from) > 0 &&
    Array.isArray(v.order) && v.order.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && isClock(e[1]));
  if (!ok) throw new WireError('ERR_WIRE_MALFORMED_FRAME', 'malformed causal stamp');
  return v as CausalStamp;
}

function isClock(value: unknown): value is VClockWire {
  return Array.isArray(value) && value.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && Number.isSafeInteger(e[1]) && e[1] > 0);
}

function toWire(clock: Map<string, number>): VClockWire {
  return [...clock];
}

function countOf(clock: VClockWire, node: string): number {
  for (const [n, c] of clock) if (n === node) return c;
  return 0;
}

function maxClock(a: VClockWire, b: VClockWire): VClockWire {
  const m = new Map(a);
  let changed = false;
  for (const [node, count] of b) {
    if ((m.get(node) ?? 0) < count) {
      m.set(node, count);
      changed = true;
    }
  }
  return changed ? [...m] : a;
}

function insertionPoint(queue: readonly Waiting<unknown>[], seq: number): number {
  let lo = 0;
  let hi = queue.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (queue[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
