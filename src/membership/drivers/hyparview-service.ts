import type { TimerHandle } from '../../util/clock.js';
import { PartisanError, isPartisanError } from '../../util/errors.js';
import { intOption, objectOption } from '../../util/options.js';
import { HyParView } from '../hyparview.js';
import { parseHyParViewMessage, type HyParViewAction, type HyParViewMessage } from '../hyparview-messages.js';
import type { HyParViewOptions } from '../hyparview-options.js';
import type { PeerService, PeerServiceHost } from '../service.js';
import type { NodeName, NodeSpec } from '../types.js';

/** Options of the HyParView peer service: the state machine's (HyParViewOptions) plus the driver's. */
export interface HyParViewServiceOptions extends HyParViewOptions {
  /**
   * A peer we must reach (a new active peer, or one we have a message for) that is not
   * connected within this long is reported failed to the state machine (paper §4.2: a failed
   * dial means a dead peer), ms. Default 5000.
   */
  contactTimeoutMs?: number;
  /** A connection to a peer outside the active view closes once idle this long (messages to passive peers use short-lived connections), ms. Default 3000. */
  contactLingerMs?: number;
  /**
   * While `needsContact()` holds (few known peers: a small cluster, or an island), re-join a
   * known seed at most this often, ms. An isolated node (no peer at all) re-joins on every
   * promotion tick. 0 disables the periodic re-join. Default 30000.
   */
  rejoinIntervalMs?: number;
  /** Protocol messages held per peer until its connection is up; the oldest are dropped beyond. Default 256. */
  maxQueuedPerPeer?: number;
}

const DRIVER_KEYS = ['contactTimeoutMs', 'contactLingerMs', 'rejoinIntervalMs', 'maxQueuedPerPeer'] as const;

interface DriverConfig {
  contactTimeoutMs: number;
  contactLingerMs: number;
  rejoinIntervalMs: number;
  maxQueuedPerPeer: number;
}

/** Counters for tests and operators. */
export interface HyParViewServiceStats {
  messagesSent: number;
  messagesReceived: number;
  /** Messages dropped: malformed, or naming a sender other than the authenticated peer, or received while left. */
  messagesDropped: number;
  /** Queued messages dropped by `maxQueuedPerPeer`, or because their peer never connected. */
  queueDrops: number;
  /** Peers reported failed because they did not connect within `contactTimeoutMs`. */
  contactFailures: number;
  /** Idle connections outside the active view closed after `contactLingerMs`. */
  idleClosed: number;
  /** Joins sent again to a seed (isolation or `needsContact()`). */
  rejoins: number;
}

/** A peer we talk to: its messages wait here until its connection is up. */
interface Contact {
  spec: NodeSpec;
  queue: HyParViewMessage[];
  /** Fires `contactTimeoutMs` after the peer was first wanted while not connected. */
  deadline: TimerHandle | undefined;
}

/**
 * The HyParView peer service (Partisan's `partisan_hyparview_peer_service_manager`): drives
 * the pure `HyParView` state machine with real timers (shuffle, promotion), keeps connections
 * to the active view, and carries protocol messages as `$membership` bodies.
 *
 * - `members()` is the active view plus self, as in Partisan; Plumtree spans the active view
 *   (`broadcastMembers()`), and the host hears `membersChanged` whenever it changes.
 * - Messages to peers outside the active view (join, shuffle replies, neighbor requests) go
 *   over short-lived connections: dialed on demand (`maintain` keeps them while messages wait)
 *   and closed once idle for `contactLingerMs`. A peer that does not connect within
 *   `contactTimeoutMs` is reported with `connectionFailed`; a connection that goes down with
 *   `connectionClosed` and the peer's incarnation, so a report about a dead incarnation cannot
 *   cut a restarted peer's new link.
 * - `leave()` (self) closes every link: peers see a failed neighbour and replace it at once
 *   (§4.2), as for a crash; the views are forgotten and membership messages are ignored until
 *   the next `join()`. Removing another node is not a HyParView operation (ERR_NOT_IMPLEMENTED,
 *   Partisan answers not_implemented for both). `reserve()` is not implemented: the state
 *   machine has no reserved slots.
 * - Seeds (every spec given to `join` or `updateMembers`) are re-joined when the node is
 *   isolated, and every `rejoinIntervalMs` while `needsContact()` holds (an island cannot heal
 *   from inside).
 */
