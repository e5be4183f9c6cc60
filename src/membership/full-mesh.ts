/**
 * The full-mesh membership strategy (Partisan's `partisan_full_membership_strategy`, reference
 * §3.6) as a pure state machine: every node knows every member and keeps a connection to each.
 * Membership is an AWMap `node name → MVRegister(node spec)` gossiped whole, periodically and on
 * change. Each method returns the actions the driver performs, in order.
 *
 * Fixed on purpose, compared with Partisan:
 * - Keyed by name, not an OR-set of specs: a node restarting with a new address replaces its
 *   spec instead of appearing twice (Partisan removes "every spec named N" on leave for this).
 * - Only a node writes its own entry, with a (name, incarnation) actor: a restart supersedes
 *   the old spec, and stale gossip carrying it cannot resurrect it (#191, see causal-context.ts).
 * - Gossip that knows this incarnation of us but not our current entry is not merged (see
 *   `accepts`): after a leave, stale gossip from a peer that had not heard of it cannot pull
 *   this node back in. Partisan stops the manager instead and races with in-flight gossip (#191).
 *   Its sender gets a *retraction* instead, so it drops its obsolete copy of our entry.
 * - A join request is answered with our state, not merged: the joiner merges it and gossips
 *   back, so a joiner that leaves meanwhile is never left behind as a member.
 * - `updateMembers` also drops pending joins that discovery no longer lists (#116).
 * - Joins are not members until the joined node's own state arrives, so a node that never comes
 *   up never enters the membership (Partisan: `pending`, merged on connect).
 */
import { type Actor, CausalContext, type Dot, isCounter, malformed, sameDot } from './causal-context.js';
import { AWMap, digestOf, type EncodedAWMap } from './awmap.js';
import type { DotValue, ValueCodec } from './mvregister.js';
import { type NodeName, type NodeSpec, nodeName, parseNodeSpec, specsEqual } from './types.js';
import { InvalidOptionError } from '../util/errors.js';

export interface FullMeshOptions {
  /** This node's spec (required). */
  self: NodeSpec;
  /**
   * This process's incarnation (required): it must grow across restarts of the same node name,
   * so a restarted node never re-issues a dot. Use the start time (`clock.wallNow()` at boot),
   * as the wire layer does for `inc`, or a persisted counter + 1.
   */
  incarnation: number;
}

/** The gossiped state: plain arrays and node specs (msgpack/JSON-able). */
export type EncodedMembership = EncodedAWMap<NodeSpec>;

export type FullMeshAction =
  /**
   * Send `state` to each node of `to`, dialing if needed; the receiver calls
   * `handleGossip(sender, state, join)`. `join` marks a join request (from `join()`).
   */
  | { type: 'gossip'; to: NodeName[]; state: EncodedMembership; join?: true }
  /** Keep a connection to this node; use this spec for (re)dialing (it may be a new address). */
  | { type: 'connect'; spec: NodeSpec }
  /** Close the connections to this node after flushing what was queued (earlier gossip included). */
  | { type: 'disconnect'; node: NodeName }
  /** The member set or a member's spec changed (fire on_up/on_down, update Plumtree). */
  | { type: 'membersChanged'; added: NodeSpec[]; removed: NodeName[]; updated: NodeSpec[]; members: NodeName[] }
  /** This node is no longer in the cluster and is now a singleton: it left, or was removed. */
  | { type: 'selfRemoved'; reason: 'left' | 'removed' };

/** Node specs on the wire, validated on the way in. */
const specCodec: ValueCodec<NodeSpec, unknown> = { encode: (s) => s, decode: parseNodeSpec };

export class FullMeshMembership {
  readonly self: NodeName;
  private readonly selfSpec: NodeSpec;
  private currentIncarnation: number;
  private map = new AWMap<NodeSpec>();
  /** The dot of our own entry: while some peer has not seen it, that peer's view of us is stale. */
  private selfDot: Dot;
  /** Nodes we asked to join that are not members yet (Partisan's `pending`). */
  private readonly pendingJoins = new Map<NodeName, NodeSpec>();
  /** What is derived from one version of the map: gossip is sent and diffed far more often than it changes. */
  private derived: { map: AWMap<NodeSpec>; version: number; state?: EncodedMembership; specs?: ReadonlyMap<NodeName, NodeSpec> } | undefined;

