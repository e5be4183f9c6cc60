import type { Clock, TimerHandle } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { FrameType, type Frame } from '../wire/frame.js';
import { decodeRawFrame } from '../wire/frame-codec.js';
import { BoundedQueue } from './bounded-queue.js';
import { forEachFrame, type PeerSend } from './frame-batch.js';
import type { BroadcastData, BroadcastHandler, MaybePromise, NodeName } from './handler.js';
import { invokeHandler, type HandlerCall, type HandlerOutcome } from './handler-calls.js';
import { isPlumtreeMessage } from './messages.js';
import type { PlumtreeOptions } from './options.js';
import { PeerOutbox, type OutboxCounters } from './peer-outbox.js';
import { Plumtree, type ExchangeInfo, type ExchangeSelector, type PlumtreeAction } from './plumtree.js';

/**
 * Runs one broadcast channel: a Plumtree state machine, its handler, real timers (through a
 * Clock), frame decoding and encoding. Thread-agnostic: the same driver runs inside a channel
 * worker and on the main thread (`worker: false`). Output (frames per peer, accepted updates)
 * is collected by the owner once per event-loop turn, so it leaves in batches.
 */

export interface ChannelDriverInit {
  node: NodeName;
  channel: string;
  handler: BroadcastHandler<unknown, unknown>;
  plumtree?: PlumtreeOptions;
  clock: Clock;
  random: Random;
  maxFrameSize: number;
  members: readonly NodeName[];
  /** Connection check on this channel (the connection table; no round trip). */
  isConnected(peer: NodeName): boolean;
  /** This driver replaces one that died: start catch-up exchanges at once. Default false. */
  restarted?: boolean;
  /** Exchanges run back to back after a restart. Default 2. */
  catchUpExchanges?: number;
  /** Accepted updates held for collection; the oldest are dropped beyond. Default 10000. */
  updateBuffer?: number;
  /** Output is waiting; the owner calls `collect` on its next turn. */
  wake(): void;
}

/** Handlers that announce every accepted update themselves (latestPosition: local, broadcast and exchange). */
interface UpdateAnnouncer {
  onUpdate(listener: (update: unknown) => void): () => void;
}

interface DriverCounters extends OutboxCounters {
  framesIn: number;
  messagesIn: number;
  /** Frames or messages that failed decoding or the Plumtree shape check. */
  malformedIn: number;
  /** Well-formed frames of a type this lane does not carry (ack, control). */
  ignoredFrames: number;
  broadcastFailures: number;
  broadcastsCancelled: number;
  catchUpExchanges: number;
}

type Action = PlumtreeAction<unknown, unknown>;

export class ChannelDriver {
  readonly channel: string;
  private readonly sm: Plumtree<unknown, unknown>;
  private readonly handler: BroadcastHandler<unknown, unknown>;
  private readonly clock: Clock;
  private readonly wake: () => void;
  private readonly outbox: PeerOutbox;
  private readonly updates: BoundedQueue<unknown>;
  private readonly c: DriverCounters = {
    framesIn: 0,
    messagesIn: 0,
    malformedIn: 0,
    ignoredFrames: 0,
    framesOut: 0,
    messagesOut: 0,
    oversizedOutgoing: 0,
    broadcastFailures: 0,
    broadcastsCancelled: 0,
    catchUpExchanges: 0,
  };
  private readonly announces: boolean;
  private readonly stopAnnouncing: (() => void) | undefined;
  private subscribed = false;
  private timer: TimerHandle | undefined;
  private armedAt = Infinity;
  private catchUpLeft: number;
  /** Set while a local broadcastData is asynchronous: later broadcasts queue behind it (order). */
  private localTail: Promise<void> | undefined;
  private stopped = false;

