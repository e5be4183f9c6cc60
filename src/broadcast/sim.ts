import { FakeClock, type TimerHandle } from '../util/clock.js';
import { seededRandom, type Random } from '../util/random.js';
import type { NodeName, SyncBroadcastHandler } from './handler.js';
import { invokeHandlerSync, type HandlerCall, type HandlerOutcome } from './handler-calls.js';
import type { PlumtreeMessage } from './messages.js';
import { relativeMessageRedundancy } from './metrics.js';
import type { PlumtreeOptions } from './options.js';
import { Plumtree, type PlumtreeAction } from './plumtree.js';

/**
 * A deterministic discrete-event harness for N Plumtree nodes: virtual time (FakeClock), a
 * seeded Random, per-link latency, message loss, crash/restart and partitions. Everything is
 * synchronous and replays exactly from the seed; nothing here touches node: modules, so the
 * large-scale simulator can reuse it.
 */

type AnyHandler = SyncBroadcastHandler<unknown, unknown, unknown>;
type IdOf<H extends AnyHandler> = Parameters<H['idKey']>[0];
type MessageOf<H extends AnyHandler> = Parameters<H['broadcastData']>[0];
type Message = PlumtreeMessage<unknown, unknown>;

export interface BroadcastSimOptions<H extends AnyHandler> {
  seed: number;
  /** Node names, or a count (names `n0`, `n1`, …). */
  nodes: number | readonly NodeName[];
  /** A fresh handler for a node (also on restart unless the state is kept). */
  handler: (node: NodeName) => H;
  plumtree?: PlumtreeOptions;
  /** One-way latency of each directed link, drawn once per link, ms. Default {min: 1, max: 10}. */
  latency?: { min: number; max: number };
  /** Probability that a message is lost. Default 0. */
  loss?: number;
  /** Virtual ms a handler call takes; 0 answers it within the same event. Default 0. */
  handlerDelay?: number;
  /** Initial membership of each node. Default: every other node (full mesh). */
  members?: (node: NodeName, all: readonly NodeName[]) => readonly NodeName[];
  /** Sees every message sent (e.g. to measure encoded sizes). */
  onSend?: (from: NodeName, to: NodeName, msg: Message) => void;
}

/** What happened to one broadcast. */
export interface BroadcastRecord {
  origin: NodeName;
  /** Payload messages that reached a live node (duplicates included): RMR's `m`. */
  payloadMessages: number;
  /** node → times its handler merged the payload as new (1 is right). */
  deliveries: Map<NodeName, number>;
  /** node → hop count of its delivery. */
  hops: Map<NodeName, number>;
}

export interface SimNode<H> {
  readonly name: NodeName;
  sm: Plumtree<unknown, unknown>;
  handler: H;
  up: boolean;
  /** Bumped on crash: work scheduled for an earlier incarnation is dropped. */
  incarnation: number;
  members: readonly NodeName[];
  timer?: TimerHandle;
  armedAt?: number;
}

export class BroadcastSim<H extends AnyHandler> {
  readonly clock = new FakeClock(0);
  readonly names: readonly NodeName[];
  /** Messages sent, by type, and messages lost (loss, partition, dead receiver). */
  readonly sent: Record<string, number> = {};
  dropped = 0;
  private readonly random: Random;
  private readonly nodes = new Map<NodeName, SimNode<H>>();
  /** from → to → one-way latency, drawn on first use. */
  private readonly links = new Map<NodeName, Map<NodeName, number>>();
  private readonly records = new Map<string, BroadcastRecord>();
  private readonly partitions = new Map<number, { a: Set<NodeName>; b: Set<NodeName> }>();
  private nextPartition = 1;

  constructor(private readonly options: BroadcastSimOptions<H>) {
    this.random = seededRandom(options.seed);
    this.names = typeof options.nodes === 'number' ? Array.from({ length: options.nodes }, (_, i) => `n${i}`) : [...options.nodes];
    for (const name of this.names) {
      const members = options.members ? options.members(name, this.names) : this.names.filter((n) => n !== name);
      const handler = options.handler(name);
      const node: SimNode<H> = { name, handler, sm: this.plumtree(name, handler, members, 0), up: true, incarnation: 0, members };
      this.nodes.set(name, node);
    }
    for (const node of this.nodes.values()) this.arm(node);
  }

