/**
 * A deterministic discrete-event simulator for the HyParView state machine: one seeded Random,
 * one queue of pending events (messages and connection failures) delivered in random order,
 * crashes, restarts and joins. It runs the same `HyParView` class a node runs, and only that,
 * so it is the base for larger simulations (10,000 nodes, Plumtree on top via `onAction`).
 *
 * Network model:
 * - Any pending event may be delivered next ('random', the default: no FIFO per link), or
 *   strictly in send order ('fifo').
 * - A message to a node that is down, or that restarted since it was sent, is lost and its
 *   sender gets `connectionFailed`; a `connect` to a down node fails the same way.
 * - A crash loses the crashed node's undelivered messages, and each node holding it in its
 *   active view gets `connectionClosed` (its connection breaks).
 * - Failure reports name the incarnation they concern, as a driver learns it in the handshake.
 * There is no time: ticks happen when the caller says (`tick`, `round`).
 */
import { HyParView } from './hyparview.js';
import type { HyParViewAction, HyParViewMessage } from './hyparview-messages.js';
import type { HyParViewOptions } from './hyparview-options.js';
import type { NodeName, NodeSpec } from './types.js';
import { type Random, seededRandom } from '../util/random.js';

export interface HyParViewSimOptions {
  seed: number;
  options?: HyParViewOptions;
  /** Delivery order; default 'random'. */
  order?: 'random' | 'fifo';
  /** Sees every action every node returns, after the simulator applied it. */
  onAction?: (node: NodeName, action: HyParViewAction) => void;
  /** In `round()`, a node that `needsContact()` joins a random live node, as a driver re-joins its seeds. Default true. */
  rejoin?: boolean;
}

export type SimEvent =
  | { kind: 'message'; from: NodeName; fromIncarnation: number; to: NodeName; toIncarnation: number; message: HyParViewMessage }
  | { kind: 'connectionFailed' | 'connectionClosed'; at: NodeName; atIncarnation: number; peer: NodeName; peerIncarnation: number | undefined };

export interface SimStats {
  /** Events handed to a live node. */
  delivered: number;
  /** Messages lost to crashes and restarts. */
  lost: number;
  /** Messages sent, by type. */
  sent: Record<string, number>;
}

interface SimNode {
  readonly machine: HyParView;
  readonly incarnation: number;
}

export class HyParViewSim {
  readonly random: Random;
  readonly stats: SimStats = { delivered: 0, lost: 0, sent: {} };
  private readonly nodes = new Map<NodeName, SimNode>();
  private readonly incarnations = new Map<NodeName, number>();
  private readonly queue: SimEvent[] = [];
  private head = 0;
  private readonly order: 'random' | 'fifo';

  constructor(private readonly options: HyParViewSimOptions) {
    this.random = seededRandom(options.seed);
    this.order = options.order ?? 'random';
  }

  /** The spec the simulator gives `name` (the port encodes the incarnation, like a new container address). */
  specOf(name: string, incarnation = this.incarnations.get(name as NodeName) ?? 1): NodeSpec {
    return { name: name as NodeName, listenAddrs: [{ host: 'sim', port: incarnation }] };
  }

  /** Starts a node (a new incarnation if the name ran before) and joins it through `contact`. */
  spawn(name: string, contact?: NodeName): NodeName {
    const n = name as NodeName;
    if (this.nodes.has(n)) throw new Error(`${name} is already running`);
    const incarnation = (this.incarnations.get(n) ?? 0) + 1;
    this.incarnations.set(n, incarnation);
    const machine = new HyParView({
      self: this.specOf(n, incarnation),
      epoch: incarnation,
      random: seededRandom(this.random.int(2 ** 32)),
      options: this.options.options,
    });
    this.nodes.set(n, { machine, incarnation });
    if (contact !== undefined) this.apply(n, machine.join(this.specOf(contact)));
    return n;
  }

  /** Stops a node abruptly. */
  crash(name: NodeName): void {
    if (!this.nodes.delete(name)) throw new Error(`${name} is not running`);
    for (const [other, node] of this.nodes) {
      if (node.machine.isActive(name)) {
        this.queue.push({ kind: 'connectionClosed', at: other, atIncarnation: node.incarnation, peer: name, peerIncarnation: this.incarnations.get(name) });
      }
    }
  }

  /** Crash, then start again under a new incarnation and address, joining through `contact`. */
  restart(name: NodeName, contact?: NodeName): void {
    this.crash(name);
    this.spawn(name, contact);
  }

  isAlive(name: NodeName): boolean {
    return this.nodes.has(name);
  }

  alive(): NodeName[] {
    return [...this.nodes.keys()];
  }

