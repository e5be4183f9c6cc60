/**
 * HyParView (Leitão, Pereira & Rodrigues, "HyParView: a membership protocol for reliable
 * gossip-based broadcast", DSN 2007) as a pure state machine: events in, actions out, no
 * timers (the driver calls `onShuffleTick` / `onPromotionTick` at the configured intervals).
 *
 * Each node keeps a small symmetric *active view* (live links, Plumtree's neighbours) and a
 * larger *passive view* of replacements kept fresh by shuffles. It follows Partisan's manager
 * (reference §3.8), with these deliberate differences:
 * - The active view excludes self. Partisan seeds it with self, so `activeMaxSize` counted self
 *   and "active view has one member" meant "no peers"; here sizes count peers only.
 * - Promotion asks with priority `high` only when the active view is empty, as the paper says
 *   (§4.3); Partisan always sends `high`, so every promotion could evict a random peer.
 * - Every link change carries a Lamport stamp, and the newest change for a pair wins on both
 *   ends (link-table.ts). Partisan's disconnect ids only ignore stale disconnects; stale
 *   neighbor messages could still leave one side linked and the other not.
 * - Messages carry the sender's incarnation (`epoch`), link changes also the recipient's
 *   (`toEpoch`): a dead incarnation's messages are dropped, a restarted peer's old link is
 *   closed, and a restarted node does not take over a link offered to its predecessor
 *   (Partisan checks epochs on join only). Failure reports may name the incarnation too.
 * - A failed active peer is replaced at once from the passive view (paper §4.2), and the
 *   promotion tick tops the view up to `activeMinSize` (Partisan's random promotion).
 * Kept from Partisan: neighbor requests and their answers carry exchange lists, so a refused
 * requester learns new candidates. Added: `needsContact()`, the hint that a node should re-join
 * a seed (an island cut off from the overlay cannot heal from inside).
 * Not ported: reserved slots (tags), X-BOT, partition injection (that lives in the connection
 * layer) and `relay_message`.
 */
import { isCounter } from './causal-context.js';
import type { ActiveRemovedReason, HyParViewAction, HyParViewMessage, MessageHeader } from './hyparview-messages.js';
import { type HyParViewConfig, type HyParViewOptions, resolveHyParViewOptions } from './hyparview-options.js';
import { LinkTable, newerStamp } from './link-table.js';
import { type NodeName, type NodeSpec, nodeName, specsEqual } from './types.js';
import { InvalidOptionError } from '../util/errors.js';
import type { Random } from '../util/random.js';

export interface HyParViewInit {
  /** This node's spec. */
  self: NodeSpec;
  /** This process's incarnation; must grow across restarts (its start time, as elsewhere). */
  epoch: number;
  /** Peer selection; seeded in tests and in the simulator. */
  random: Random;
  options?: HyParViewOptions;
}

type Out = HyParViewAction[];
/** A message without its header (`send` and `linkTo` add it). */
type Body<T extends HyParViewMessage['type']> = Omit<Extract<HyParViewMessage, { type: T }>, keyof MessageHeader>;
type AnyBody = { [T in HyParViewMessage['type']]: Body<T> }[HyParViewMessage['type']];

export class HyParView {
  readonly config: HyParViewConfig;
  readonly self: NodeName;
  readonly epoch: number;
  private readonly selfSpec: NodeSpec;
  private readonly random: Random;
  /** Lamport clock: orders link changes between any two nodes (link-table.ts). */
  private clock = 0;
  private readonly active = new Map<NodeName, NodeSpec>();
  private readonly passive = new Map<NodeName, NodeSpec>();
  private readonly links: LinkTable;
  /** Passive peers asked to become active and not answered yet (cleared each promotion tick). */
  private readonly requested = new Set<NodeName>();
  /** Passive peers that refused this round: not asked again until the next promotion tick. */
  private readonly refused = new Set<NodeName>();
  /** Names sent in our last shuffle: evicted first when the reply overflows the passive view (paper §4.4). */
  private lastShuffle: NodeName[] = [];