  constructor(options: FullMeshOptions) {
    this.selfSpec = parseNodeSpec(options.self);
    this.self = nodeName(this.selfSpec.name);
    if (!isCounter(options.incarnation)) throw new InvalidOptionError('incarnation', options.incarnation, 'expected a non-negative safe integer');
    this.currentIncarnation = options.incarnation;
    this.selfDot = this.map.set(this.actor, this.self, this.selfSpec);
  }

  get incarnation(): number {
    return this.currentIncarnation;
  }

  /** Every member, self included (Partisan's `members()`), sorted. */
  members(): NodeName[] {
    return [...this.snapshot().keys()];
  }

  member(node: NodeName): boolean {
    return this.map.has(node);
  }

  /** The spec of a member, or undefined. */
  spec(node: NodeName): NodeSpec | undefined {
    return this.snapshot().get(node);
  }

  /** One spec per member, self included (Partisan's `members_for_orchestration()`), by name. */
  membersForOrchestration(): NodeSpec[] {
    return [...this.snapshot().values()];
  }

  /** Members other than self: the nodes the driver keeps connections to. */
  peers(): NodeSpec[] {
    return this.membersForOrchestration().filter((s) => s.name !== this.self);
  }

  /** Joins in progress: nodes to dial and gossip to until they become members or are dropped. */
  pending(): NodeSpec[] {
    return [...this.pendingJoins.values()];
  }

  /** The state to gossip. */
  state(): EncodedMembership {
    const d = this.cache();
    return (d.state ??= this.map.encode(specCodec) as EncodedMembership);
  }

  /** Fingerprint of the state: equal digests mean converged. */
  digest(): string {
    return this.map.digest();
  }

  /**
   * Starts joining the cluster `spec` belongs to: dial it and send it our state. It answers
   * with its own; the node is a member once that arrives. Joining self or a member is a no-op.
   */
  join(spec: NodeSpec): FullMeshAction[] {
    const s = parseNodeSpec(spec);
    if (s.name === this.self || this.map.has(s.name)) return [];
    this.pendingJoins.set(s.name, s);
    return [
      { type: 'connect', spec: s },
      { type: 'gossip', to: [s.name], state: this.state(), join: true },
    ];
  }

  /**
   * Removes `node` from the cluster (default: self). The removal is gossiped to the previous
   * peers (the leaver included, so it resets itself) before their connections are closed.
   * A self-leave resets this node to a singleton. Leaving a pending node cancels the join.
   */
  leave(node: NodeName = this.self): FullMeshAction[] {
    if (node === this.self) return this.leaveSelf();
    if (!this.map.has(node)) {
      return this.pendingJoins.delete(node) ? [{ type: 'disconnect', node }] : [];
    }
    return this.removeMembers([node]);
  }

  /**
   * Merges a peer's state. `from` is the authenticated sender, `join` the flag of the gossip
   * action. Throws ERR_WIRE_MALFORMED_FRAME on a malformed state (the caller counts, drops it).
   */
  handleGossip(from: NodeName, encoded: unknown, join = false): FullMeshAction[] {
    // Converged (Partisan's first check), known without decoding: the sender sends its digest.
    if (from === this.self || digestOf(encoded) === this.map.digest()) return [];
    const remote = decodeMembership(encoded);
    if (!this.accepts(from, remote)) {
      // A join request: answer with our state, whose merge there includes us and comes back as
      // gossip we accept. Not merged here: a join sent just before its sender left must not
      // leave it behind as a member that no longer knows us.
      if (join) return [{ type: 'gossip', to: [from], state: this.state() }];
      // It lists an obsolete us (it got our state from before a leave, e.g. the answer to its
      // join): tell it to drop that entry, or it would keep a member that no longer knows it.
      if (remote.has(this.self)) return [{ type: 'gossip', to: [from], state: this.retraction() }];
      return [];
    }
    const before = this.snapshot();
    let changed = this.map.merge(remote);
    const out: FullMeshAction[] = [];
    if (!this.map.dotValues(this.self).some((x) => sameDot(x.dot, this.selfDot))) {
      const seen = this.map.seenFrom(this.self)!;
      if (seen.incarnation <= this.currentIncarnation) return this.removedByPeer(before);
      // A newer incarnation of our name is known: our clock went back across a restart, or two
      // processes share a name. The running process wins: re-assert under a newer incarnation.
      this.currentIncarnation = seen.incarnation + 1;
      this.selfDot = this.map.set(this.actor, this.self, this.selfSpec);
      changed = true;
    }
    for (const name of this.pendingJoins.keys()) if (this.map.has(name)) this.pendingJoins.delete(name);
    if (changed) {
      const senderCaughtUp = this.map.equals(remote);
      const to = this.peerNames().filter((n) => n !== from || !senderCaughtUp);
      if (to.length > 0) out.push({ type: 'gossip', to, state: this.state() });
    } else if (remote.size > 0 && !this.map.equals(remote)) {
      // The sender is behind (a retraction, with no entries, needs no answer).
      out.push({ type: 'gossip', to: [from], state: this.state() });
    }
    out.push(...this.changeActions(before));
    return out;
  }

