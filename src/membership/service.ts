import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { NodeName, NodeSpec } from './types.js';

/**
 * What a peer service manager (membership strategy driver) gets from its node, and what the
 * node asks of it. Drivers wrap the pure state machines of this folder: they feed them
 * connection events and gossip, and carry out their actions with these hooks.
 */
export interface PeerServiceHost {
  readonly name: NodeName;
  spec(): NodeSpec;
  readonly clock: Clock;
  readonly random: Random;
  /** Keep connections to exactly these peers (dial missing, close the rest). */
  maintain(specs: readonly NodeSpec[]): void;
  /** Close the connection to `node` now. */
  disconnect(node: NodeName): Promise<void>;
  isConnected(node: NodeName): boolean;
  /** Send a `$membership` body to `node`; throws a coded error when not connected. */
  send(node: NodeName, body: unknown): void;
  /** Flush queued messages to `node` (used before leaving). */
  flush(node: NodeName): Promise<void>;
  /** Membership changed (drives Plumtree's member set and metrics). */
  membersChanged(members: readonly NodeName[]): void;
}

export interface PeerService {
  readonly kind: 'fullMesh' | 'hyparview' | 'clientServer' | 'static';
  start(): void;
  stop(): Promise<void>;
  /** Join the cluster `spec` belongs to; completes asynchronously once connected. */
  join(spec: NodeSpec): void;
  /** Leave the cluster (no argument), or remove another node from it. */
  leave(node?: NodeName): Promise<void>;
  /** Members, this node included (Partisan's `members()`). */
  members(): NodeName[];
  member(node: NodeName): boolean;
  membersForOrchestration(): NodeSpec[];
  /** Converge membership towards exactly these specs (peer discovery). */
  updateMembers(specs: readonly NodeSpec[]): void;
  /** Reserve slots for a tag (HyParView); others throw ERR_NOT_IMPLEMENTED. */
  reserve(tag: string): void;
  /** State sent in the handshake (Partisan's get_local_state). */
  getLocalState(): unknown;
  /** Peers a broadcast tree should span: all members but self, or HyParView's active view. */
  broadcastMembers(): NodeName[];
  /** Node → service events. `incarnation` is the peer's, from the handshake (HyParView's epoch). */
  connectionUp(node: NodeName, spec: NodeSpec | undefined, state: unknown, incarnation?: number): void;
  connectionDown(node: NodeName, incarnation?: number): void;
  /** A `$membership` message from `from`. */
  handle(from: NodeName, body: unknown): void;
}