  constructor(init: HyParViewInit) {
    this.config = resolveHyParViewOptions(init.options);
    this.self = nodeName(init.self.name);
    this.selfSpec = init.self;
    if (!isCounter(init.epoch)) throw new InvalidOptionError('epoch', init.epoch, 'expected a non-negative safe integer');
    this.epoch = init.epoch;
    this.random = init.random;
    // Enough memory for the views plus recent churn; see LinkTable for what eviction costs.
    this.links = new LinkTable(Math.max(64, 2 * (this.config.activeMaxSize + this.config.passiveMaxSize)));
  }

  /** The active view's names (Partisan's `members()` under HyParView), self excluded. */
  members(): NodeName[] {
    return [...this.active.keys()];
  }

  activeView(): NodeSpec[] {
    return [...this.active.values()];
  }

  passiveView(): NodeSpec[] {
    return [...this.passive.values()];
  }

  isActive(node: NodeName): boolean {
    return this.active.has(node);
  }

  isPassive(node: NodeName): boolean {
    return this.passive.has(node);
  }

  /** No peer at all: the driver should join a contact again. */
  isolated(): boolean {
    return this.active.size === 0 && this.passive.size === 0 && this.requested.size === 0;
  }

  /**
   * The node knows few peers (active + passive below max(activeMaxSize, passiveMaxSize / 2)):
   * the overlay is small, or the node sits in an island that lost every link to the rest —
   * shuffles there only circulate island members and no protocol message can leave it. A
   * heuristic for the driver: join a seed (or a discovered node) again. In a large healthy
   * overlay the passive view fills within a few shuffles and this stays false; in a small
   * cluster it stays true and the re-join is cheap there.
   */
  needsContact(): boolean {
    const known = this.active.size + this.passive.size;
    return this.requested.size === 0 && known < Math.max(this.config.activeMaxSize, this.config.passiveMaxSize / 2);
  }

  /** Joins the overlay through `contact`, which is also kept as a passive peer so promotion retries it if the join is lost. */
  join(contact: NodeSpec): HyParViewAction[] {
    if (contact.name === this.self) return [];
    const out: Out = [];
    this.addPassive(contact);
    this.send(contact, { type: 'join' }, out);
    return out;
  }

  /** Handles one protocol message. The driver checks `message.from.name` against the authenticated peer. */
  receive(message: HyParViewMessage): HyParViewAction[] {
    const out: Out = [];
    const peer = message.from.name;
    if (peer === this.self || !this.observeEpoch(message.from, message.epoch, out)) return out;
    if (message.clock > this.clock) this.clock = message.clock;
    this.refreshSpec(message.from);
    if ('toEpoch' in message && message.toEpoch !== undefined && message.toEpoch < this.epoch) {
      // A link change meant for our predecessor (a walk announced it before we restarted).
      // Refuse a link-up, so the sender drops the link it thinks it has with us — unless we
      // linked it ourselves: our link-up carries our epoch and resets its view of us anyway.
      if (message.type !== 'disconnect' && !this.active.has(peer)) this.sendDisconnect(message.from, out);
      return out;
    }
    switch (message.type) {
      case 'join':
        this.onJoin(message, out);
        break;
      case 'forwardJoin':
        this.onForwardJoin(message, out);
        break;
      case 'neighbor':
        this.adopt(message, true, out);
        break;
      case 'neighborRequest':
        this.onNeighborRequest(message, out);
        break;
      case 'neighborAccepted':
        this.requested.delete(peer);
        this.integrate(message.exchange, []);
        this.adopt(message, true, out);
        break;
      case 'neighborRejected':
        this.requested.delete(peer);
        this.refused.add(peer);
        this.integrate(message.exchange, []);
        this.requestNeighbors(1, out);
        break;
      case 'disconnect':
        // Partisan promotes at once when a disconnect empties the view; below-min waits for the tick.
        if (this.adopt(message, false, out) && this.active.size === 0) this.requestNeighbors(1, out);
        break;
      case 'shuffle':
        this.onShuffle(message, out);
        break;
      case 'shuffleReply':
        this.integrate(message.exchange, this.lastShuffle);
        this.lastShuffle = [];
        break;
    }
    return out;
  }

