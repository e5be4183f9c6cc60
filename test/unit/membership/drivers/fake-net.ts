import { HyParViewPeerService } from '../../../../src/membership/drivers/hyparview-service.js';
import type { PeerServiceHost } from '../../../../src/membership/service.js';
import type { NodeName, NodeSpec } from '../../../../src/membership/types.js';
import { FakeClock } from '../../../../src/util/clock.js';
import { PartisanError } from '../../../../src/util/errors.js';
import { seededRandom, type Random } from '../../../../src/util/random.js';

/**
 * A deterministic stand-in for the node and its connection manager under HyParView drivers:
 * a FakeClock, connections that come up 1 ms after `maintain` asks for them (redialled every
 * 100 ms while wanted, never to a dead node), messages delivered 1 ms after `send` on the
 * connection they were sent on, crashes that close every connection of a node.
 */
export class FakeNet {
  readonly clock = new FakeClock();
  readonly random: Random;
  private readonly nodes = new Map<NodeName, FakeNode>();
  /** Open connections: sorted pair key → generation (messages of a closed one are lost). */
  private readonly links = new Map<string, number>();
  private generation = 0;
  private nextIncarnation = 1;

  constructor(seed = 1) {
    this.random = seededRandom(seed);
  }

  /** Starts a driver for `name` (a new incarnation if it ran before). */
  spawn(name: string, options: Record<string, unknown> = {}): HyParViewPeerService {
    const n = name as NodeName;
    const incarnation = this.nextIncarnation++;
    const node: FakeNode = {
      name: n,
      incarnation,
      alive: true,
      wanted: new Map(),
      disconnects: [],
      membersChanged: 0,
      spec: { name: n, listenAddrs: [{ host: name, port: incarnation }] },
      service: undefined as unknown as HyParViewPeerService,
    };
    this.nodes.set(n, node);
    node.service = new HyParViewPeerService(this.host(node), incarnation, options);
    node.service.start();
    return node.service;
  }

  node(name: string): FakeNode {
    const n = this.nodes.get(name as NodeName);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  service(name: string): HyParViewPeerService {
    return this.node(name).service;
  }

  alive(): FakeNode[] {
    return [...this.nodes.values()].filter((n) => n.alive);
  }

  /** The process dies: its connections close (peers see them go down), its timers stop. */
  async crash(name: string): Promise<void> {
    const node = this.node(name);
    node.alive = false;
    for (const other of this.nodes.values()) if (other !== node) this.close(node, other);
    await node.service.stop();
  }

  isConnected(a: string, b: string): boolean {
    return this.links.has(pairKey(a, b));
  }

  /** Advances the clock in 1 ms steps (so promise continuations run between timers). */
  async run(ms: number): Promise<void> {
    for (let i = 0; i < ms; i++) {
      this.clock.advance(1);
      if ((i & 15) === 0) await Promise.resolve();
    }
  }

  /** Problems with the active views of live nodes: oversize, dead peers, asymmetry. */
  checkViews(): string[] {
    const problems: string[] = [];
    for (const node of this.alive()) {
      const { active, passive } = node.service.views();
      const max = node.service.machineConfig.activeMaxSize;
      if (active.length > max) problems.push(`${node.name}: active view of ${active.length} > ${max}`);
      for (const p of active) {
        const peer = this.nodes.get(p);
        if (!peer?.alive) problems.push(`${node.name}: dead ${p} in the active view`);
        else if (!peer.service.views().active.includes(node.name)) problems.push(`${node.name} has ${p} active, not the reverse`);
        if (passive.includes(p)) problems.push(`${node.name}: ${p} active and passive`);
      }
    }
    return problems;
  }

  /** Connected components of the active-view graph over live nodes. */
  components(): string[][] {
    const seen = new Set<string>();
    const out: string[][] = [];
    for (const start of this.alive()) {
      if (seen.has(start.name)) continue;
      const component: string[] = [];
      const stack: string[] = [start.name];
      seen.add(start.name);
      while (stack.length > 0) {
        const n = stack.pop()!;
        component.push(n);
        for (const p of this.node(n).service.views().active) {
          if (this.node(p).alive && !seen.has(p)) {
            seen.add(p);
            stack.push(p);
          }
        }
      }
      out.push(component.sort());
    }
    return out;
  }

  private host(node: FakeNode): PeerServiceHost {
    return {
      name: node.name,
      spec: () => node.spec,
      clock: this.clock,
      random: this.random,
      maintain: (specs) => {
        node.wanted = new Map(specs.map((s) => [s.name, s]));
        for (const s of specs) this.dialSoon(node, s);
      },
      disconnect: async (peer) => {
        node.disconnects.push(peer);
        const other = this.nodes.get(peer);
        if (other) this.clock.setTimeout(() => this.close(node, other), 1);
      },
      isConnected: (peer) => node.alive && this.links.has(pairKey(node.name, peer)),
      send: (peer, body) => {
        const generation = this.links.get(pairKey(node.name, peer));
        if (!node.alive || generation === undefined) throw new PartisanError('ERR_NOT_CONNECTED', `not connected to ${peer}`);
        const copy = structuredClone(body);
        this.clock.setTimeout(() => {
          const target = this.nodes.get(peer);
          if (target?.alive && this.links.get(pairKey(node.name, peer)) === generation) target.service.handle(node.name, copy);
        }, 1);
      },
      flush: async () => {},
      membersChanged: () => {
        node.membersChanged++;
      },
    };
  }

  private dialSoon(node: FakeNode, spec: NodeSpec): void {
    this.clock.setTimeout(() => {
      if (!node.alive || !node.wanted.has(spec.name) || this.links.has(pairKey(node.name, spec.name))) return;
      const peer = this.nodes.get(spec.name);
      if (!peer?.alive || peer.spec.listenAddrs[0]!.port !== spec.listenAddrs[0]!.port) {
        this.clock.setTimeout(() => this.dialSoon(node, spec), 100); // refused: retry while wanted
        return;
      }
      this.links.set(pairKey(node.name, peer.name), ++this.generation);
      node.service.connectionUp(peer.name, peer.spec, undefined, peer.incarnation);
      peer.service.connectionUp(node.name, node.spec, undefined, node.incarnation);
    }, 1);
  }

  private close(a: FakeNode, b: FakeNode): void {
    if (!this.links.delete(pairKey(a.name, b.name))) return;
    if (a.alive) a.service.connectionDown(b.name, b.incarnation);
    if (b.alive) b.service.connectionDown(a.name, a.incarnation);
  }
}

export interface FakeNode {
  name: NodeName;
  incarnation: number;
  alive: boolean;
  spec: NodeSpec;
  service: HyParViewPeerService;
  wanted: Map<NodeName, NodeSpec>;
  /** Peers this node asked the host to disconnect. */
  disconnects: NodeName[];
  membersChanged: number;
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