  node(name: NodeName): HyParView {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`${name} is not running`);
    return node.machine;
  }

  /** Events waiting for delivery. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Runs one tick on one node. */
  tick(name: NodeName, kind: 'shuffle' | 'promotion'): void {
    const m = this.node(name);
    this.apply(name, kind === 'shuffle' ? m.onShuffleTick() : m.onPromotionTick());
  }

  /** Shuffle and promotion ticks on every live node (random order), then delivery until quiet. */
  round(maxSteps?: number): void {
    if (this.options.rejoin !== false) {
      for (const name of this.alive()) {
        if (!this.node(name).needsContact()) continue;
        const others = this.alive().filter((n) => n !== name);
        if (others.length > 0) this.apply(name, this.node(name).join(this.specOf(this.random.pick(others))));
      }
    }
    for (const name of this.random.shuffle(this.alive())) {
      if (this.isAlive(name)) this.tick(name, 'shuffle');
    }
    for (const name of this.random.shuffle(this.alive())) {
      if (this.isAlive(name)) this.tick(name, 'promotion');
    }
    this.runUntilQuiet(maxSteps);
  }

  /** Delivers one pending event; returns the node that handled it (undefined if lost), or false when idle. */
  step(): NodeName | undefined | false {
    const event = this.take();
    if (event === undefined) return false;
    if (event.kind === 'message') {
      if (this.nodes.get(event.from)?.incarnation !== event.fromIncarnation) {
        this.stats.lost++; // the sender crashed: what it had in flight is gone
        return undefined;
      }
      const target = this.nodes.get(event.to);
      if (target === undefined || target.incarnation !== event.toIncarnation) {
        this.stats.lost++;
        const peerIncarnation = event.toIncarnation < 0 ? undefined : event.toIncarnation;
        this.queue.push({ kind: 'connectionFailed', at: event.from, atIncarnation: event.fromIncarnation, peer: event.to, peerIncarnation });
        return undefined;
      }
      this.stats.delivered++;
      this.apply(event.to, target.machine.receive(event.message));
      return event.to;
    }
    const node = this.nodes.get(event.at);
    if (node === undefined || node.incarnation !== event.atIncarnation) return undefined;
    this.stats.delivered++;
    const m = node.machine;
    const actions = event.kind === 'connectionFailed' ? m.connectionFailed(event.peer, event.peerIncarnation) : m.connectionClosed(event.peer, event.peerIncarnation);
    this.apply(event.at, actions);
    return event.at;
  }

  /** Delivers until nothing is pending. Throws after `maxSteps` (a livelock is a bug). */
  runUntilQuiet(maxSteps = 10_000_000, afterStep?: (node: NodeName) => void): number {
    let steps = 0;
    for (;;) {
      const handled = this.step();
      if (handled === false) return steps;
      if (handled !== undefined) afterStep?.(handled);
      if (++steps > maxSteps) throw new Error(`no quiescence after ${maxSteps} events`);
    }
  }

  // --- invariants ----------------------------------------------------------------------------

  /** Invariants that hold after every event: bounded views, no self, active ∩ passive = ∅. */
  checkSafety(name: NodeName): string[] {
    const m = this.node(name);
    const problems: string[] = [];
    const active = m.members();
    if (active.length > m.config.activeMaxSize) problems.push(`${name}: active view has ${active.length} > ${m.config.activeMaxSize}`);
    if (m.passiveView().length > m.config.passiveMaxSize) problems.push(`${name}: passive view too large`);
    if (m.isActive(name) || m.isPassive(name)) problems.push(`${name}: self in a view`);
    for (const p of active) if (m.isPassive(p)) problems.push(`${name}: ${p} both active and passive`);
    return problems;
  }

  /** Invariants of a quiet network: every live node safe, active views symmetric and free of dead nodes. */
  checkQuiescent(): string[] {
    const problems: string[] = [];
    for (const name of this.alive()) {
      problems.push(...this.checkSafety(name));
      for (const peer of this.node(name).members()) {
        if (!this.isAlive(peer)) problems.push(`${name}: crashed ${peer} in the active view`);
        else if (!this.node(peer).isActive(name)) problems.push(`${name} has ${peer} active, but not the reverse`);
      }
    }
    return problems;
  }

  /** Connected components of the active-view graph over live nodes (one means connected). */
  components(): NodeName[][] {
    const seen = new Set<NodeName>();
    const out: NodeName[][] = [];
    for (const start of this.alive()) {
      if (seen.has(start)) continue;
      const component: NodeName[] = [];
      const stack = [start];
      seen.add(start);
      while (stack.length > 0) {
        const n = stack.pop()!;
        component.push(n);
        for (const p of this.node(n).members()) {
          if (this.isAlive(p) && !seen.has(p)) {
            seen.add(p);
            stack.push(p);
          }
        }
      }
      out.push(component);
    }
    return out;
  }

  /** Live nodes whose active view is below `activeMinSize`. */
  belowMin(): NodeName[] {
    return this.alive().filter((n) => this.node(n).members().length < this.node(n).config.activeMinSize);
  }

  // --- plumbing ------------------------------------------------------------------------------

  private apply(name: NodeName, actions: readonly HyParViewAction[]): void {
    const from = this.nodes.get(name)!;
    for (const action of actions) {
      if (action.type === 'send') {
        const to = action.to.name;
        this.stats.sent[action.message.type] = (this.stats.sent[action.message.type] ?? 0) + 1;
        const toIncarnation = this.nodes.get(to)?.incarnation ?? -1;
        this.queue.push({ kind: 'message', from: name, fromIncarnation: from.incarnation, to, toIncarnation, message: action.message });
      } else if (action.type === 'connect' && !this.nodes.has(action.spec.name)) {
        const peer = action.spec.name;
        this.queue.push({ kind: 'connectionFailed', at: name, atIncarnation: from.incarnation, peer, peerIncarnation: this.incarnations.get(peer) });
      }
      this.options.onAction?.(name, action);
    }
  }

  private take(): SimEvent | undefined {
    if (this.head >= this.queue.length) return undefined;
    if (this.order === 'fifo') {
      const event = this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      return event;
    }
    const i = this.random.int(this.queue.length);
    const event = this.queue[i]!;
    this.queue[i] = this.queue[this.queue.length - 1]!;
    this.queue.pop();
    return event;
  }
}