export class HyParViewPeerService implements PeerService {
  readonly kind = 'hyparview' as const;
  readonly stats: HyParViewServiceStats = {
    messagesSent: 0,
    messagesReceived: 0,
    messagesDropped: 0,
    queueDrops: 0,
    contactFailures: 0,
    idleClosed: 0,
    rejoins: 0,
  };
  private readonly machineOptions: HyParViewOptions;
  private readonly config: DriverConfig;
  private sm: HyParView;
  private readonly seeds = new Map<NodeName, NodeSpec>();
  private readonly contacts = new Map<NodeName, Contact>();
  /** Peers with an open connection, and their incarnation (from the handshake). */
  private readonly connected = new Map<NodeName, number | undefined>();
  /** Last message sent to or received from a peer (host clock), for closing idle connections. */
  private readonly lastTraffic = new Map<NodeName, number>();
  /** Shuffle and promotion: they run while the node is in the overlay (not after `leave()`). */
  private readonly protocolTimers: TimerHandle[] = [];
  /** Closes idle connections; runs from start to stop, also while left. */
  private sweepTimer: TimerHandle | undefined;
  private lastRejoin = Number.NEGATIVE_INFINITY;
  private started = false;
  private stopped = false;
  /** After `leave()`: no views, no timers, membership messages ignored, until `join()`. */
  private left = false;

  constructor(
    private readonly host: PeerServiceHost,
    private readonly incarnation: number,
    options: Record<string, unknown> = {},
  ) {
    const raw = objectOption('membership', options);
    this.config = {
      contactTimeoutMs: intOption('membership.contactTimeoutMs', raw.contactTimeoutMs, 5_000, 1, 3_600_000),
      contactLingerMs: intOption('membership.contactLingerMs', raw.contactLingerMs, 3_000, 0, 3_600_000),
      rejoinIntervalMs: intOption('membership.rejoinIntervalMs', raw.rejoinIntervalMs, 30_000, 0, 86_400_000),
      maxQueuedPerPeer: intOption('membership.maxQueuedPerPeer', raw.maxQueuedPerPeer, 256, 1, 1_000_000),
    };
    // The rest are the state machine's: resolveHyParViewOptions validates them and rejects unknown keys.
    this.machineOptions = Object.fromEntries(Object.entries(raw).filter(([k]) => !(DRIVER_KEYS as readonly string[]).includes(k))) as HyParViewOptions;
    this.sm = this.newMachine();
  }

  /** The state machine's resolved options (sizes, walk lengths, intervals). */
  get machineConfig(): HyParView['config'] {
    return this.sm.config;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.sweepTimer = this.host.clock.setInterval(() => this.closeIdle(), Math.max(50, Math.ceil(this.config.contactLingerMs / 2)));
    if (!this.left) this.startTimers();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopTimers();
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
    for (const c of this.contacts.values()) c.deadline?.cancel();
    this.contacts.clear();
    this.host.maintain([]);
  }

  join(spec: NodeSpec): void {
    if (this.stopped || spec.name === this.host.name) return;
    this.seeds.set(spec.name, spec);
    if (this.left) {
      this.left = false;
      if (this.started) this.startTimers();
    }
    this.lastRejoin = this.host.clock.now();
    this.run(this.sm.join(spec));
  }

  async leave(node?: NodeName): Promise<void> {
    if (node !== undefined && node !== this.host.name) {
      throw new PartisanError('ERR_NOT_IMPLEMENTED', 'HyParView keeps partial views: there is no cluster membership to remove another node from (Partisan: not_implemented)', {
        details: { node },
      });
    }
    if (this.left || this.stopped) return;
    this.left = true;
    this.stopTimers();
    const peers = new Set<NodeName>([...this.sm.members(), ...this.connected.keys(), ...this.contacts.keys()]);
    for (const c of this.contacts.values()) c.deadline?.cancel();
    this.contacts.clear();
    // Same incarnation, fresh views: peers' link stamps for us are older than anything we
    // stamp after hearing from them again (Lamport clocks), so a re-join is not refused.
    this.sm = this.newMachine();
    this.host.maintain([]);
    this.host.membersChanged(this.members());
    await Promise.all(
      [...peers].map(async (peer) => {
        await this.host.flush(peer).catch(() => {});
        await this.host.disconnect(peer).catch(() => {});
      }),
    );
  }

