import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { PartitionKey } from '../channels/stream-selector.js';
import { AckReceiver, AckSender, type AckActions, type AckSenderOptions, type AckTransmission } from '../delivery/ack-tracker.js';
import { CausalDelivery, parseCausalStamp, type CausalMessage, type CausalOptions, type CausalStamp } from '../delivery/causal.js';
import { TrackedMessage } from '../process/mailbox.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { PartisanError, isPartisanError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import type { Envelope, EnvelopeMeta } from '../wire/frame.js';

/**
 * The driver of the delivery state machines (src/delivery): `ack: true` and `causalLabel`.
 *
 * - Acked sends are stored by an AckSender and retransmitted with backoff until the receiver
 *   acknowledges or the deadline passes (the caller's Promise rejects ERR_DELIVERY_TIMEOUT);
 *   they survive a dropped connection and go out again on reconnect.
 * - The receiver acknowledges a message when the process *consumes* it (TrackedMessage), not
 *   when it lands in a mailbox: a receiver killed with messages still queued gets them again.
 * - Duplicates are filtered per (sender, sender incarnation, id). With `journalDir` the
 *   receiver also appends every consumed id to a journal and reloads it at start, so a
 *   receiver that restarts still recognises messages it consumed before the crash.
 * - Causal stamps (any number of labels) are checked after de-duplication; a message waits
 *   in the label's bounded buffer until its causal predecessors were delivered.
 */

export interface ReliableDeliveryOptions {
  /** Retransmission, deadlines and bounds for `ack: true` sends (see AckSenderOptions). */
  ack?: AckSenderOptions;
  /** Buffer bounds for causal labels (see CausalOptions). */
  causal?: CausalOptions;
  /** Receiver journal directory for exactly-once across restarts; default none (in memory). */
  journalDir?: string;
}

export interface ReliableDeliveryHost {
  readonly self: string;
  readonly incarnation: number;
  readonly clock: Clock;
  readonly random: Random;
  /** Queue an envelope to `node` on `channel` (throws when not connected: the tracker retries). */
  send(node: string, channel: string, envelope: Envelope, key: PartitionKey | undefined): void;
  /** Send acks to `node`, only on a connection to its incarnation `inc`. */
  sendAcks(node: string, inc: number, ids: number[]): void;
  /** Hand a message (possibly a TrackedMessage) to the local target; false when there is none. */
  deliver(target: number | string, message: unknown): boolean;
  /** Whether a local process or name `target` exists right now. */
  hasTarget(target: number | string): boolean;
  /** Last known incarnation of a connected peer. */
  incarnationOf(node: string): number | undefined;
  estimateSize(envelope: Envelope): number;
}

interface Outgoing {
  channel: string;
  key: PartitionKey | undefined;
  target: number | string;
  payload: unknown;
  causal: CausalStamp | undefined;
  resolve(): void;
  reject(error: Error): void;
}

/** What waits in a causal buffer: the target plus, for acked messages, who to ack. */
interface CausalItem {
  target: number | string;
  payload: unknown;
  ack: { from: string; inc: number; id: number } | undefined;
}

export class ReliableDelivery {
  private readonly sender: AckSender<Outgoing>;
  private readonly receiver = new AckReceiver();
  private readonly causal: CausalDelivery<CausalItem>;
  /** Delivered but not yet consumed, per `${from}|${inc}`: their duplicates must not be acked early. */
  private readonly unconsumed = new Map<string, Set<number>>();
  private readonly pendingAcks = new Map<string, { from: string; inc: number; ids: number[] }>();
  private ackFlush: NodeJS.Immediate | undefined;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private journalFd: number | undefined;
  private journalLines: string[] = [];
  private stopped = false;
  readonly counters = { causalRefused: 0, causalExpired: 0, ackDeadLetters: 0, ackNoTarget: 0 };

  constructor(
    private readonly host: ReliableDeliveryHost,
    options: ReliableDeliveryOptions = {},
  ) {
    this.sender = new AckSender<Outgoing>(host.incarnation, host.random, options.ack);
    this.causal = new CausalDelivery<CausalItem>(causalId(host.self, host.incarnation), options.causal);
    if (options.journalDir) this.openJournal(options.journalDir);
  }

  // ---- sending ----

