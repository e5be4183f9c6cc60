import { backoffDelay, type BackoffOptions } from '../util/backoff.js';
import { PartisanError, WireError } from '../util/errors.js';
import { intOption, numberOption, objectOption, rejectUnknownKeys } from '../util/options.js';
import type { Random } from '../util/random.js';
import { DueHeap, type DueEntry } from './due-heap.js';

/**
 * Acknowledged delivery (`ack: true`), Partisan §3.4 with its quirks fixed (§7.3):
 * - receivers de-duplicate, so the application sees each message once (Partisan: at-least-once);
 * - retransmission backs off exponentially with jitter and ends (ERR_DELIVERY_TIMEOUT);
 * - "is this a retransmission" is the tracker's own state, never a caller flag.
 *
 * Ids are assigned per (sender incarnation, destination peer), starting at 1, so the receiver
 * can keep "everything ≤ floor was seen" plus a small set above it. Each transmission carries
 * `lo`, the sender's lowest unsettled id: ids below it were acked or abandoned, which lets
 * the receiver move its floor past messages the sender gave up on (bounded memory).
 *
 * Wire mapping for the driver: a transmission goes out as an Envelope with meta
 * `{ id, inc, lo }`; acks travel in Ack frames (`ids`) on a connection to the sender's
 * incarnation `inc` only (the handshake tells it), because ids restart with each incarnation.
 */

export interface AckSenderOptions {
  /** First retransmission after this many ms (Partisan's retransmit_interval). Default 1000. */
  retransmitInterval?: number;
  /** Each further wait is the previous one times this. Default 2. */
  backoffMultiplier?: number;
  /** Cap on one wait, ms. Default 30000. */
  maxRetransmitInterval?: number;
  /** Fraction of each wait drawn at random, so peers do not retransmit in lockstep. Default 0.2. */
  jitter?: number;
  /** Transmissions (first one included) before ERR_DELIVERY_TIMEOUT; 0 = no limit. Default 10. */
  maxAttempts?: number;
  /** Ms after `send` at which an unacked message fails with ERR_DELIVERY_TIMEOUT; 0 = none. Default 60000. */
  deadline?: number;
  /** Unacked messages stored, all peers together; `send` beyond it throws ERR_QUEUE_FULL. Default 65536. */
  maxUnackedMessages?: number;
  /** Unacked bytes stored (caller-measured), all peers together. Default 64 MiB. */
  maxUnackedBytes?: number;
  /**
   * Ids in flight per peer: id ≥ lo + window waits untransmitted. Keep ≤ the receivers'
   * `windowSize` (beyond it they neither deliver nor ack). Default 8192.
   */
  window?: number;
}

export type ResolvedAckSenderOptions = Readonly<Required<AckSenderOptions>>;

const SENDER_KEYS = [
  'retransmitInterval', 'backoffMultiplier', 'maxRetransmitInterval', 'jitter', 'maxAttempts',
  'deadline', 'maxUnackedMessages', 'maxUnackedBytes', 'window',
] as const;

export function resolveAckSenderOptions(options?: AckSenderOptions, field = 'ack'): ResolvedAckSenderOptions {
  const raw = objectOption(field, options);
  rejectUnknownKeys(field, raw, SENDER_KEYS);
  const retransmitInterval = intOption(`${field}.retransmitInterval`, raw.retransmitInterval, 1000, 1, 3_600_000);
  return Object.freeze({
    retransmitInterval,
    backoffMultiplier: numberOption(`${field}.backoffMultiplier`, raw.backoffMultiplier, 2, 1, 16),
    maxRetransmitInterval: intOption(`${field}.maxRetransmitInterval`, raw.maxRetransmitInterval, Math.max(30_000, retransmitInterval), retransmitInterval, 3_600_000),
    jitter: numberOption(`${field}.jitter`, raw.jitter, 0.2, 0, 1),
    maxAttempts: intOption(`${field}.maxAttempts`, raw.maxAttempts, 10, 0, 1_000_000),
    deadline: intOption(`${field}.deadline`, raw.deadline, 60_000, 0, 2 ** 31),
    maxUnackedMessages: intOption(`${field}.maxUnackedMessages`, raw.maxUnackedMessages, 65_536, 1, 1 << 30),
    maxUnackedBytes: intOption(`${field}.maxUnackedBytes`, raw.maxUnackedBytes, 64 * 1024 * 1024, 1, 2 ** 40),
    window: intOption(`${field}.window`, raw.window, 8192, 1, 1 << 24),
  });
}

/** One (re)transmission the driver writes: payload `message`, meta `{ id, inc, lo }`. */
export interface AckTransmission<T> {
  readonly peer: string;
  readonly id: number;
  readonly inc: number;
  readonly lo: number;
  readonly message: T;
  /** 1 for the first transmission, then 2, 3… */
  readonly attempt: number;
}

