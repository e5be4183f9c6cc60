import type { Random } from '../util/random.js';
import { DeadlineQueue } from './deadline-queue.js';
import {
  ExchangeTracker,
  pickExchangePeer,
  type ExchangeEndAction,
  type ExchangeEndReason,
  type ExchangeInfo,
  type ExchangeSelector,
  type RunningExchange,
} from './exchange-tracker.js';
import type { ExchangeRole, ExchangeStart, NodeName } from './handler.js';
import type { HandlerCall, HandlerOutcome } from './handler-calls.js';
import type { IHaveItem, PlumtreeMessage } from './messages.js';
import { emptyPlumtreeMetrics, type PlumtreeMetrics } from './metrics.js';
import { resolvePlumtreeOptions, type PlumtreeOptions, type ResolvedPlumtreeOptions } from './options.js';
import { OutstandingLazy } from './outstanding.js';
import { PeerSets } from './peer-sets.js';

/**
 * Plumtree (Leitão, Pereira, Rodrigues: "Epidemic Broadcast Trees", SRDS 2007) as a pure
 * state machine for one broadcast channel, after Partisan's `partisan_plumtree_broadcast`.
 *
 * Events go in as method calls (with `now`, a non-decreasing driver time in ms, where time
 * matters); every call returns the actions to perform: messages to send, handler calls to
 * run (their outcomes come back through `resolve`), and exchange-end notices. No timers: the
 * driver calls `tick(now)` when `nextDeadline()` falls due. Deterministic given the Random.
 */

export interface SendAction<Id, P> {
  type: 'send';
  to: NodeName;
  msg: PlumtreeMessage<Id, P>;
}

export type { ExchangeEndAction, ExchangeEndReason, ExchangeInfo, ExchangeSelector } from './exchange-tracker.js';

export type PlumtreeAction<Id, P> = SendAction<Id, P> | HandlerCall<Id, P> | ExchangeEndAction;

export interface PlumtreeInit<Id> {
  /** This node; never a member of its own sets (Partisan PR #216). */
  self: NodeName;
  /** The handler's `idKey`. */
  idKey: (id: Id) => string;
  random: Random;
  /** Driver time at start; the first ticks are scheduled from it. */
  now: number;
  /** Initial membership (self is ignored). Default none. */
  members?: readonly NodeName[];
  /** Connection check (the worker reads the connection table). Default: always connected. */
  isConnected?: (peer: NodeName) => boolean;
  options?: PlumtreeOptions;
}

interface Announcer {
  peer: NodeName;
  round: number;
  root: NodeName;
}

/** An id announced by i_have that has not arrived: the paper's `missing` set plus its timer. */
interface Missing<Id> {
  id: Id;
  announcers: Announcer[];
  deadline: number;
}

/** An id whose `isStale` answer is pending; `arrived` when its payload came in meanwhile. */
interface Checking<Id> {
  id: Id;
  announcers: Announcer[];
  arrived: boolean;
}

type Pending<Id, P> = { at: number } & (
  | { kind: 'merge'; key: string; id: Id; payload: P; from: NodeName; round: number; root: NodeName }
  | { kind: 'isStale'; keys: string[] }
  | { kind: 'graft'; key: string; id: Id; from: NodeName; round: number; root: NodeName }
  | { kind: 'exchange'; xid: number }
  | { kind: 'exchangeMessage'; xid: number; peer: NodeName; role: ExchangeRole }
);

type Out<Id, P> = PlumtreeAction<Id, P>[];

export class Plumtree<Id, P> {
  readonly self: NodeName;
  readonly options: ResolvedPlumtreeOptions;
  private readonly m: PlumtreeMetrics = emptyPlumtreeMetrics();
  private readonly idKey: (id: Id) => string;
  private readonly random: Random;
  private readonly isConnected: (peer: NodeName) => boolean;

  private readonly sets: PeerSets;
  private readonly outstanding: OutstandingLazy<Id>;
  private readonly missing = new Map<string, Missing<Id>>();
  private readonly checking = new Map<string, Checking<Id>>();
  /** idKey → ref of the merge in flight: a second copy meanwhile is a duplicate. */
  private readonly merging = new Map<string, number>();
  /** ref → call context; Map order is creation order, which makes expiry O(expired). */
  private readonly pending = new Map<number, Pending<Id, P>>();
  private readonly running: ExchangeTracker;
  private readonly firstGraftTimers = new DeadlineQueue<string>();
  private readonly retryGraftTimers = new DeadlineQueue<string>();
  private nextRef = 1;
  private nextLazyAt: number;
  private nextExchangeAt: number;