  get now(): number {
    return this.clock.now();
  }

  node(name: NodeName): SimNode<H> {
    const node = this.nodes.get(name);
    if (!node) throw new RangeError(`no simulated node ${name}`);
    return node;
  }

  /** Broadcasts from `name` through its handler; returns the id, or undefined if cancelled. */
  broadcast(name: NodeName, message: MessageOf<H>): IdOf<H> | undefined {
    const node = this.node(name);
    if (!node.up) throw new Error(`node ${name} is down`);
    const data = node.handler.broadcastData(message);
    if (!data) return undefined;
    this.records.set(node.handler.idKey(data.id), { origin: name, payloadMessages: 0, deliveries: new Map(), hops: new Map() });
    this.apply(node, node.sm.broadcast(data.id, data.payload));
    return data.id as IdOf<H>;
  }

  /** Advances virtual time by `ms`, running every event on the way. */
  run(ms: number): void {
    this.clock.advance(ms);
  }

  /** Stops a node abruptly: its timers, in-flight handler calls and inbound messages are lost. */
  crash(name: NodeName): void {
    const node = this.node(name);
    node.up = false;
    node.incarnation++;
    node.timer?.cancel();
    node.timer = undefined;
    node.armedAt = undefined;
  }

  /** Starts a crashed node again with a fresh state machine (and a fresh handler unless kept). */
  restart(name: NodeName, opts: { keepHandler?: boolean } = {}): void {
    const node = this.node(name);
    if (node.up) return;
    if (!opts.keepHandler) node.handler = this.options.handler(name);
    node.sm = this.plumtree(name, node.handler, node.members, node.incarnation);
    node.up = true;
    this.arm(node);
  }

  /** What membership (the peer service) tells `name`. */
  setMembers(name: NodeName, members: readonly NodeName[]): void {
    const node = this.node(name);
    node.members = [...members];
    if (node.up) this.apply(node, node.sm.setMembers(members));
  }

  /** Feeds `name` an event of the test's choosing, e.g. `(sm) => sm.exchangeTick(sim.now)`. */
  inject(name: NodeName, event: (sm: Plumtree<unknown, unknown>) => PlumtreeAction<unknown, unknown>[]): void {
    const node = this.node(name);
    if (node.up) this.apply(node, event(node.sm));
  }

  /** Drops all traffic between the two groups (both directions) until healed. */
  partition(a: readonly NodeName[], b: readonly NodeName[]): number {
    const ref = this.nextPartition++;
    this.partitions.set(ref, { a: new Set(a), b: new Set(b) });
    return ref;
  }

  heal(ref?: number): void {
    if (ref === undefined) this.partitions.clear();
    else this.partitions.delete(ref);
  }

  record(id: IdOf<H>): BroadcastRecord {
    const record = this.records.get(this.node(this.names[0]!).handler.idKey(id));
    if (!record) throw new RangeError('unknown broadcast');
    return record;
  }

  /** RMR of one broadcast over `nodes` receivers + origin (default: all simulated nodes). */
  rmr(id: IdOf<H>, nodes = this.names.length): number {
    return relativeMessageRedundancy(this.record(id).payloadMessages, nodes);
  }

  /** Last Delivery Hop of one broadcast: the largest hop count among its deliveries. */
  ldh(id: IdOf<H>): number {
    return Math.max(0, ...this.record(id).hops.values());
  }

  // ---------------------------------------------------------------- event plumbing

  private plumtree(name: NodeName, handler: H, members: readonly NodeName[], incarnation: number): Plumtree<unknown, unknown> {
    return new Plumtree({
      self: name,
      idKey: (id) => handler.idKey(id),
      random: seededRandom(this.options.seed ^ hashName(`${name}#${incarnation}`)),
      now: this.clock.now(),
      members,
      options: this.options.plumtree,
    });
  }