  /** Partisan's `members()` under HyParView: the active view and self. */
  members(): NodeName[] {
    return [this.host.name, ...this.sm.members()].sort();
  }

  member(node: NodeName): boolean {
    return node === this.host.name || this.sm.isActive(node);
  }

  membersForOrchestration(): NodeSpec[] {
    return [this.host.spec(), ...this.sm.activeView()];
  }

  /**
   * Peer discovery (DNS, orchestrator): the specs become this node's seeds, and an isolated
   * node joins one at once. HyParView keeps no global member list to converge to.
   */
  updateMembers(specs: readonly NodeSpec[]): void {
    this.seeds.clear();
    for (const s of specs) if (s.name !== this.host.name) this.seeds.set(s.name, s);
    if (!this.left && !this.stopped && this.sm.members().length === 0) this.rejoin(true);
  }

  reserve(tag: string): void {
    throw new PartisanError('ERR_NOT_IMPLEMENTED', 'reserved active-view slots (Partisan tags) are not implemented by the HyParView state machine', {
      details: { tag },
    });
  }

  getLocalState(): unknown {
    return undefined; // nothing useful to send in the handshake: views are exchanged by the protocol
  }

  broadcastMembers(): NodeName[] {
    return this.sm.members();
  }

  /** Active and passive views (self excluded), for tests and `status`. */
  views(): { active: NodeName[]; passive: NodeName[] } {
    return { active: this.sm.members(), passive: this.sm.passiveView().map((s) => s.name) };
  }

  connectionUp(node: NodeName, _spec: NodeSpec | undefined, _state: unknown, incarnation?: number): void {
    this.connected.set(node, incarnation);
    this.lastTraffic.set(node, this.host.clock.now());
    const contact = this.contacts.get(node);
    if (!contact) return;
    contact.deadline?.cancel();
    contact.deadline = undefined;
    const queue = contact.queue.splice(0);
    for (const [i, message] of queue.entries()) {
      if (this.transmit(node, message)) continue;
      contact.queue.push(...queue.slice(i)); // gone again already: wait for the next connection
      break;
    }
    this.updateConnections();
  }

  connectionDown(node: NodeName, incarnation?: number): void {
    const known = this.connected.get(node);
    this.connected.delete(node);
    this.lastTraffic.delete(node);
    if (this.stopped || this.left) return;
    this.run(this.sm.connectionClosed(node, incarnation ?? known));
  }

  handle(from: NodeName, body: unknown): void {
    if (this.stopped || this.left) {
      this.stats.messagesDropped++;
      return;
    }
    let message: HyParViewMessage;
    try {
      message = parseHyParViewMessage(body);
    } catch (err) {
      if (!isPartisanError(err)) throw err;
      this.stats.messagesDropped++;
      return;
    }
    // Only the authenticated peer speaks for itself (the state machine trusts `from`).
    if (message.from.name !== from) {
      this.stats.messagesDropped++;
      return;
    }
    this.stats.messagesReceived++;
    this.lastTraffic.set(from, this.host.clock.now());
    this.run(this.sm.receive(message));
  }

  // ---------------------------------------------------------------------------- internals

  private newMachine(): HyParView {
    return new HyParView({ self: this.host.spec(), epoch: this.incarnation, random: this.host.random, options: this.machineOptions });
  }

  private startTimers(): void {
    const { shuffleInterval, randomPromotionInterval } = this.sm.config;
    this.protocolTimers.push(
      this.host.clock.setInterval(() => this.run(this.sm.onShuffleTick()), shuffleInterval),
      this.host.clock.setInterval(() => this.onPromotionTick(), randomPromotionInterval),
    );
  }

  private stopTimers(): void {
    for (const t of this.protocolTimers.splice(0)) t.cancel();
  }

  private onPromotionTick(): void {
    this.run(this.sm.onPromotionTick());
    if (this.sm.isolated()) this.rejoin(true);
    else if (this.sm.needsContact()) this.rejoin(false);
  }