  constructor(init: PlumtreeInit<Id>) {
    this.self = init.self;
    this.options = resolvePlumtreeOptions(init.options);
    this.idKey = init.idKey;
    this.random = init.random;
    this.isConnected = init.isConnected ?? (() => true);
    this.sets = new PeerSets(this.options.maxTrees, this.options.initialEagerPeers);
    this.outstanding = new OutstandingLazy(this.options.maxOutstandingPerPeer);
    this.running = new ExchangeTracker(this.options.exchangeLimit, this.options.exchangeTimeout);
    // A random phase keeps a fleet of nodes started together from ticking in lockstep.
    this.nextLazyAt = init.now + 1 + this.random.int(this.options.lazyTickPeriod);
    this.nextExchangeAt = init.now + 1 + this.random.int(Math.max(1, this.options.exchangeTickPeriod));
    if (init.members) this.setMembers(init.members);
  }

  // ---------------------------------------------------------------- events

  /** A local broadcast (after `handler.broadcastData`): eager push, lazy push scheduled. */
  broadcast(id: Id, payload: P): PlumtreeAction<Id, P>[] {
    const out: Out<Id, P> = [];
    this.m.broadcasts++;
    this.push(id, this.idKey(id), payload, 0, this.self, undefined, out);
    return out;
  }

  /** A message from `from` (the authenticated peer of the stream), checked with `isPlumtreeMessage`. */
  receive(from: NodeName, msg: PlumtreeMessage<Id, P>, now: number): PlumtreeAction<Id, P>[] {
    const out: Out<Id, P> = [];
    if (from === this.self) {
      this.m.ignoredMessages++;
      return out;
    }
    switch (msg.t) {
      case 'broadcast':
        this.onBroadcast(from, msg.id, msg.payload, msg.round, msg.root, now, out);
        break;
      case 'i_have':
        this.onIHave(from, msg.items, now, out);
        break;
      case 'graft':
        this.onGraft(from, msg.id, msg.round, msg.root, now, out);
        break;
      case 'prune':
        this.m.prunesReceived++;
        this.sets.addLazy(from, msg.root);
        break;
      case 'ignored_i_have':
        for (const id of msg.ids) {
          const key = this.keyOf(id);
          if (key !== undefined) this.outstanding.ack(from, key);
        }
        break;
      case 'x_req':
        this.onExchangeRequest(from, msg.xid, msg.body, now, out);
        break;
      case 'x_rep':
        this.onExchangeReply(from, msg.xid, msg.bodies, now, out);
        break;
      default:
        this.m.ignoredMessages++;
    }
    return out;
  }

  /** The outcome of the handler call `ref`. Unknown refs (expired, cancelled) are ignored. */
  resolve(ref: number, outcome: HandlerOutcome<P>, now: number): PlumtreeAction<Id, P>[] {
    const out: Out<Id, P> = [];
    const p = this.pending.get(ref);
    if (!p) return out;
    this.pending.delete(ref);
    if (outcome.type !== p.kind) {
      this.m.handlerFailures++;
      this.abandon(ref, p, out);
      return out;
    }
    switch (outcome.type) {
      case 'merge':
        if (p.kind === 'merge') this.onMerged(p, outcome.isNew, out);
        break;
      case 'isStale':
        if (p.kind === 'isStale') this.onStaleChecked(p.keys, outcome.stale, now, out);
        break;
      case 'graft':
        if (p.kind === 'graft') this.onGrafted(p, outcome, out);
        break;
      case 'exchange':
        if (p.kind === 'exchange') this.onExchangeStarted(p.xid, outcome.start, now, out);
        break;
      case 'exchangeMessage':
        if (p.kind === 'exchangeMessage') this.onExchangeAnswered(p, outcome.bodies, now, out);
        break;
    }
    return out;
  }

  /**
   * Membership update (Partisan `update/1`). Self is always excluded; members no longer
   * listed leave every set, lose their outstanding i_haves and announcements, and their
   * exchanges end — a departed node must not linger (Partisan PR #216).
   */
  setMembers(members: readonly NodeName[]): PlumtreeAction<Id, P>[] {
    const out: Out<Id, P> = [];
    const next = new Set(members);
    next.delete(this.self);
    for (const peer of this.sets.memberList()) {
      if (next.has(peer)) continue;
      this.sets.removeMember(peer);
      this.outstanding.dropPeer(peer);
      for (const entry of this.missing.values()) entry.announcers = entry.announcers.filter((a) => a.peer !== peer);
      for (const entry of this.checking.values()) entry.announcers = entry.announcers.filter((a) => a.peer !== peer);
      for (const ex of this.running.withPeer(peer)) this.endExchange(ex, 'peer_removed', out);
    }
    for (const peer of [...next].sort()) this.sets.addMember(peer);
    return out;
  }