  /** Send with acknowledgement; resolves once the target consumed it, rejects ERR_DELIVERY_TIMEOUT. */
  sendAcked(node: string, channel: string, key: PartitionKey | undefined, target: number | string, payload: unknown, causalLabel: string | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const causal = causalLabel === undefined ? undefined : this.stamp(causalLabel, node, target, payload);
      const item: Outgoing = { channel, key, target, payload, causal, resolve, reject };
      const bytes = this.host.estimateSize([target, payload]);
      const { transmission } = this.sender.send(node, item, bytes, this.host.clock.now());
      if (transmission) this.transmit(transmission);
      this.reschedule();
    });
  }

  /** Send causally without acknowledgement (at most once, in causal order when it arrives). */
  sendCausal(node: string, channel: string, key: PartitionKey | undefined, target: number | string, payload: unknown, label: string): void {
    const causal = this.stamp(label, node, target, payload);
    this.host.send(node, channel, [target, payload, { causal }], key);
  }

  private stamp(label: string, node: string, target: number | string, payload: unknown): CausalStamp {
    const inc = this.host.incarnationOf(node);
    if (inc === undefined) throw new PartisanError('ERR_NOT_CONNECTED', `causal delivery to ${node} needs a connection first`, { details: { node } });
    return this.causal.emit(label, causalId(node, inc), { target, payload, ack: undefined }).stamp;
  }

  private transmit(t: AckTransmission<Outgoing>): void {
    const m = t.message;
    const meta: EnvelopeMeta = { id: t.id, inc: t.inc, lo: t.lo, ...(m.causal ? { causal: m.causal } : {}) };
    try {
      this.host.send(t.peer, m.channel, [m.target, m.payload, meta], m.key);
    } catch (err) {
      // Not connected, partitioned, queue full: the tracker retransmits on its schedule or on reconnect.
      if (!isPartisanError(err)) throw err;
    }
  }

  private apply(actions: AckActions<Outgoing>): void {
    for (const t of actions.transmit) this.transmit(t);
    for (const s of actions.settled) s.message.resolve();
    for (const f of actions.failed) f.message.reject(f.error);
    this.reschedule();
  }

  private reschedule(): void {
    if (this.stopped) return;
    const due = this.sender.nextDueAt() ?? Infinity;
    if (due >= this.timerAt && this.timer) return;
    this.timer?.cancel();
    this.timerAt = due;
    if (due === Infinity) {
      this.timer = undefined;
      return;
    }
    this.timer = this.host.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.apply(this.sender.tick(this.host.clock.now()));
      for (const expired of this.causal.tick(this.host.clock.now())) {
        void expired;
        this.counters.causalExpired++;
      }
    }, Math.max(0, due - this.host.clock.now()));
  }

  // ---- receiving ----

  /** Acks from `from` for our acked sends. */
  acks(from: string, ids: number[]): void {
    this.apply(this.sender.ack(from, ids, this.host.clock.now()));
  }

  /** An envelope with meta from `from`. Returns false when it was not a reliable-delivery envelope. */
  receive(from: string, envelope: Envelope): boolean {
    const meta = envelope[2];
    if (meta === undefined) return false;
    const target = envelope[0];
    const payload = envelope[1];
    if (meta.id !== undefined) {
      if (!this.host.hasTarget(target)) {
        // Not recorded, not acked: the sender retries (the name may be registered by then) and
        // fails with ERR_DELIVERY_TIMEOUT if it never is — an ack would claim a delivery.
        this.counters.ackNoTarget++;
        return true;
      }
      const inc = Number(meta.inc);
      const id = meta.id;
      const verdict = this.receiver.receive(from, inc, id, typeof meta.lo === 'number' ? meta.lo : id);
      this.receiver.takeAcks(); // acks go out on consumption (below), not on arrival
      const k = `${from}|${inc}`;
      if (verdict === 'duplicate') {
        if (!this.unconsumed.get(k)?.has(id)) this.queueAck(from, inc, id);
        return true;
      }
      if (verdict !== 'deliver') return true;
      const ack = { from, inc, id };
      if (meta.causal !== undefined) this.receiveCausal(meta.causal, { target, payload, ack });
      else this.deliverTracked(target, payload, ack);
      return true;
    }
    if (meta.causal !== undefined) {
      this.receiveCausal(meta.causal, { target, payload, ack: undefined });
      return true;
    }
    return false;
  }

  private receiveCausal(rawStamp: unknown, item: CausalItem): void {
    const stamp = parseCausalStamp(rawStamp);
    const receipt = this.causal.receive({ stamp, payload: item } as CausalMessage<CausalItem>, this.host.clock.now());
    if (!receipt.accepted) this.counters.causalRefused++;
    for (const m of receipt.delivered) {
      const it = m.payload;
      if (it.ack) this.deliverTracked(it.target, it.payload, it.ack);
      else this.host.deliver(it.target, it.payload);
    }
  }

  private deliverTracked(target: number | string, payload: unknown, ack: { from: string; inc: number; id: number }): void {
    const k = `${ack.from}|${ack.inc}`;
    let set = this.unconsumed.get(k);
    if (!set) {
      set = new Set();
      this.unconsumed.set(k, set);
    }
    set.add(ack.id);
    const consumed = (): void => {
      set!.delete(ack.id);
      this.journal(ack.from, ack.inc, ack.id);
      this.queueAck(ack.from, ack.inc, ack.id);
    };
    if (!this.host.deliver(target, new TrackedMessage(payload, consumed))) {
      // The target went away between the check and now (or its mailbox is full): the
      // retransmission will find the id recorded, so settle it here as a dead letter.
      this.counters.ackDeadLetters++;
      consumed();
    }
  }

  private queueAck(from: string, inc: number, id: number): void {
    const k = `${from}|${inc}`;
    let batch = this.pendingAcks.get(k);
    if (!batch) {
      batch = { from, inc, ids: [] };
      this.pendingAcks.set(k, batch);
    }
    batch.ids.push(id);
    this.ackFlush ??= setImmediate(() => {
      this.ackFlush = undefined;
      const batches = [...this.pendingAcks.values()];
      this.pendingAcks.clear();
      for (const b of batches) {
        try {
          this.host.sendAcks(b.from, b.inc, b.ids);
        } catch {
          // Gone: the sender retransmits and the duplicate is acked then.
        }
      }
    });
  }

  // ---- connections ----

  connectionUp(node: string): void {
    this.apply(this.sender.connectionUp(node, this.host.clock.now()));
  }

  connectionDown(node: string): void {
    this.sender.connectionLost(node);
  }

  stats(): Record<string, number> {
    const s = this.sender.stats();
    const r = this.receiver.stats();
    return {
      ackUnacked: s.unacked,
      ackSent: s.sent,
      ackRetransmitted: s.retransmitted,
      ackAcked: s.acked,
      ackFailed: s.failed,
      ackDelivered: r.delivered,
      ackDuplicates: r.duplicates,
      ...this.counters,
    };
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    if (this.ackFlush) clearImmediate(this.ackFlush);
    this.flushJournal();
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }

  // ---- journal ----

  private openJournal(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `acks-${this.host.self.replace(/[^A-Za-z0-9_.-]/g, '_')}.log`);
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const [from, inc, id] = line.split('\t');
        if (!from || inc === undefined || id === undefined) continue;
        const n = Number(id);
        // Replayed as consumed: later retransmissions of these ids are duplicates.
        if (Number.isSafeInteger(n) && n > 0) this.receiver.receive(from, Number(inc), n, 1);
      }
      this.receiver.takeAcks();
    }
    this.journalFd = openSync(file, 'a', 0o600);
  }

  /**
   * Record a consumed id. Lines are buffered and written with one write in a microtask, i.e.
   * after the receive that consumed a batch returns but before the process's code that awaited
   * it runs: the gap in which a crash could separate "journaled" from "handled" stays tiny.
   */
  private journal(from: string, inc: number, id: number): void {
    if (this.journalFd === undefined) return;
    this.journalLines.push(`${from}\t${inc}\t${id}\n`);
    if (this.journalLines.length === 1) queueMicrotask(() => this.flushJournal());
  }

  private flushJournal(): void {
    if (this.journalFd === undefined || this.journalLines.length === 0) return;
    const text = this.journalLines.join('');
    this.journalLines = [];
    writeSync(this.journalFd, text);
  }
}

/** Causal node ids carry the incarnation: a restarted node counts from zero again. */
function causalId(node: string, incarnation: number): string {
  return `${node}~${incarnation}`;
}