  constructor(init: ChannelDriverInit) {
    this.channel = init.channel;
    this.handler = init.handler;
    this.clock = init.clock;
    this.wake = init.wake;
    this.outbox = new PeerOutbox(init.maxFrameSize, this.c);
    this.updates = new BoundedQueue(init.updateBuffer ?? 10_000);
    const announcer = init.handler as Partial<UpdateAnnouncer>;
    this.announces = typeof announcer.onUpdate === 'function';
    this.stopAnnouncing = this.announces ? announcer.onUpdate!.call(init.handler, (update) => this.accepted(update)) : undefined;
    this.sm = new Plumtree<unknown, unknown>({
      self: init.node,
      idKey: (id) => init.handler.idKey(id),
      random: init.random,
      now: init.clock.now(),
      isConnected: init.isConnected,
      ...(init.plumtree ? { options: init.plumtree } : {}),
    });
    this.catchUpLeft = init.restarted ? (init.catchUpExchanges ?? 2) : 0;
    this.apply(this.sm.setMembers(init.members));
    this.catchUp();
    this.settle();
  }

  // ---------------------------------------------------------------- events

  /** A batch of whole frames from `from` (as `concatFrames` built it). */
  receive(from: NodeName, data: Uint8Array): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const whole = forEachFrame(data, (frame) => {
      let decoded: Frame;
      try {
        decoded = decodeRawFrame(frame);
      } catch {
        this.c.malformedIn++;
        return;
      }
      if (decoded.type !== FrameType.Message) {
        this.c.ignoredFrames++;
        return;
      }
      this.c.framesIn++;
      for (const envelope of decoded.messages) {
        this.c.messagesIn++;
        const msg = envelope[1];
        if (!isPlumtreeMessage(msg)) {
          this.c.malformedIn++;
          continue;
        }
        this.apply(this.sm.receive(from, msg, now));
      }
    });
    if (!whole) this.c.malformedIn++;
    this.settle();
  }

  /** Local broadcasts, in order: `broadcastData` each, then eager/lazy push. */
  broadcast(messages: readonly unknown[]): void {
    if (this.stopped || messages.length === 0) return;
    if (this.localTail) {
      this.enqueueLocal(messages);
      return;
    }
    for (let i = 0; i < messages.length; i++) {
      const data = this.broadcastData(messages[i]);
      if (isPromise(data)) {
        this.enqueueLocal(messages.slice(i + 1), data);
        break;
      }
      this.originate(data);
    }
    this.settle();
  }

  setMembers(members: readonly NodeName[]): void {
    if (this.stopped) return;
    this.apply(this.sm.setMembers(members));
    this.catchUp();
    this.settle();
  }

  /** Whether anyone listens for accepted updates; when nobody does, they are not kept. */
  setSubscribed(on: boolean): void {
    this.subscribed = on;
    if (!on) this.updates.takeAll();
  }

  // ---------------------------------------------------------------- queries

  broadcastMembers(): NodeName[] {
    return this.sm.broadcastMembers();
  }

  exchanges(): ExchangeInfo[] {
    return this.sm.exchanges();
  }

  cancelExchanges(which: ExchangeSelector): number {
    const actions = this.sm.cancelExchanges(which);
    this.apply(actions);
    this.settle();
    return actions.filter((a) => a.type === 'exchangeEnd').length;
  }

  /** Plumtree counters, RMR, this driver's own counters and the handler's numeric `stats`, if any. */
  metrics(): Record<string, number> {
    const m = this.sm.metrics;
    const out: Record<string, number> = {
      ...m,
      // Payload copies per delivery − 1: summed over nodes it is the paper's RMR.
      rmr: m.delivered > 0 ? m.received / m.delivered - 1 : 0,
      ...this.c,
      updatesDropped: this.updates.dropped,
      pendingCalls: this.sm.pendingCalls(),
      outstandingIHaves: this.sm.outstandingCount(),
      missing: this.sm.missingCount(),
      members: this.sm.broadcastMembers().length,
    };
    const stats = (this.handler as { stats?: unknown }).stats;
    if (stats !== null && typeof stats === 'object') {
      for (const [k, v] of Object.entries(stats)) if (typeof v === 'number') out[`handler.${k}`] = v;
    }
    return out;
  }

  // ---------------------------------------------------------------- output

  /** Moves waiting frames and updates into `sends` / `updates`. */
  collect(sends: PeerSend[], updates: Array<[channel: string, items: unknown[]]>): void {
    if (!this.outbox.isEmpty) for (const [peer, bytes] of this.outbox.drain()) sends.push({ peer, channel: this.channel, bytes });
    if (this.updates.length > 0) updates.push([this.channel, this.updates.takeAll()]);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.stopAnnouncing?.();
  }

  // ---------------------------------------------------------------- internals

  private broadcastData(message: unknown): MaybePromise<BroadcastData<unknown, unknown> | undefined | Error> {
    try {
      const data = this.handler.broadcastData(message);
      return isPromise(data) ? data.catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))) : data;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** Partisan cancels a broadcast whose broadcast_data throws; so do we, and count it. */
  private originate(data: BroadcastData<unknown, unknown> | undefined | Error): void {
    if (data instanceof Error) {
      this.c.broadcastFailures++;
      return;
    }
    if (data === undefined) {
      this.c.broadcastsCancelled++;
      return;
    }
    try {
      this.apply(this.sm.broadcast(data.id, data.payload));
    } catch {
      // idKey threw on the handler's own id.
      this.c.broadcastFailures++;
      return;
    }
    if (!this.announces) this.accepted(data.payload);
    this.settle();
  }

  /** An asynchronous broadcastData is running: later broadcasts wait behind it, in order. */
  private enqueueLocal(rest: readonly unknown[], first?: Promise<BroadcastData<unknown, unknown> | undefined | Error>): void {
    const tail = (this.localTail ?? Promise.resolve()).then(async () => {
      if (first) this.originate(await first);
      for (const message of rest) {
        if (this.stopped) return;
        this.originate(await this.broadcastData(message));
      }
    });
    this.localTail = tail;
    void tail.then(() => {
      if (this.localTail === tail) this.localTail = undefined;
    });
  }

  private accepted(update: unknown): void {
    if (this.subscribed) {
      this.updates.push(update);
      this.wake();
    }
  }

  private apply(actions: readonly Action[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          this.outbox.add(a.to, a.msg);
          break;
        case 'exchangeEnd':
          if (this.catchUpLeft > 0) queueMicrotask(() => this.catchUpSoon());
          break;
        default:
          this.call(a);
      }
    }
  }

  private call(call: HandlerCall<unknown, unknown>): void {
    const outcome = invokeHandler(this.handler, call);
    if (!isPromise(outcome)) {
      this.resolved(call, outcome);
      return;
    }
    void outcome.then((o) => {
      if (this.stopped) return;
      this.resolved(call, o);
      this.settle();
    });
  }

  private resolved(call: HandlerCall<unknown, unknown>, outcome: HandlerOutcome<unknown>): void {
    if (call.type === 'merge' && outcome.type === 'merge' && outcome.isNew && !this.announces) this.accepted(call.payload);
    this.apply(this.sm.resolve(call.ref, outcome, this.clock.now()));
  }

  private catchUpSoon(): void {
    if (this.stopped) return;
    this.catchUp();
    this.settle();
  }

  /** After a restart: start exchanges now rather than on the (up to 10 s away) periodic tick. */
  private catchUp(): void {
    if (this.catchUpLeft <= 0 || this.sm.exchanges().length > 0) return;
    this.apply(this.sm.exchangeTick(this.clock.now()));
    if (this.sm.exchanges().length > 0) {
      this.catchUpLeft--;
      this.c.catchUpExchanges++;
    }
  }

  private tick(): void {
    this.timer = undefined;
    this.armedAt = Infinity;
    if (this.stopped) return;
    this.apply(this.sm.tick(this.clock.now()));
    this.catchUp();
    this.settle();
  }

  /** After every event: one timer at the state machine's next deadline, and a wake if output waits. */
  private settle(): void {
    if (this.stopped) return;
    const deadline = this.sm.nextDeadline();
    if (deadline < this.armedAt) {
      this.timer?.cancel();
      this.armedAt = deadline;
      this.timer = this.clock.setTimeout(() => this.tick(), Math.max(0, deadline - this.clock.now())).unref();
    }
    if (!this.outbox.isEmpty || this.updates.length > 0) this.wake();
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