  /** Runs whatever is due at `now`: graft timers, the lazy and exchange ticks, expiries. */
  tick(now: number): PlumtreeAction<Id, P>[] {
    const out: Out<Id, P> = [];
    this.expireCalls(now, out);
    this.fireGraftTimers(now, out);
    if (now >= this.nextLazyAt) {
      this.flushLazy(out);
      this.nextLazyAt = nextPeriod(this.nextLazyAt, this.options.lazyTickPeriod, now);
    }
    if (this.options.exchangeTickPeriod > 0 && now >= this.nextExchangeAt) {
      this.startExchange(now, out);
      this.nextExchangeAt = nextPeriod(this.nextExchangeAt, this.options.exchangeTickPeriod, now);
    }
    for (const ex of this.running.expired(now)) this.endExchange(ex, 'timeout', out);
    return out;
  }

  /** When `tick` next has work (at the latest, the next lazy tick). */
  nextDeadline(): number {
    let next = this.nextLazyAt;
    if (this.options.exchangeTickPeriod > 0) next = Math.min(next, this.nextExchangeAt);
    const first = this.firstGraftTimers.peek();
    if (first !== undefined) next = Math.min(next, first);
    const retry = this.retryGraftTimers.peek();
    if (retry !== undefined) next = Math.min(next, retry);
    next = Math.min(next, this.running.nextTimeout() ?? Infinity);
    const oldest = this.pending.values().next();
    if (!oldest.done) next = Math.min(next, oldest.value.at + this.options.callTimeout);
    return next;
  }

  /** Sends every outstanding i_have now (Partisan's `lazy_tick`); `tick` does it each period. */
  lazyTick(): PlumtreeAction<Id, P>[] {
    const out: Out<Id, P> = [];
    this.flushLazy(out);
    return out;
  }

  /** Starts an anti-entropy exchange now if below the limit (Partisan's `exchange_tick`). */
  exchangeTick(now: number): PlumtreeAction<Id, P>[] {
    const out: Out<Id, P> = [];
    this.startExchange(now, out);
    return out;
  }

  /** Ends the matching exchanges started here (Partisan `cancel_exchanges/1`). */
  cancelExchanges(which: ExchangeSelector): PlumtreeAction<Id, P>[] {
    const out: Out<Id, P> = [];
    for (const ex of this.running.matching(which)) this.endExchange(ex, 'cancelled', out);
    return out;
  }

  // ---------------------------------------------------------------- queries

  /** Members this channel broadcasts to, sorted, never including self. */
  broadcastMembers(): NodeName[] {
    return this.sets.memberList();
  }

  /** Eager and lazy peers of the tree rooted at `root` (Partisan `get_peers/1`), sorted. */
  peers(root: NodeName): { eager: NodeName[]; lazy: NodeName[] } {
    const tree = this.sets.peers(root);
    return { eager: [...tree.eager].sort(), lazy: [...tree.lazy].sort() };
  }

  exchanges(): ExchangeInfo[] {
    return this.running.list();
  }

  /** Outstanding i_have entries, for one peer or in total. */
  outstandingCount(peer?: NodeName): number {
    return peer === undefined ? this.outstanding.size : this.outstanding.countFor(peer);
  }

  /** Ids announced but not received (waiting on a graft timer or on `isStale`). */
  missingCount(): number {
    return this.missing.size + this.checking.size;
  }

  pendingCalls(): number {
    return this.pending.size;
  }

  get metrics(): Readonly<PlumtreeMetrics> {
    return this.m;
  }

  // ---------------------------------------------------------------- tree

  /** Eager push to the tree, lazy push (scheduled i_have) to the rest; never back to `from`. */
  private push(id: Id, key: string, payload: P, round: number, root: NodeName, from: NodeName | undefined, out: Out<Id, P>): void {
    const tree = this.sets.peers(root);
    for (const peer of tree.eager) {
      if (peer === from) continue;
      out.push({ type: 'send', to: peer, msg: { t: 'broadcast', id, payload, round, root } });
      this.m.payloadsSent++;
    }
    for (const peer of tree.lazy) {
      if (peer === from) continue;
      this.m.outstandingDropped += this.outstanding.add(peer, key, [id, round, root]);
    }
  }

