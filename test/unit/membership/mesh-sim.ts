/**
 * A tiny discrete-event network for full-mesh membership tests: gossip messages wait in one
 * queue and are delivered in a seeded random order (any interleaving, no FIFO per link).
 */
import { type FullMeshAction, FullMeshMembership } from '../../../src/membership/full-mesh.js';
import type { NodeName, NodeSpec } from '../../../src/membership/types.js';
import { type Random, seededRandom } from '../../../src/util/random.js';

export interface Gossip {
  from: NodeName;
  to: NodeName;
  state: unknown;
  join: boolean;
}

export function spec(name: string, port = 9000, host = '10.0.0.1'): NodeSpec {
  return { name: name as NodeName, listenAddrs: [{ host, port }] };
}

export class MeshSim {
  readonly random: Random;
  readonly nodes = new Map<NodeName, FullMeshMembership>();
  readonly queue: Gossip[] = [];
  /** Every action any node returned, with the node that returned it. */
  readonly log: { node: NodeName; action: FullMeshAction }[] = [];
  /** Pass gossip through JSON, as the wire would (slower; for small runs). */
  serialize = false;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  add(name: string, incarnation = 1, port = 9000): FullMeshMembership {
    const node = new FullMeshMembership({ self: spec(name, port), incarnation });
    this.nodes.set(node.self, node);
    return node;
  }

  get(name: string): FullMeshMembership {
    const node = this.nodes.get(name as NodeName);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  /** Runs `fn` on a node and queues the gossip it produces. */
  act(name: string, fn: (node: FullMeshMembership) => FullMeshAction[]): FullMeshAction[] {
    const node = this.get(name);
    const actions = fn(node);
    this.apply(node.self, actions);
    return actions;
  }

  apply(from: NodeName, actions: readonly FullMeshAction[]): void {
    for (const action of actions) {
      this.log.push({ node: from, action });
      if (action.type !== 'gossip') continue;
      const state = this.serialize ? JSON.parse(JSON.stringify(action.state)) : action.state;
      for (const to of action.to) this.queue.push({ from, to, state, join: action.join === true });
    }
  }

  /** Delivers one random queued message; false when the queue is empty. */
  step(): boolean {
    if (this.queue.length === 0) return false;
    const i = this.random.int(this.queue.length);
    const msg = this.queue[i]!;
    this.queue[i] = this.queue[this.queue.length - 1]!;
    this.queue.pop();
    const node = this.nodes.get(msg.to);
    if (node) this.apply(node.self, node.handleGossip(msg.from, msg.state, msg.join));
    return true;
  }

  runUntilQuiet(maxSteps = 1_000_000): number {
    let steps = 0;
    while (this.step()) {
      if (++steps > maxSteps) throw new Error('gossip did not quiesce');
    }
    return steps;
  }

  /** One periodic round on every node, then delivery until quiet. */
  periodicRound(): void {
    for (const node of this.random.shuffle([...this.nodes.values()])) this.apply(node.self, node.periodic());
    this.runUntilQuiet();
  }

  actionsOf(name: string, type: FullMeshAction['type']): FullMeshAction[] {
    return this.log.filter((e) => e.node === name && e.action.type === type).map((e) => e.action);
  }
}