  /**
   * A dial or a send to `peer` failed: it is presumed dead and forgotten (paper §4.2). `epoch`
   * is the incarnation the connection was with, when the driver knows it (handshake): a report
   * about an earlier incarnation than the one we know must not cut a restarted peer's new link.
   */
  connectionFailed(peer: NodeName, epoch?: number): HyParViewAction[] {
    const out: Out = [];
    if (this.isAboutEarlierIncarnation(peer, epoch)) return out;
    const replace = this.lose(peer, out);
    this.passive.delete(peer);
    if (replace) this.requestNeighbors(1, out);
    return out;
  }

  /** The link to `peer` went down. Only matters for an active peer, which is replaced. `epoch` as for `connectionFailed`. */
  connectionClosed(peer: NodeName, epoch?: number): HyParViewAction[] {
    const out: Out = [];
    if (this.isAboutEarlierIncarnation(peer, epoch)) return out;
    if (this.lose(peer, out)) this.requestNeighbors(1, out);
    return out;
  }

  /** Every `shuffleInterval`: send a sample of our views on a random walk (paper §4.4). */
  onShuffleTick(): HyParViewAction[] {
    const out: Out = [];
    if (this.active.size === 0) return out;
    const target = this.random.pick([...this.active.values()]);
    const exchange = [this.selfSpec, ...this.sampleViews(target.name)];
    this.lastShuffle = exchange.map((s) => s.name);
    this.send(target, { type: 'shuffle', origin: this.selfSpec, exchange, ttl: this.config.arwl }, out);
    return out;
  }

  /**
   * Every `randomPromotionInterval`: below `activeMinSize`, ask passive peers to become active.
   * Unanswered requests of the previous round are presumed lost; refusals are forgotten.
   */
  onPromotionTick(): HyParViewAction[] {
    const out: Out = [];
    this.requested.clear();
    this.refused.clear();
    this.requestNeighbors(this.config.activeMinSize - this.active.size, out);
    return out;
  }

  // --- protocol ------------------------------------------------------------------------------

  /** The contact always takes the joiner and announces it on walks from each other active peer (paper §4.2). */
  private onJoin(m: Extract<HyParViewMessage, { type: 'join' }>, out: Out): void {
    this.linkTo(m.from, m.epoch, { type: 'neighbor' }, out);
    for (const p of this.active.values()) {
      if (p.name === m.from.name) continue;
      this.send(p, { type: 'forwardJoin', joiner: m.from, joinerEpoch: m.epoch, ttl: this.config.arwl }, out);
    }
  }

  private onForwardJoin(m: Extract<HyParViewMessage, { type: 'forwardJoin' }>, out: Out): void {
    const joiner = m.joiner;
    if (joiner.name === this.self || !this.observeEpoch(joiner, m.joinerEpoch, out)) return;
    const next = this.activeView().filter((s) => s.name !== m.from.name && s.name !== joiner.name);
    // The walk ends at TTL 0, or where it cannot go on (paper: only the sender is active).
    if (m.ttl === 0 || next.length === 0) {
      if (!this.active.has(joiner.name)) this.linkTo(joiner, m.joinerEpoch, { type: 'neighbor' }, out);
      return;
    }
    if (m.ttl === this.config.prwl) this.addPassive(joiner);
    this.send(this.random.pick(next), { type: 'forwardJoin', joiner, joinerEpoch: m.joinerEpoch, ttl: m.ttl - 1 }, out);
  }

  /** High priority (an isolated requester) is always accepted; low only when there is room (paper §4.3). */
  private onNeighborRequest(m: Extract<HyParViewMessage, { type: 'neighborRequest' }>, out: Out): void {
    const exchange = this.sampleViews(m.from.name);
    this.integrate(m.exchange, []);
    if (this.active.has(m.from.name) || m.priority === 'high' || this.active.size < this.config.activeMaxSize) {
      this.linkTo(m.from, m.epoch, { type: 'neighborAccepted', exchange }, out);
    } else {
      this.send(m.from, { type: 'neighborRejected', exchange }, out);
    }
  }