  private prune(peer: NodeName, root: NodeName, out: Out<Id, P>): void {
    this.sets.addLazy(peer, root);
    out.push({ type: 'send', to: peer, msg: { t: 'prune', root } });
    this.m.prunesSent++;
  }

  private onBroadcast(from: NodeName, id: Id, payload: P, round: number, root: NodeName, now: number, out: Out<Id, P>): void {
    this.m.received++;
    const key = this.keyOf(id);
    if (key === undefined) return;
    if (this.merging.has(key)) {
      this.m.duplicates++;
      this.prune(from, root, out);
      return;
    }
    if (this.pending.size >= this.options.maxPendingCalls) {
      this.m.overloadDropped++;
      return;
    }
    // The paper cancels the graft timer on receipt, before the merge verdict.
    this.missing.delete(key);
    const checking = this.checking.get(key);
    if (checking) checking.arrived = true;
    const ref = this.track({ at: now, kind: 'merge', key, id, payload, from, round, root });
    this.merging.set(key, ref);
    out.push({ type: 'merge', ref, id, payload, from, hops: round + 1 });
  }

  private onMerged(p: Pending<Id, P> & { kind: 'merge' }, isNew: boolean, out: Out<Id, P>): void {
    this.merging.delete(p.key);
    if (!isNew) {
      this.m.duplicates++;
      this.prune(p.from, p.root, out);
      return;
    }
    this.m.delivered++;
    this.m.lastDeliveryHops = p.round + 1;
    this.m.maxDeliveryHops = Math.max(this.m.maxDeliveryHops, p.round + 1);
    this.sets.addEager(p.from, p.root);
    this.push(p.id, p.key, p.payload, p.round + 1, p.root, p.from, out);
  }

  // ---------------------------------------------------------------- lazy push and graft

  private flushLazy(out: Out<Id, P>): void {
    const batchSize = this.options.maxIHaveBatch;
    for (const [peer, entries] of this.outstanding.entries()) {
      if (!this.isConnected(peer)) continue;
      let items: IHaveItem<Id>[] = [];
      for (const item of entries.values()) {
        items.push(item);
        if (items.length === batchSize) {
          out.push({ type: 'send', to: peer, msg: { t: 'i_have', items } });
          items = [];
        }
      }
      if (items.length > 0) out.push({ type: 'send', to: peer, msg: { t: 'i_have', items } });
      this.m.iHavesSent += entries.size;
    }
  }

  private onIHave(from: NodeName, items: readonly IHaveItem<Id>[], now: number, out: Out<Id, P>): void {
    this.m.iHavesReceived += items.length;
    const acks: Id[] = [];
    const ids: Id[] = [];
    const keys: string[] = [];
    for (const [id, round, root] of items) {
      const key = this.keyOf(id);
      if (key === undefined) continue;
      const announcer = { peer: from, round, root };
      if (this.merging.has(key)) {
        acks.push(id);
        continue;
      }
      const missing = this.missing.get(key);
      if (missing) {
        addAnnouncer(missing.announcers, announcer);
        continue;
      }
      const checking = this.checking.get(key);
      if (checking) {
        if (checking.arrived) acks.push(id);
        else addAnnouncer(checking.announcers, announcer);
        continue;
      }
      if (this.missing.size + this.checking.size >= this.options.maxMissing) {
        // Safe to drop: the announcer repeats it every lazy tick until acknowledged.
        this.m.missingDropped++;
        continue;
      }
      this.checking.set(key, { id, announcers: [announcer], arrived: false });
      ids.push(id);
      keys.push(key);
    }
    if (ids.length > 0) {
      if (this.pending.size >= this.options.maxPendingCalls) {
        this.m.overloadDropped += ids.length;
        for (const key of keys) this.checking.delete(key);
      } else {
        const ref = this.track({ at: now, kind: 'isStale', keys });
        out.push({ type: 'isStale', ref, ids });
      }
    }
    if (acks.length > 0) this.sendAcks(from, acks, out);
  }