export interface AckSettled<T> {
  readonly peer: string;
  readonly id: number;
  readonly message: T;
}

export interface AckFailed<T> extends AckSettled<T> {
  /** ERR_DELIVERY_TIMEOUT, or the error given to `cancelPeer`. */
  readonly error: PartisanError;
}

/** What the driver does after an event: write `transmit`, resolve `settled`, reject `failed`. */
export interface AckActions<T> {
  transmit: AckTransmission<T>[];
  settled: AckSettled<T>[];
  failed: AckFailed<T>[];
}

export interface AckSenderStats {
  unacked: number;
  unackedBytes: number;
  /** First transmissions. */
  sent: number;
  retransmitted: number;
  acked: number;
  failed: number;
}

interface Pending<T> extends DueEntry {
  readonly peer: PeerState<T>;
  readonly id: number;
  readonly message: T;
  readonly bytes: number;
  /** Infinity when there is no deadline. */
  readonly deadlineAt: number;
  attempts: number;
  /** Backoff step: transmissions since the last (re)connection. */
  step: number;
}

interface PeerState<T> {
  readonly name: string;
  up: boolean;
  nextId: number;
  /** Lowest id neither acked nor failed (= nextId when none). */
  lo: number;
  /** Ids below this were transmitted at least once (first transmissions go in id order). */
  nextToTransmit: number;
  /** In id order, because ids are inserted increasing. */
  readonly entries: Map<number, Pending<T>>;
}

export class AckSender<T> {
  readonly options: ResolvedAckSenderOptions;
  private readonly peers = new Map<string, PeerState<T>>();
  private readonly heap = new DueHeap<Pending<T>>();
  private readonly backoff: BackoffOptions;
  private readonly counters: AckSenderStats = { unacked: 0, unackedBytes: 0, sent: 0, retransmitted: 0, acked: 0, failed: 0 };

  /** `incarnation` (the node's start time) goes out with every transmission as `inc`. */
  constructor(
    readonly incarnation: number,
    private readonly random: Random,
    options?: AckSenderOptions,
  ) {
    this.options = resolveAckSenderOptions(options);
    const o = this.options;
    this.backoff = { initialMs: o.retransmitInterval, maxMs: o.maxRetransmitInterval, multiplier: o.backoffMultiplier, jitter: o.jitter };
  }

  /**
   * Store a message and assign its id. `transmission` is set when it should be written now;
   * otherwise the peer is down or the window is full and a later event transmits it.
   * Throws ERR_QUEUE_FULL (nothing stored) when the unacked store is full.
   * `deadline` overrides the option for this message (ms from now, 0 = none).
   */
  send(peer: string, message: T, bytes: number, now: number, deadline = this.options.deadline): { id: number; transmission?: AckTransmission<T> } {
    const c = this.counters;
    if (c.unacked + 1 > this.options.maxUnackedMessages || c.unackedBytes + bytes > this.options.maxUnackedBytes) {
      throw new PartisanError('ERR_QUEUE_FULL', `unacked store is full (${c.unacked} messages, ${c.unackedBytes} bytes)`, {
        details: { peer, unacked: c.unacked, unackedBytes: c.unackedBytes, bytes },
      });
    }
    const p = this.peer(peer);
    const id = p.nextId++;
    const entry: Pending<T> = {
      peer: p, id, message, bytes,
      deadlineAt: deadline > 0 ? now + deadline : Infinity,
      attempts: 0, step: 0, dueAt: 0, heapIndex: -1,
    };
    p.entries.set(id, entry);
    c.unacked++;
    c.unackedBytes += bytes;
    if (p.up && id === p.nextToTransmit && id < p.lo + this.options.window) {
      p.nextToTransmit++;
      return { id, transmission: this.transmit(entry, now) };
    }
    this.waitForDeadline(entry);
    return { id };
  }

  /** Acks received from `peer` (unknown ids — late duplicates — are ignored). */
  ack(peer: string, ids: readonly number[], now: number): AckActions<T> {
    const actions = emptyActions<T>();
    const p = this.peers.get(peer);
    if (!p) return actions;
    for (const id of ids) {
      const entry = p.entries.get(id);
      if (!entry) continue;
      this.settle(entry);
      this.counters.acked++;
      actions.settled.push({ peer, id, message: entry.message });
    }
    this.advance(p, now, actions);
    return actions;
  }