  /** Forward while TTL lasts and there is somewhere to go; else answer the origin and keep its sample. */
  private onShuffle(m: Extract<HyParViewMessage, { type: 'shuffle' }>, out: Out): void {
    if (m.origin.name === this.self) return;
    const next = this.activeView().filter((s) => s.name !== m.from.name && s.name !== m.origin.name);
    if (m.ttl > 0 && next.length > 0) {
      this.send(this.random.pick(next), { type: 'shuffle', origin: m.origin, exchange: m.exchange, ttl: m.ttl - 1 }, out);
      return;
    }
    const reply = this.random.sample(
      this.passiveView().filter((s) => s.name !== m.origin.name),
      m.exchange.length,
    );
    this.send(m.origin, { type: 'shuffleReply', exchange: reply }, out);
    this.integrate(
      m.exchange,
      reply.map((s) => s.name),
    );
  }

  // --- links ---------------------------------------------------------------------------------

  /** Our decision to link with `spec`: make room, add it, and tell it with a fresh stamp. */
  private linkTo(spec: NodeSpec, epoch: number, body: Body<'neighbor'> | Body<'neighborAccepted'>, out: Out): void {
    if (!this.active.has(spec.name)) {
      this.makeRoom(spec.name, out);
      this.addActive(spec, out);
    }
    const header = this.header();
    this.links.set(spec.name, { clock: header.clock, by: this.self, linked: true, epoch });
    out.push({ type: 'send', to: spec, message: { ...header, ...body, toEpoch: epoch } });
  }

  /** Our decision that there is no link with `spec` (stamped, so it beats older link-ups). */
  private sendDisconnect(spec: NodeSpec, out: Out): void {
    const header = this.header();
    const epoch = this.links.get(spec.name)?.epoch;
    this.links.set(spec.name, { clock: header.clock, by: this.self, linked: false, epoch });
    out.push({ type: 'send', to: spec, message: epoch === undefined ? { ...header, type: 'disconnect' } : { ...header, type: 'disconnect', toEpoch: epoch } });
  }

  /**
   * Applies the link change a peer announced if it is newer than what we know for that pair.
   * A stale link-up is refused with a fresh disconnect so the peer does not stay linked alone.
   */
  private adopt(m: HyParViewMessage, linked: boolean, out: Out): boolean {
    const peer = m.from.name;
    if (!newerStamp(m.clock, peer, this.links.getOrFloor(peer))) {
      if (linked && !this.active.has(peer)) this.sendDisconnect(m.from, out);
      return false;
    }
    this.links.set(peer, { clock: m.clock, by: peer, linked, epoch: m.epoch });
    if (linked && !this.active.has(peer)) {
      this.makeRoom(peer, out);
      this.addActive(m.from, out);
    } else if (!linked && this.active.has(peer)) {
      this.removeActive(peer, 'disconnect', out);
      this.addPassive(m.from);
    }
    return true;
  }

  /** A full active view drops a random peer to the passive view and tells it (paper §4.2). */
  private makeRoom(keep: NodeName, out: Out): void {
    while (this.active.size >= this.config.activeMaxSize) {
      const victim = this.random.pick(this.activeView().filter((s) => s.name !== keep));
      this.sendDisconnect(victim, out);
      this.removeActive(victim.name, 'dropped', out);
      this.addPassive(victim);
    }
  }

  private isAboutEarlierIncarnation(peer: NodeName, epoch: number | undefined): boolean {
    const known = this.links.get(peer)?.epoch;
    return epoch !== undefined && known !== undefined && epoch < known;
  }

  /** Drops a failed peer from the active view, keeping the last link stamp. Returns whether to replace it. */
  private lose(peer: NodeName, out: Out): boolean {
    const wasRequested = this.requested.delete(peer);
    if (!this.active.has(peer)) return wasRequested;
    this.removeActive(peer, 'failed', out);
    const record = this.links.get(peer);
    if (record) this.links.set(peer, { ...record, linked: false });
    return true;
  }

