import type { NodeName } from './handler.js';
import type { IHaveItem } from './messages.js';

/**
 * Lazy-push entries not yet acknowledged, per peer (Partisan's `plumtree_outstanding` ETS
 * bag). They are re-announced on every lazy tick until an `ignored_i_have` (or a `stale`
 * graft) acknowledges them. Bounded per peer: a dead peer that membership has not removed yet
 * would otherwise grow the map forever; dropping its oldest entries only leaves repair of
 * those ids to anti-entropy.
 */
export class OutstandingLazy<Id> {
  /** peer → idKey → announcement; Map order is age, so the first entry is the oldest. */
  private readonly byPeer = new Map<NodeName, Map<string, IHaveItem<Id>>>();
  private total = 0;

  constructor(private readonly maxPerPeer: number) {}

  /** Records an announcement; returns how many old entries were dropped to make room (0 or 1). */
  add(peer: NodeName, key: string, item: IHaveItem<Id>): number {
    let entries = this.byPeer.get(peer);
    if (!entries) {
      entries = new Map();
      this.byPeer.set(peer, entries);
    }
    if (entries.has(key)) {
      entries.set(key, item);
      return 0;
    }
    let dropped = 0;
    if (entries.size >= this.maxPerPeer) {
      entries.delete(entries.keys().next().value!);
      this.total--;
      dropped = 1;
    }
    entries.set(key, item);
    this.total++;
    return dropped;
  }

  ack(peer: NodeName, key: string): void {
    const entries = this.byPeer.get(peer);
    if (!entries?.delete(key)) return;
    this.total--;
    if (entries.size === 0) this.byPeer.delete(peer);
  }

  dropPeer(peer: NodeName): void {
    const entries = this.byPeer.get(peer);
    if (!entries) return;
    this.total -= entries.size;
    this.byPeer.delete(peer);
  }

  /** Peers with entries, and their announcements oldest first. */
  entries(): IterableIterator<[NodeName, Map<string, IHaveItem<Id>>]> {
    return this.byPeer.entries();
  }

  countFor(peer: NodeName): number {
    return this.byPeer.get(peer)?.size ?? 0;
  }

  get size(): number {
    return this.total;
  }
}