  /** The periodic round (Partisan: every `periodic_interval`, 10 s): gossip to peers, retry joins. */
  periodic(): FullMeshAction[] {
    const out: FullMeshAction[] = [];
    const peers = this.peerNames();
    const joins = [...this.pendingJoins.keys()];
    if (peers.length > 0) out.push({ type: 'gossip', to: peers, state: this.state() });
    if (joins.length > 0) out.push({ type: 'gossip', to: joins, state: this.state(), join: true });
    return out;
  }

  /**
   * Makes the membership follow a discovered node list (Partisan's `update_members`): joins
   * listed non-members, removes unlisted members, and drops pending joins no longer listed, so
   * nodes that never became members are not retried forever (#116). Self is never removed.
   */
  updateMembers(specs: readonly NodeSpec[]): FullMeshAction[] {
    const wanted = new Map<NodeName, NodeSpec>();
    for (const spec of specs) {
      const s = parseNodeSpec(spec);
      if (s.name !== this.self) wanted.set(s.name, s);
    }
    const out: FullMeshAction[] = [];
    for (const name of [...this.pendingJoins.keys()]) {
      if (wanted.has(name)) continue;
      this.pendingJoins.delete(name);
      out.push({ type: 'disconnect', node: name });
    }
    const leavers = this.members().filter((n) => n !== this.self && !wanted.has(n));
    if (leavers.length > 0) out.push(...this.removeMembers(leavers));
    for (const spec of wanted.values()) {
      const pending = this.pendingJoins.get(spec.name);
      if (pending === undefined || !specsEqual(pending, spec)) out.push(...this.join(spec));
    }
    return out;
  }

  /**
   * A state with no entries whose context covers only our own dots older than the current one:
   * merged anywhere, it removes obsolete copies of our entry and nothing else.
   */
  private retraction(): EncodedMembership {
    const context = new CausalContext();
    context.add({ ...this.selfDot, counter: this.selfDot.counter - 1 });
    return new AWMap<NodeSpec>(context).encode(specCodec) as EncodedMembership;
  }

  /**
   * Whether to merge `remote`: it has seen our current entry, or we asked `from` to join, or it
   * is `from`'s retraction of its own obsolete entries, or it only knows an earlier incarnation
   * of us (we crashed and restarted: rejoin that cluster, as the restarted process would through
   * its seeds anyway). Refused: a state that knows this incarnation but not our current entry —
   * gossip from before we left or were removed, which would pull us back in (#191) — and a
   * state that never heard of us (not a join request).
   */
  private accepts(from: NodeName, remote: AWMap<NodeSpec>): boolean {
    if (remote.hasSeen(this.selfDot) || this.pendingJoins.has(from) || isRetraction(remote, from)) return true;
    const known = remote.seenFrom(this.self);
    return known !== undefined && known.incarnation < this.currentIncarnation;
  }

  private get actor(): Actor {
    return { name: this.self, incarnation: this.currentIncarnation };
  }

  private peerNames(): NodeName[] {
    return this.members().filter((n) => n !== this.self);
  }

  private cache(): NonNullable<FullMeshMembership['derived']> {
    if (this.derived?.map !== this.map || this.derived.version !== this.map.version) {
      this.derived = { map: this.map, version: this.map.version };
    }
    return this.derived;
  }

  /** name → spec of every member, sorted by name; shared, never mutated. */
  private snapshot(): ReadonlyMap<NodeName, NodeSpec> {
    const d = this.cache();
    return (d.specs ??= new Map(this.map.keys().map((name) => [name as NodeName, chooseSpec(name, this.map.dotValues(name))])));
  }