  /** Retransmissions and failures due at `now`. Call it at `nextDueAt()`. */
  tick(now: number): AckActions<T> {
    const actions = emptyActions<T>();
    const touched = new Set<PeerState<T>>();
    for (let e = this.heap.popDue(now); e !== undefined; e = this.heap.popDue(now)) {
      const max = this.options.maxAttempts;
      if (e.deadlineAt <= now || (e.attempts > 0 && max > 0 && e.attempts >= max)) {
        this.fail(e, timeoutError(e), actions);
        touched.add(e.peer);
      } else if (!e.peer.up || e.id >= e.peer.nextToTransmit) {
        this.waitForDeadline(e); // connectionUp or an opening window transmits it
      } else {
        actions.transmit.push(this.transmit(e, now));
      }
    }
    for (const p of touched) this.advance(p, now, actions);
    return actions;
  }

  /** Time of the next retransmission or deadline, for the driver's single timer. */
  nextDueAt(): number | undefined {
    return this.heap.peek()?.dueAt;
  }

  /** The connection to `peer` dropped: stop retransmitting until `connectionUp`; nothing is lost. */
  connectionLost(peer: string): void {
    this.peer(peer).up = false;
  }

  /** A connection to `peer` is (re)established: every unacked message goes out again, in id order. */
  connectionUp(peer: string, now: number): AckActions<T> {
    const actions = emptyActions<T>();
    const p = this.peer(peer);
    p.up = true;
    for (const e of p.entries.values()) {
      if (e.id >= p.nextToTransmit) break;
      e.step = 0; // a fresh connection: earlier losses say nothing about it
      actions.transmit.push(this.transmit(e, now));
    }
    this.advance(p, now, actions);
    return actions;
  }

  /**
   * Fail every unacked message to `peer` (e.g. it left the cluster). Its id counter is kept:
   * restarting at 1 would make the receiver take new messages for old duplicates.
   */
  cancelPeer(peer: string, error: PartisanError): AckActions<T> {
    const actions = emptyActions<T>();
    const p = this.peers.get(peer);
    if (!p) return actions;
    for (const e of [...p.entries.values()]) this.fail(e, error, actions);
    p.lo = p.nextToTransmit = p.nextId;
    return actions;
  }

  stats(): AckSenderStats {
    return { ...this.counters };
  }

  private peer(name: string): PeerState<T> {
    let p = this.peers.get(name);
    if (!p) {
      // Peers start "up": the driver only learns of a drop from a failed write or close.
      p = { name, up: true, nextId: 1, lo: 1, nextToTransmit: 1, entries: new Map() };
      this.peers.set(name, p);
    }
    return p;
  }

  private transmit(e: Pending<T>, now: number): AckTransmission<T> {
    e.attempts++;
    if (e.attempts === 1) this.counters.sent++;
    else this.counters.retransmitted++;
    const wait = backoffDelay(e.step++, this.backoff, this.random);
    this.heap.schedule(e, Math.min(now + wait, e.deadlineAt));
    return { peer: e.peer.name, id: e.id, inc: this.incarnation, lo: e.peer.lo, message: e.message, attempt: e.attempts };
  }

  private waitForDeadline(e: Pending<T>): void {
    if (e.deadlineAt === Infinity) this.heap.remove(e);
    else this.heap.schedule(e, e.deadlineAt);
  }

  private settle(e: Pending<T>): void {
    this.heap.remove(e);
    e.peer.entries.delete(e.id);
    this.counters.unacked--;
    this.counters.unackedBytes -= e.bytes;
  }

  private fail(e: Pending<T>, error: PartisanError, actions: AckActions<T>): void {
    this.settle(e);
    this.counters.failed++;
    actions.failed.push({ peer: e.peer.name, id: e.id, message: e.message, error });
  }

  /** Move `lo` past settled ids, then send what the window now admits. */
  private advance(p: PeerState<T>, now: number, actions: AckActions<T>): void {
    while (p.lo < p.nextId && !p.entries.has(p.lo)) p.lo++;
    if (!p.up) return;
    const limit = Math.min(p.nextId, p.lo + this.options.window);
    while (p.nextToTransmit < limit) {
      const e = p.entries.get(p.nextToTransmit++);
      if (e) actions.transmit.push(this.transmit(e, now));
    }
  }
}

function emptyActions<T>(): AckActions<T> {
  return { transmit: [], settled: [], failed: [] };
}

function timeoutError(e: Pending<unknown>): PartisanError {
  return new PartisanError('ERR_DELIVERY_TIMEOUT', `message ${e.id} to ${e.peer.name} was not acknowledged after ${e.attempts} transmission(s)`, {
    details: { peer: e.peer.name, id: e.id, attempts: e.attempts },
  });
}

// ---------------------------------------------------------------------------------------------

export interface AckReceiverOptions {
  /**
   * Ids above the contiguous floor that are tracked per sender; an id beyond floor + windowSize
   * is neither delivered nor acked (the sender retransmits it later). Default 8192.
   */
  windowSize?: number;
}

