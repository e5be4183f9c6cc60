import { PartisanError } from '../../util/errors.js';
import type { PeerService, PeerServiceHost } from '../service.js';
import type { NodeName, NodeSpec } from '../types.js';

/**
 * Partisan's static manager: members are exactly the nodes joined here, nothing is gossiped.
 * Unlike Partisan's (issue #267) it supports on_up/on_down, so monitors work with it.
 */
export class StaticPeerService implements PeerService {
  readonly kind = 'static' as const;
  private readonly specs = new Map<NodeName, NodeSpec>();

  constructor(private readonly host: PeerServiceHost) {}

  start(): void {}

  async stop(): Promise<void> {
    this.specs.clear();
    this.host.maintain([]);
  }

  join(spec: NodeSpec): void {
    if (spec.name === this.host.name) return;
    this.specs.set(spec.name, spec);
    this.changed();
  }

  async leave(node?: NodeName): Promise<void> {
    if (node === undefined || node === this.host.name) {
      this.specs.clear();
    } else {
      this.specs.delete(node);
    }
    this.changed();
  }

  members(): NodeName[] {
    return [this.host.name, ...this.specs.keys()].sort();
  }

  member(node: NodeName): boolean {
    return node === this.host.name || this.specs.has(node);
  }

  membersForOrchestration(): NodeSpec[] {
    return [this.host.spec(), ...this.specs.values()];
  }

  updateMembers(specs: readonly NodeSpec[]): void {
    this.specs.clear();
    for (const s of specs) if (s.name !== this.host.name) this.specs.set(s.name, s);
    this.changed();
  }

  reserve(): void {
    throw new PartisanError('ERR_NOT_IMPLEMENTED', 'reserve() needs the hyparview peer service');
  }

  getLocalState(): unknown {
    return undefined;
  }

  broadcastMembers(): NodeName[] {
    return [...this.specs.keys()].sort();
  }

  connectionUp(node: NodeName, spec: NodeSpec | undefined): void {
    // A node that dialed us is not a member until joined explicitly; keep its newest spec.
    if (spec && this.specs.has(node)) this.specs.set(node, spec);
  }

  connectionDown(): void {}

  handle(): void {}

  private changed(): void {
    this.host.maintain([...this.specs.values()]);
    this.host.membersChanged(this.members());
  }
}
