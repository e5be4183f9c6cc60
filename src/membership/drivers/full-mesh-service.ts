import type { TimerHandle } from '../../util/clock.js';
import { PartisanError, isPartisanError } from '../../util/errors.js';
import { intOption, objectOption, rejectUnknownKeys } from '../../util/options.js';
import { FullMeshMembership, type FullMeshAction } from '../full-mesh.js';
import type { PeerService, PeerServiceHost } from '../service.js';
import type { NodeName, NodeSpec } from '../types.js';

export interface FullMeshServiceOptions {
  /** Full-state gossip to every peer, ms (Partisan's periodic_interval). Changes are gossiped at once. Default 10000. */
  gossipIntervalMs?: number;
  /** How long a leave waits for its removal gossip to reach the peers, ms. Default 2000. */
  leaveFlushMs?: number;
}

interface GossipBody {
  t: 'gossip';
  state: unknown;
  join?: true;
}

/**
 * The full-mesh peer service (Partisan's pluggable manager with the full membership strategy):
 * drives `FullMeshMembership`, keeps a connection to every member, gossips state on change and
 * every `gossipIntervalMs`. Gossip for a node not yet connected waits for its connection.
 *
 * With `clientServer` it is Partisan's client/server manager: membership is still gossiped,
 * but a node tagged `client` connects only to `server` nodes and sees only them as members
 * (servers connect to everyone), so many clients cost servers one connection each.
 */
export class FullMeshPeerService implements PeerService {
  readonly kind: 'fullMesh' | 'clientServer';
  private readonly sm: FullMeshMembership;
  private readonly gossipIntervalMs: number;
  private readonly leaveFlushMs: number;
  private readonly waitingGossip = new Map<NodeName, GossipBody>();
  private timer: TimerHandle | undefined;
  private members_: NodeName[];

  private readonly isClient: boolean;

  constructor(
    private readonly host: PeerServiceHost,
    incarnation: number,
    options: Record<string, unknown> = {},
    clientServer = false,
  ) {
    const raw = objectOption('membership', options);
    rejectUnknownKeys('membership', raw, ['gossipIntervalMs', 'leaveFlushMs']);
    this.gossipIntervalMs = intOption('membership.gossipIntervalMs', raw.gossipIntervalMs, 10_000, 10, 3_600_000);
    this.leaveFlushMs = intOption('membership.leaveFlushMs', raw.leaveFlushMs, 2_000, 0, 60_000);
    this.sm = new FullMeshMembership({ self: host.spec(), incarnation });
    this.kind = clientServer ? 'clientServer' : 'fullMesh';
    this.isClient = clientServer && host.spec().tag === 'client';
    this.members_ = this.visible(this.sm.members());
  }

  /** A client sees and connects to servers only (Partisan: members() on a client = servers + self). */
  private visible(names: NodeName[]): NodeName[] {
    if (!this.isClient) return names;
    return names.filter((n) => n === this.host.name || this.sm.spec(n)?.tag === 'server');
  }

  start(): void {
    this.timer = this.host.clock.setInterval(() => this.run(this.sm.periodic()), this.gossipIntervalMs);
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    this.waitingGossip.clear();
    this.host.maintain([]);
  }

  join(spec: NodeSpec): void {
    this.run(this.sm.join(spec));
  }

  async leave(node?: NodeName): Promise<void> {
    const target = node ?? this.host.name;
    if (target !== this.host.name && !this.sm.member(target) && !this.sm.pending().some((s) => s.name === target)) {
      throw new PartisanError('ERR_UNKNOWN_NODE', `${target} is not a member`, { details: { node: target } });
    }
    await this.run(this.sm.leave(target));
  }

  members(): NodeName[] {
    return this.visible(this.sm.members());
  }

  member(node: NodeName): boolean {
    return this.sm.member(node) && this.visible([node]).length === 1;
  }

  membersForOrchestration(): NodeSpec[] {
    return this.sm.membersForOrchestration();
  }

  updateMembers(specs: readonly NodeSpec[]): void {
    this.run(this.sm.updateMembers(specs));
  }

  reserve(): void {
    // Partisan's full mesh answers {error, no_available_slots}: every member is connected anyway.
    throw new PartisanError('ERR_NOT_IMPLEMENTED', 'reserve() needs the hyparview peer service (full mesh has no slots)');
  }

  getLocalState(): unknown {
    return this.sm.state();
  }

  broadcastMembers(): NodeName[] {
    return this.members_.filter((n) => n !== this.host.name);
  }

  connectionUp(node: NodeName, _spec: NodeSpec | undefined, state: unknown): void {
    const waiting = this.waitingGossip.get(node);
    if (waiting) {
      this.waitingGossip.delete(node);
      this.trySend(node, waiting);
    }
    // Partisan merges the state the peer sent in the handshake: it speeds up convergence.
    if (state !== undefined) this.onGossip(node, state, false);
  }

  connectionDown(): void {
    // A member that disconnects stays a member (it may be restarting); the connection layer redials.
  }

  handle(from: NodeName, body: unknown): void {
    const b = body as Partial<GossipBody> | null;
    if (b?.t !== 'gossip') return;
    this.onGossip(from, b.state, b.join === true);
  }

  private onGossip(from: NodeName, state: unknown, join: boolean): void {
    let actions: FullMeshAction[];
    try {
      actions = this.sm.handleGossip(from, state, join);
    } catch (err) {
      if (!isPartisanError(err)) throw err;
      return; // malformed gossip is dropped; the sender's next round may be fine
    }
    void this.run(actions);
  }

  /** Carry out actions in order; resolves once every disconnect has flushed. */
  private run(actions: FullMeshAction[]): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const a of actions) {
      switch (a.type) {
        case 'gossip': {
          const body: GossipBody = { t: 'gossip', state: a.state, ...(a.join ? { join: true as const } : {}) };
          for (const to of a.to) this.trySend(to, body);
          break;
        }
        case 'disconnect':
          this.waitingGossip.delete(a.node);
          closing.push(this.closeAfterFlush(a.node));
          break;
        case 'membersChanged':
        case 'selfRemoved':
          this.members_ = this.visible(this.sm.members());
          this.host.membersChanged(this.members_);
          break;
        case 'connect':
          break; // covered by maintain() below
      }
    }
    const peers = this.isClient ? this.sm.peers().filter((p) => p.tag === 'server') : this.sm.peers();
    this.host.maintain([...peers, ...this.sm.pending()]);
    return Promise.all(closing).then(() => undefined);
  }

  private trySend(node: NodeName, body: GossipBody): void {
    // A client keeps no connection to other clients: its gossip goes to servers only.
    if (this.isClient && this.sm.member(node) && this.sm.spec(node)?.tag !== 'server') return;
    if (!this.host.isConnected(node)) {
      // Newest state wins; a join request stays a join request.
      const prev = this.waitingGossip.get(node);
      this.waitingGossip.set(node, prev?.join && !body.join ? { ...body, join: true } : body);
      return;
    }
    try {
      this.host.send(node, body);
    } catch {
      this.waitingGossip.set(node, body);
    }
  }

  private async closeAfterFlush(node: NodeName): Promise<void> {
    let timer: TimerHandle | undefined;
    await Promise.race([
      this.host.flush(node).catch(() => {}),
      new Promise<void>((resolve) => (timer = this.host.clock.setTimeout(resolve, this.leaveFlushMs))),
    ]);
    timer?.cancel();
    // Someone may have joined again meanwhile: only close what is no longer a member.
    if (!this.sm.member(node) || node === this.host.name) await this.host.disconnect(node).catch(() => {});
  }
}