export function resolveAckReceiverOptions(options?: AckReceiverOptions, field = 'ack'): Readonly<Required<AckReceiverOptions>> {
  const raw = objectOption(field, options);
  rejectUnknownKeys(field, raw, ['windowSize']);
  return Object.freeze({ windowSize: intOption(`${field}.windowSize`, raw.windowSize, 8192, 1, 1 << 24) });
}

/**
 * - `deliver`: first time seen — hand it to the application, ack it;
 * - `duplicate`: seen before — drop it, ack it again (the first ack may be lost);
 * - `stale`: from an older incarnation of the sender — drop it, do not ack;
 * - `outOfWindow`: too far ahead — drop it, do not ack; it comes again.
 */
export type AckVerdict = 'deliver' | 'duplicate' | 'stale' | 'outOfWindow';

/** Ids to ack to `node`, only over a connection to incarnation `inc`. */
export interface AckBatch {
  readonly node: string;
  readonly inc: number;
  readonly ids: number[];
}

export interface AckReceiverStats {
  delivered: number;
  duplicates: number;
  stale: number;
  outOfWindow: number;
  /** Ids tracked above the floors, all senders together. */
  tracked: number;
}

interface SenderWindow {
  readonly inc: number;
  /** Every id ≤ floor was delivered, or abandoned by the sender. */
  floor: number;
  /** Delivered ids above floor + 1 (arrived out of order). */
  readonly above: Set<number>;
  acks: number[];
}

/** Receiver side: exactly-once delivery per (sender node, incarnation, id) with bounded memory. */
export class AckReceiver {
  readonly options: Readonly<Required<AckReceiverOptions>>;
  private readonly senders = new Map<string, SenderWindow>();
  private readonly withAcks = new Set<string>();
  private readonly counters = { delivered: 0, duplicates: 0, stale: 0, outOfWindow: 0 };

  constructor(options?: AckReceiverOptions) {
    this.options = resolveAckReceiverOptions(options);
  }

  /** Classify one received message (meta `{ id, inc, lo }`); malformed meta throws ERR_WIRE_MALFORMED_FRAME. */
  receive(node: string, inc: number, id: number, lo: number): AckVerdict {
    if (!Number.isSafeInteger(id) || !Number.isSafeInteger(lo) || lo < 1 || lo > id || typeof inc !== 'number' || Number.isNaN(inc)) {
      throw new WireError('ERR_WIRE_MALFORMED_FRAME', `bad ack meta from ${node}: id=${id} lo=${lo} inc=${inc}`, { details: { node, id, lo, inc } });
    }
    let s = this.senders.get(node);
    if (s === undefined || inc > s.inc) {
      // A new incarnation numbers from 1 again: its window starts afresh.
      s = { inc, floor: lo - 1, above: new Set(), acks: [] };
      this.senders.set(node, s);
    } else if (inc < s.inc) {
      this.counters.stale++;
      return 'stale';
    }
    if (lo - 1 > s.floor) raiseFloor(s, lo - 1);
    if (id <= s.floor || s.above.has(id)) {
      this.counters.duplicates++;
      this.queueAck(node, s, id);
      return 'duplicate';
    }
    if (id > s.floor + this.options.windowSize) {
      this.counters.outOfWindow++;
      return 'outOfWindow';
    }
    if (id === s.floor + 1) raiseFloor(s, id);
    else s.above.add(id);
    this.counters.delivered++;
    this.queueAck(node, s, id);
    return 'deliver';
  }

  /** The acks gathered since the last call, one batch per sender. */
  takeAcks(): AckBatch[] {
    const out: AckBatch[] = [];
    for (const node of this.withAcks) {
      const s = this.senders.get(node);
      if (s && s.acks.length > 0) {
        out.push({ node, inc: s.inc, ids: s.acks });
        s.acks = [];
      }
    }
    this.withAcks.clear();
    return out;
  }

  /** Drop all state about `node` (it left the cluster). */
  forget(node: string): void {
    this.senders.delete(node);
    this.withAcks.delete(node);
  }

  stats(): AckReceiverStats {
    let tracked = 0;
    for (const s of this.senders.values()) tracked += s.above.size;
    return { ...this.counters, tracked };
  }

  private queueAck(node: string, s: SenderWindow, id: number): void {
    s.acks.push(id);
    this.withAcks.add(node);
  }
}

function raiseFloor(s: SenderWindow, floor: number): void {
  if (s.above.size > 0 && floor > s.floor + 1) {
    for (const x of s.above) if (x <= floor) s.above.delete(x);
  }
  s.floor = floor;
  while (s.above.delete(s.floor + 1)) s.floor++;
}