  /** Asks up to `count` passive peers to become active, never above `activeMaxSize` counting pending requests. */
  private requestNeighbors(count: number, out: Out): void {
    const room = this.config.activeMaxSize - this.active.size - this.requested.size;
    const n = Math.min(count, room);
    if (n <= 0) return;
    const candidates = [...this.passive.values()].filter((s) => !this.requested.has(s.name) && !this.refused.has(s.name));
    for (const spec of this.random.sample(candidates, n)) {
      // Only an isolated node may force its way in, and only with one request at a time.
      const priority = this.active.size === 0 && this.requested.size === 0 ? 'high' : 'low';
      this.requested.add(spec.name);
      this.send(spec, { type: 'neighborRequest', priority, exchange: this.sampleViews(spec.name) }, out);
    }
  }

  /**
   * Checks a peer's incarnation. An older one is a dead process: ignore it. A newer one means
   * the peer restarted: the link with its predecessor is gone and its stamps start over.
   */
  private observeEpoch(spec: NodeSpec, epoch: number, out: Out): boolean {
    const record = this.links.get(spec.name);
    if (record?.epoch === undefined) {
      this.links.set(spec.name, { ...this.links.getOrFloor(spec.name), epoch });
      return true;
    }
    if (epoch < record.epoch) return false;
    if (epoch > record.epoch) {
      if (this.active.has(spec.name)) this.removeActive(spec.name, 'restarted', out);
      this.requested.delete(spec.name);
      this.links.set(spec.name, { clock: 0, by: '', linked: false, epoch });
    }
    return true;
  }

  // --- views ---------------------------------------------------------------------------------

  private addActive(spec: NodeSpec, out: Out): void {
    this.passive.delete(spec.name);
    this.active.set(spec.name, spec);
    out.push({ type: 'connect', spec }, { type: 'activeAdded', spec });
  }

  private removeActive(node: NodeName, reason: ActiveRemovedReason, out: Out): void {
    this.active.delete(node);
    out.push({ type: 'activeRemoved', node, reason }, { type: 'disconnect', node });
  }

  private addPassive(spec: NodeSpec): void {
    if (spec.name === this.self || this.active.has(spec.name) || this.config.passiveMaxSize === 0) return;
    if (!this.passive.has(spec.name) && this.passive.size >= this.config.passiveMaxSize) {
      this.passive.delete(this.random.pick([...this.passive.keys()]));
    }
    this.passive.set(spec.name, spec);
  }

  /** Adds an exchange list to the passive view, evicting `evictFirst` names before random ones (paper §4.4). */
  private integrate(exchange: readonly NodeSpec[], evictFirst: readonly NodeName[]): void {
    const evictable = evictFirst.filter((n) => this.passive.has(n));
    for (const spec of exchange) {
      if (spec.name === this.self || this.active.has(spec.name) || this.passive.has(spec.name)) continue;
      if (this.config.passiveMaxSize === 0) return;
      if (this.passive.size >= this.config.passiveMaxSize) {
        let victim = evictable.shift();
        while (victim !== undefined && !this.passive.has(victim)) victim = evictable.shift();
        this.passive.delete(victim ?? this.random.pick([...this.passive.keys()]));
      }
      this.passive.set(spec.name, spec);
    }
  }

  /** A restarted peer may come back with a new address: keep the newest spec. */
  private refreshSpec(spec: NodeSpec): void {
    const a = this.active.get(spec.name);
    if (a !== undefined && !specsEqual(a, spec)) this.active.set(spec.name, spec);
    const p = this.passive.get(spec.name);
    if (p !== undefined && !specsEqual(p, spec)) this.passive.set(spec.name, spec);
  }

  /** `shuffleKActive` active and `shuffleKPassive` passive peers, `except` left out. */
  private sampleViews(except: NodeName): NodeSpec[] {
    return [
      ...this.random.sample(
        this.activeView().filter((s) => s.name !== except),
        this.config.shuffleKActive,
      ),
      ...this.random.sample(
        this.passiveView().filter((s) => s.name !== except),
        this.config.shuffleKPassive,
      ),
    ];
  }

  private header(): MessageHeader {
    return { from: this.selfSpec, epoch: this.epoch, clock: ++this.clock };
  }

  private send(to: NodeSpec, body: AnyBody, out: Out): void {
    out.push({ type: 'send', to, message: { ...this.header(), ...body } as HyParViewMessage });
  }
}