  /**
   * Joins a seed again. `force` (isolated): any seed, every tick. Otherwise at most every
   * `rejoinIntervalMs`, and only through a seed outside the active view (one inside is in our
   * own island: joining it again only churns links).
   */
  private rejoin(force: boolean): void {
    const now = this.host.clock.now();
    if (!force && (this.config.rejoinIntervalMs === 0 || now - this.lastRejoin < this.config.rejoinIntervalMs)) return;
    const candidates = [...this.seeds.values()].filter((s) => force || !this.sm.isActive(s.name));
    if (candidates.length === 0) return;
    this.lastRejoin = now;
    this.stats.rejoins++;
    this.run(this.sm.join(this.host.random.pick(candidates)));
  }

  /** Carries out the state machine's actions in order. */
  private run(actions: readonly HyParViewAction[]): void {
    let viewChanged = false;
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          this.send(a.to, a.message);
          break;
        case 'activeAdded':
        case 'activeRemoved':
          viewChanged = true;
          break;
        case 'connect':
        case 'disconnect':
          // Connections follow the views: `updateConnections` below keeps the active view and
          // the peers with waiting messages; the rest close once idle (`closeIdle`), so a
          // `disconnect` message queued just before still leaves.
          break;
      }
    }
    this.updateConnections();
    if (viewChanged) this.host.membersChanged(this.members());
  }

  private send(to: NodeSpec, message: HyParViewMessage): void {
    if (this.connected.has(to.name) && this.transmit(to.name, message)) return;
    let contact = this.contacts.get(to.name);
    if (!contact) {
      contact = { spec: to, queue: [], deadline: undefined };
      this.contacts.set(to.name, contact);
    }
    contact.spec = to; // a restarted peer may have moved
    contact.queue.push(message);
    if (contact.queue.length > this.config.maxQueuedPerPeer) {
      contact.queue.shift();
      this.stats.queueDrops++;
    }
  }

  /** Hands one message to the host; false when the peer turned out not to be connected. */
  private transmit(node: NodeName, message: HyParViewMessage): boolean {
    try {
      this.host.send(node, message);
    } catch {
      return false;
    }
    this.stats.messagesSent++;
    this.lastTraffic.set(node, this.host.clock.now());
    return true;
  }

  /**
   * Wanted connections: the active view, and every peer with messages waiting. A wanted peer
   * that is not connected gets a deadline: past it, the peer is reported failed.
   */
  private updateConnections(): void {
    if (this.stopped) return;
    const wanted = new Map<NodeName, NodeSpec>();
    for (const spec of this.sm.activeView()) wanted.set(spec.name, spec);
    for (const [name, c] of this.contacts) {
      if (c.queue.length > 0 && !wanted.has(name)) wanted.set(name, c.spec);
    }
    for (const [name, c] of this.contacts) {
      if (c.queue.length === 0 && !wanted.has(name)) {
        c.deadline?.cancel();
        this.contacts.delete(name);
      }
    }
    for (const [name, spec] of wanted) {
      if (this.connected.has(name)) continue;
      let contact = this.contacts.get(name);
      if (!contact) {
        contact = { spec, queue: [], deadline: undefined };
        this.contacts.set(name, contact);
      }
      contact.spec = spec;
      contact.deadline ??= this.host.clock.setTimeout(() => this.contactFailed(name), this.config.contactTimeoutMs);
    }
    this.host.maintain([...wanted.values()]);
  }

  private contactFailed(node: NodeName): void {
    const contact = this.contacts.get(node);
    if (!contact) return;
    contact.deadline = undefined;
    if (this.connected.has(node) || this.stopped || this.left) return;
    this.stats.contactFailures++;
    this.stats.queueDrops += contact.queue.length;
    this.contacts.delete(node);
    this.run(this.sm.connectionFailed(node));
  }

  /** Closes connections outside the active view that have been idle for `contactLingerMs`. */
  private closeIdle(): void {
    const now = this.host.clock.now();
    for (const node of [...this.connected.keys()]) {
      if (this.sm.isActive(node) || (this.contacts.get(node)?.queue.length ?? 0) > 0) continue;
      if (now - (this.lastTraffic.get(node) ?? 0) < this.config.contactLingerMs) continue;
      this.stats.idleClosed++;
      this.lastTraffic.set(node, now); // one close per linger period, even if the down is slow
      void this.host.disconnect(node).catch(() => {});
    }
  }
}