  private onStaleChecked(keys: readonly string[], stale: readonly boolean[], now: number, out: Out<Id, P>): void {
    const acks = new Map<NodeName, Id[]>();
    keys.forEach((key, i) => {
      const entry = this.checking.get(key);
      if (!entry) return;
      this.checking.delete(key);
      if (stale[i] === true || entry.arrived || this.merging.has(key)) {
        for (const a of entry.announcers) {
          const list = acks.get(a.peer);
          if (list) list.push(entry.id);
          else acks.set(a.peer, [entry.id]);
        }
      } else if (entry.announcers.length > 0) {
        // Paper: on i_have for an unknown id, start a timer; graft only if it expires.
        const deadline = now + this.options.graftTimeout;
        this.missing.set(key, { id: entry.id, announcers: entry.announcers, deadline });
        this.firstGraftTimers.push(key, deadline);
      }
    });
    for (const [peer, ids] of acks) this.sendAcks(peer, ids, out);
  }

  private sendAcks(peer: NodeName, ids: Id[], out: Out<Id, P>): void {
    out.push({ type: 'send', to: peer, msg: { t: 'ignored_i_have', ids } });
    this.m.ignoredIHavesSent += ids.length;
  }

  private fireGraftTimers(now: number, out: Out<Id, P>): void {
    for (const queue of [this.firstGraftTimers, this.retryGraftTimers]) {
      for (let due = queue.popDue(now); due; due = queue.popDue(now)) {
        const entry = this.missing.get(due.key);
        if (!entry || entry.deadline !== due.deadline) continue;
        const next = entry.announcers.shift();
        if (!next) {
          // Nobody left to ask; a later i_have (announcers repeat until acked) starts over.
          this.missing.delete(due.key);
          continue;
        }
        // Paper: graft the first announcer, then give it a shorter timer before the next one.
        this.sets.addEager(next.peer, next.root);
        out.push({ type: 'send', to: next.peer, msg: { t: 'graft', id: entry.id, round: next.round, root: next.root } });
        this.m.graftsSent++;
        entry.deadline = now + this.options.graftRetryTimeout;
        this.retryGraftTimers.push(due.key, entry.deadline);
      }
    }
  }

  private onGraft(from: NodeName, id: Id, round: number, root: NodeName, now: number, out: Out<Id, P>): void {
    this.m.graftsReceived++;
    const key = this.keyOf(id);
    if (key === undefined) return;
    if (this.pending.size >= this.options.maxPendingCalls) {
      this.m.overloadDropped++;
      return;
    }
    const ref = this.track({ at: now, kind: 'graft', key, id, from, round, root });
    out.push({ type: 'graft', ref, id, from });
  }

  private onGrafted(p: Pending<Id, P> & { kind: 'graft' }, outcome: HandlerOutcome<P> & { type: 'graft' }, out: Out<Id, P>): void {
    const result = outcome.result;
    if (result !== 'stale' && 'ok' in result) {
      // As Partisan: the outstanding entry stays; the next i_have, ignored, acknowledges it,
      // so a lost graft answer is announced again instead of forgotten.
      this.sets.addEager(p.from, p.root);
      out.push({ type: 'send', to: p.from, msg: { t: 'broadcast', id: p.id, payload: result.ok, round: p.round, root: p.root } });
      this.m.payloadsSent++;
      return;
    }
    this.m.graftsUnserved++;
    // Superseded: nothing will ever serve it, so stop announcing it (Partisan acks here too).
    if (result === 'stale') this.outstanding.ack(p.from, p.key);
  }

  // ---------------------------------------------------------------- anti-entropy

  private startExchange(now: number, out: Out<Id, P>): void {
    if (this.running.full || this.pending.size >= this.options.maxPendingCalls) return;
    const candidates = this.sets.memberList().filter((p) => this.isConnected(p));
    const peer = pickExchangePeer(this.self, candidates, (root) => this.sets.peers(root), this.options.exchangeSelection, this.random);
    if (peer === undefined) return;
    const ex = this.running.begin(peer, now);
    const ref = this.track({ at: now, kind: 'exchange', xid: ex.xid });
    out.push({ type: 'exchange', ref, xid: ex.xid, peer });
  }

  private onExchangeStarted(xid: number, start: ExchangeStart, now: number, out: Out<Id, P>): void {
    const ex = this.running.get(xid);
    if (!ex) return;
    ex.busy--;
    if (start === 'ignore') return this.endExchange(ex, 'ignored', out);
    if (!Array.isArray(start)) return this.endExchange(ex, 'failed', out);
    this.m.exchangesStarted++;
    this.sendRequests(ex, start, now, out);
  }