  private apply(node: SimNode<H>, actions: PlumtreeAction<unknown, unknown>[]): void {
    const delay = this.options.handlerDelay ?? 0;
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i]!;
      if (action.type === 'send') this.send(node, action.to, action.msg);
      else if (action.type === 'exchangeEnd') continue;
      else if (delay === 0) actions.push(...this.call(node, action));
      else {
        const incarnation = node.incarnation;
        this.clock.setTimeout(() => {
          if (node.incarnation === incarnation) this.apply(node, this.call(node, action));
        }, delay);
      }
    }
    this.arm(node);
  }

  private call(node: SimNode<H>, call: HandlerCall<unknown, unknown>): PlumtreeAction<unknown, unknown>[] {
    const outcome: HandlerOutcome<unknown> = invokeHandlerSync(node.handler, call);
    if (call.type === 'merge' && outcome.type === 'merge' && outcome.isNew) {
      const record = this.records.get(node.handler.idKey(call.id));
      if (record) {
        record.deliveries.set(node.name, (record.deliveries.get(node.name) ?? 0) + 1);
        record.hops.set(node.name, call.hops);
      }
    }
    return node.sm.resolve(call.ref, outcome, this.clock.now());
  }

  private send(from: SimNode<H>, to: NodeName, msg: Message): void {
    this.sent[msg.t] = (this.sent[msg.t] ?? 0) + 1;
    this.options.onSend?.(from.name, to, msg);
    const target = this.nodes.get(to);
    if (!target || this.random.next() < (this.options.loss ?? 0)) {
      this.dropped++;
      return;
    }
    const incarnation = target.incarnation;
    this.clock.setTimeout(() => {
      if (!target.up || target.incarnation !== incarnation || this.partitioned(from.name, to)) {
        this.dropped++;
        return;
      }
      if (msg.t === 'broadcast') {
        const record = this.records.get(target.handler.idKey(msg.id));
        if (record) record.payloadMessages++;
      }
      this.apply(target, target.sm.receive(from.name, msg, this.clock.now()));
    }, this.latency(from.name, to));
  }

  private latency(from: NodeName, to: NodeName): number {
    let row = this.links.get(from);
    if (!row) this.links.set(from, (row = new Map()));
    let ms = row.get(to);
    if (ms === undefined) {
      const { min, max } = this.options.latency ?? { min: 1, max: 10 };
      ms = min + this.random.next() * (max - min);
      row.set(to, ms);
    }
    return ms;
  }

  private partitioned(x: NodeName, y: NodeName): boolean {
    for (const { a, b } of this.partitions.values()) {
      if ((a.has(x) && b.has(y)) || (a.has(y) && b.has(x))) return true;
    }
    return false;
  }

  /** One pending timer per node, at its state machine's next deadline. */
  private arm(node: SimNode<H>): void {
    if (!node.up) return;
    const deadline = node.sm.nextDeadline();
    if (node.armedAt !== undefined && node.armedAt <= deadline) return;
    node.timer?.cancel();
    node.armedAt = deadline;
    const incarnation = node.incarnation;
    node.timer = this.clock.setTimeout(() => {
      node.armedAt = undefined;
      node.timer = undefined;
      if (node.incarnation === incarnation) this.apply(node, node.sm.tick(this.clock.now()));
    }, deadline - this.clock.now());
  }
}

/**
 * A connected random overlay of about `degree` neighbours per node (a random ring plus
 * random chords), symmetric like HyParView's active views: membership for partial-view runs.
 */
export function randomOverlay(names: readonly NodeName[], degree: number, random: Random): Map<NodeName, NodeName[]> {
  const links = new Map<NodeName, Set<NodeName>>(names.map((n) => [n, new Set()]));
  const link = (a: NodeName, b: NodeName): void => {
    links.get(a)!.add(b);
    links.get(b)!.add(a);
  };
  const ring = random.shuffle(names);
  if (ring.length > 1) ring.forEach((n, i) => link(n, ring[(i + 1) % ring.length]!));
  for (const n of names) {
    for (let tries = 0; links.get(n)!.size < degree && tries < 4 * degree; tries++) {
      const other = random.pick(names);
      if (other !== n) link(n, other);
    }
  }
  return new Map([...links].map(([n, peers]) => [n, [...peers].sort()]));
}

function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