  private removeMembers(nodes: readonly NodeName[]): FullMeshAction[] {
    const before = this.snapshot();
    // Gossip to the peers as they were, so the removed nodes hear it too (Partisan does the same).
    const to = this.peerNames();
    for (const n of nodes) {
      this.map.remove(n);
      this.pendingJoins.delete(n);
    }
    return [{ type: 'gossip', to, state: this.state() }, ...this.changeActions(before)];
  }

  private leaveSelf(): FullMeshAction[] {
    const before = this.snapshot();
    const to = this.peerNames();
    this.map.remove(this.self);
    const out: FullMeshAction[] = to.length > 0 ? [{ type: 'gossip', to, state: this.state() }] : [];
    return [...out, ...this.resetToSingleton(before, [], 'left')];
  }

  /** A peer's state removed our current entry: it had seen it, so someone called leave(us). */
  private removedByPeer(before: ReadonlyMap<NodeName, NodeSpec>): FullMeshAction[] {
    return this.resetToSingleton(before, this.peerNames(), 'removed');
  }

  /**
   * Back to a singleton (Partisan restarts the manager with a fresh state). Only our own
   * context entry is kept: the counter must go on, and keeping the rest would make our next
   * merge into a cluster remove every member whose writes we had seen.
   */
  private resetToSingleton(before: ReadonlyMap<NodeName, NodeSpec>, alsoConnected: readonly NodeName[], reason: 'left' | 'removed'): FullMeshAction[] {
    const seen = this.map.seenFrom(this.self)!;
    const context = new CausalContext();
    context.add({ actor: this.self, incarnation: seen.incarnation, counter: seen.counter });
    this.map = new AWMap<NodeSpec>(context);
    this.selfDot = this.map.set(this.actor, this.self, this.selfSpec);
    const removed = [...before.keys()].filter((n) => n !== this.self);
    const dropped = new Set([...removed, ...alsoConnected, ...this.pendingJoins.keys()]);
    this.pendingJoins.clear();
    const out: FullMeshAction[] = [...dropped].map((node) => ({ type: 'disconnect', node }));
    out.push({ type: 'membersChanged', added: [], removed, updated: [], members: this.members() });
    out.push({ type: 'selfRemoved', reason });
    return out;
  }

  /** connect / disconnect / membersChanged for the difference between `before` and now. */
  private changeActions(before: ReadonlyMap<NodeName, NodeSpec>): FullMeshAction[] {
    const after = this.snapshot();
    const added: NodeSpec[] = [];
    const updated: NodeSpec[] = [];
    const removed: NodeName[] = [];
    for (const [name, spec] of after) {
      const old = before.get(name);
      if (old === undefined) added.push(spec);
      else if (!specsEqual(old, spec)) updated.push(spec);
    }
    for (const name of before.keys()) if (!after.has(name)) removed.push(name);
    if (added.length + updated.length + removed.length === 0) return [];
    const out: FullMeshAction[] = removed.map((node) => ({ type: 'disconnect', node }));
    for (const spec of [...added, ...updated]) if (spec.name !== this.self) out.push({ type: 'connect', spec });
    out.push({ type: 'membersChanged', added, removed, updated, members: this.members() });
    return out;
  }
}

/** A state holding no entry and only `from`'s context: it can only remove `from`'s older writes. */
function isRetraction(remote: AWMap<NodeSpec>, from: NodeName): boolean {
  return remote.size === 0 && remote.contextActors === 1 && remote.seenFrom(from) !== undefined;
}

/** Decodes gossip and checks that every spec sits under its own name. */
function decodeMembership(encoded: unknown): AWMap<NodeSpec> {
  const m = AWMap.decode(encoded, specCodec);
  for (const key of m.keys()) {
    if (m.get(key).some((s) => s.name !== key)) throw malformed('spec stored under another name', { key });
  }
  return m;
}

/**
 * The one spec shown for a member. Only a node writes its own entry, so there is one value;
 * if some other writer ever added one concurrently, the node's own newest write wins, else
 * the newest write — deterministically, so every replica shows the same spec.
 */
function chooseSpec(name: string, entries: readonly DotValue<NodeSpec>[]): NodeSpec {
  let best = entries[0]!;
  for (const x of entries) if (outranks(x.dot, best.dot, name)) best = x;
  return best.value;
}

function outranks(x: Dot, y: Dot, name: string): boolean {
  if ((x.actor === name) !== (y.actor === name)) return x.actor === name;
  if (x.incarnation !== y.incarnation) return x.incarnation > y.incarnation;
  if (x.counter !== y.counter) return x.counter > y.counter;
  return x.actor > y.actor;
}
