import type { ConnectionTableHandle } from '../connections/connection-table.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { WireLimits } from '../wire/limits.js';
import type { Logger } from 'pino';

/**
 * The seam between a node and its broadcast channels. The node owns connections and hands
 * each broadcast channel's frames over undecoded; the broadcast layer (one Plumtree server per
 * channel, in worker threads) decodes them, runs Plumtree and the channel's handler, and gives
 * back whole encoded frames to write. See docs/architecture.md, "Threads".
 */
export interface BroadcastLayerHost {
  readonly node: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly limits: WireLimits;
  /** The connection table, for workers to attach to (isConnected without a round trip). */
  readonly table: ConnectionTableHandle;
  /**
   * Queue whole encoded frames to `node` on `channel`; false when no lane of that channel is
   * open or it is full. `key` picks the stream (same key → same stream → in order); without
   * it streams are used round robin.
   */
  sendEncoded(node: string, channel: string, frames: Uint8Array, key?: string | number): boolean;
  /** Current broadcast members (excluding this node). */
  members(): readonly string[];
}

export interface BroadcastLayer {
  /** Channels this layer serves; their lanes hand frames on raw. */
  readonly channels: ReadonlySet<string>;
  /** Raw frames from `from` on `channel`; call `consumed(bytes)` once processed (credit). */
  raw(from: string, channel: string, frames: Uint8Array[], bytes: number, consumed: (bytes: number) => void): void;
  /** Broadcast `message` on `channel` from this node (batched to the channel's worker). */
  broadcast(channel: string, message: unknown): void;
  /** Updates accepted on `channel` (local and remote), in batches, until the node stops or the iterator is returned. */
  subscribe(channel: string): AsyncIterableIterator<unknown[]>;
  /** The broadcast member set changed (from the peer service). */
  setMembers(members: readonly string[]): void;
  /** Peers the channel's Plumtree spans (never this node). */
  broadcastMembers(channel: string): Promise<string[]>;
  /** Running anti-entropy exchanges. */
  exchanges(channel?: string): Promise<unknown[]>;
  cancelExchanges(channel: string, which: unknown): Promise<number>;
  /** Per-channel counters (delivered, duplicates, grafts, prunes, RMR, last delivery hop…). */
  metrics(channel?: string): Promise<Record<string, Record<string, number>>>;
  stop(): Promise<void>;
}