  private onExchangeRequest(from: NodeName, xid: number, body: unknown, now: number, out: Out<Id, P>): void {
    if (this.pending.size >= this.options.maxPendingCalls) {
      this.m.overloadDropped++;
      return;
    }
    const ref = this.track({ at: now, kind: 'exchangeMessage', xid, peer: from, role: 'responder' });
    out.push({ type: 'exchangeMessage', ref, xid, peer: from, role: 'responder', bodies: [body] });
  }

  private onExchangeReply(from: NodeName, xid: number, bodies: unknown[], now: number, out: Out<Id, P>): void {
    const ex = this.running.get(xid, from);
    if (!ex) {
      this.m.ignoredMessages++;
      return;
    }
    ex.outstanding--;
    ex.lastActivity = now;
    if (bodies.length > 0) {
      if (this.pending.size >= this.options.maxPendingCalls) return this.endExchange(ex, 'failed', out);
      ex.busy++;
      const ref = this.track({ at: now, kind: 'exchangeMessage', xid, peer: from, role: 'initiator' });
      out.push({ type: 'exchangeMessage', ref, xid, peer: from, role: 'initiator', bodies });
    }
    this.maybeEndExchange(ex, out);
  }

  private onExchangeAnswered(p: Pending<Id, P> & { kind: 'exchangeMessage' }, bodies: readonly unknown[], now: number, out: Out<Id, P>): void {
    if (p.role === 'responder') {
      out.push({ type: 'send', to: p.peer, msg: { t: 'x_rep', xid: p.xid, bodies: [...bodies] } });
      return;
    }
    const ex = this.running.get(p.xid);
    if (!ex) return;
    ex.busy--;
    this.sendRequests(ex, bodies, now, out);
  }

  private sendRequests(ex: RunningExchange, bodies: readonly unknown[], now: number, out: Out<Id, P>): void {
    ex.lastActivity = now;
    for (const body of bodies) {
      out.push({ type: 'send', to: ex.peer, msg: { t: 'x_req', xid: ex.xid, body } });
      ex.outstanding++;
    }
    this.maybeEndExchange(ex, out);
  }

  private maybeEndExchange(ex: RunningExchange, out: Out<Id, P>): void {
    if (this.running.isFinished(ex)) this.endExchange(ex, 'done', out);
  }

  private endExchange(ex: RunningExchange, reason: ExchangeEndReason, out: Out<Id, P>): void {
    const notice = this.running.end(ex, reason);
    if (!notice) return;
    if (reason === 'done') this.m.exchangesCompleted++;
    else if (reason !== 'ignored') this.m.exchangesAborted++;
    out.push(notice);
  }

  // ---------------------------------------------------------------- handler call bookkeeping

  /** Registers a handler call about to be emitted; returns its ref. */
  private track(p: Pending<Id, P>): number {
    const ref = this.nextRef++;
    this.pending.set(ref, p);
    return ref;
  }

  /** The key of an id a peer sent; undefined (and the entry ignored) if `idKey` rejects it. */
  private keyOf(id: Id): string | undefined {
    try {
      return this.idKey(id);
    } catch {
      this.m.ignoredMessages++;
      return undefined;
    }
  }

  /** Forgets calls without an outcome after `callTimeout`, as if they had failed. */
  private expireCalls(now: number, out: Out<Id, P>): void {
    for (const [ref, p] of this.pending) {
      if (p.at + this.options.callTimeout > now) break;
      this.pending.delete(ref);
      this.m.handlerFailures++;
      this.abandon(ref, p, out);
    }
  }

  /** Undoes the bookkeeping of a call that failed; lazy push or anti-entropy recovers the rest. */
  private abandon(ref: number, p: Pending<Id, P>, out: Out<Id, P>): void {
    switch (p.kind) {
      case 'merge':
        if (this.merging.get(p.key) === ref) this.merging.delete(p.key);
        break;
      case 'isStale':
        for (const key of p.keys) this.checking.delete(key);
        break;
      case 'exchange':
      case 'exchangeMessage': {
        const ex = p.kind === 'exchangeMessage' && p.role === 'responder' ? undefined : this.running.get(p.xid);
        if (ex) this.endExchange(ex, 'failed', out);
        break;
      }
      case 'graft':
        break;
    }
  }
}

function addAnnouncer(list: Announcer[], announcer: Announcer): void {
  if (!list.some((a) => a.peer === announcer.peer)) list.push(announcer);
}

function nextPeriod(previous: number, period: number, now: number): number {
  const next = previous + period;
  return next > now ? next : now + period;
}
