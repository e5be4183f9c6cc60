/**
 * What one HyParView node remembers about its links, so both ends of a link agree on whether
 * it exists even when messages cross or arrive out of order.
 *
 * Every link change (up or down) a node *decides* gets a stamp (Lamport clock, deciding node)
 * and is sent to the peer; the receiver applies it only if it is newer than the last change it
 * knows for that pair, and both ends order stamps the same way. So when changes cross — A
 * drops B while B sends "neighbor" to A — the newest change wins on both sides and the views
 * stay symmetric. This generalises Partisan's per-peer `{Epoch, Counter}` disconnect ids,
 * which only guard against stale disconnects, to stale neighbor messages too.
 *
 * The table is bounded: records of peers that are not linked are evicted oldest first, and
 * the greatest evicted stamp becomes a floor below which an unknown peer's link-up is treated
 * as stale (the receiver refuses it with a fresh disconnect, which keeps both sides agreed).
 */

export interface LinkRecord {
  /** Stamp of the last link change known for this peer: clock, then deciding node. */
  readonly clock: number;
  readonly by: string;
  readonly linked: boolean;
  /** The peer's incarnation as last seen; undefined until it is. */
  readonly epoch: number | undefined;
}

/** (clock, by) ordering shared by both ends of a link. */
export function newerStamp(clock: number, by: string, than: { clock: number; by: string }): boolean {
  return clock > than.clock || (clock === than.clock && by > than.by);
}

export class LinkTable {
  private readonly records = new Map<string, LinkRecord>();
  private floorClock = 0;

  constructor(private readonly limit: number) {}

  get(peer: string): LinkRecord | undefined {
    return this.records.get(peer);
  }

  /** The record of `peer`, or what an unknown peer is presumed to be: unlinked at the floor. */
  getOrFloor(peer: string): LinkRecord {
    // `by` sorts after every name: a stamp equal to the floor is not newer than it.
    return this.records.get(peer) ?? { clock: this.floorClock, by: '\uffff', linked: false, epoch: undefined };
  }

  /** Stores (and refreshes the age of) a record; may evict the oldest unlinked record. */
  set(peer: string, record: LinkRecord): void {
    this.records.delete(peer);
    this.records.set(peer, record);
    if (this.records.size <= this.limit) return;
    for (const [name, r] of this.records) {
      if (r.linked) continue;
      this.records.delete(name);
      if (r.clock > this.floorClock) this.floorClock = r.clock;
      return;
    }
  }

  get size(): number {
    return this.records.size;
  }
}
