/**
 * A state-based add-wins map, `key → MVRegister<V>`, with observed-remove semantics: removing
 * a key removes only the writes this replica has seen, so a concurrent `set` elsewhere wins.
 * One causal context is shared by all keys (the "ORMap of MVRegisters" causal CRDT); a removed
 * key leaves no tombstone besides the context entries every replica keeps anyway.
 *
 * Full-state merge, no deltas: the membership map is small (one entry per node) and gossiped
 * whole, as Partisan's `partisan_membership_set` is.
 */
import { type Actor, CausalContext, type Dot, type EncodedContextRow, malformed } from './causal-context.js';
import { digestString } from './digest.js';
import {
  actorIndex,
  canonicalContext,
  canonicalDots,
  decodeEntries,
  type DotValue,
  type EncodedEntry,
  encodeEntries,
  identityCodec,
  joinEntries,
  sameDots,
  sortEntries,
  type ValueCodec,
} from './mvregister.js';

/**
 * The map on the wire: context rows, then `[key, entries]` sorted by key, and the sender's
 * digest so that a receiver already in that state can skip decoding it (`digestOf`).
 */
export interface EncodedAWMap<E = unknown> {
  c: EncodedContextRow[];
  e: [key: string, entries: EncodedEntry<E>[]][];
  d?: string;
}

/** The digest an encoded state claims, without decoding it. */
export function digestOf(encoded: unknown): string | undefined {
  const d = (encoded as { d?: unknown } | null)?.d;
  return typeof d === 'string' ? d : undefined;
}

export class AWMap<V> {
  private readonly store = new Map<string, DotValue<V>[]>();
  private cachedDigest: string | undefined;
  private mutations = 0;

  constructor(private readonly context: CausalContext = new CausalContext()) {}

  /** Concurrent values of `key` in dot order; empty if absent. */
  get(key: string): V[] {
    return sortEntries(this.store.get(key) ?? []).map((x) => x.value);
  }

  /** Values of `key` with their dots, in dot order; empty if absent. */
  dotValues(key: string): readonly DotValue<V>[] {
    return sortEntries(this.store.get(key) ?? []);
  }

  has(key: string): boolean {
    return this.store.has(key);
  }

  /** Keys in sorted order. */
  keys(): string[] {
    return [...this.store.keys()].sort();
  }

  get size(): number {
    return this.store.size;
  }

  /** How many actors the context knows (a retraction knows only its sender). */
  get contextActors(): number {
    return this.context.size;
  }

  /** Grows on every change: lets owners cache what they derive from the state. */
  get version(): number {
    return this.mutations;
  }

  /** Whether this replica has seen `dot` (read-only view of the context). */
  hasSeen(dot: Dot): boolean {
    return this.context.covers(dot);
  }

  /** The newest (incarnation, counter) this replica has seen from `actor`. */
  seenFrom(actor: string): { incarnation: number; counter: number } | undefined {
    return this.context.get(actor);
  }

  /** Writes `value` under `key`, replacing every value of `key` this replica has seen. */
  set(actor: Actor, key: string, value: V): Dot {
    const dot = this.context.next(actor);
    this.store.set(key, [{ dot, value }]);
    this.touch();
    return dot;
  }

  /** Observed remove. Returns true if the key was present. */
  remove(key: string): boolean {
    const had = this.store.delete(key);
    if (had) this.touch();
    return had;
  }

  /** Joins `other` into this map. Returns true if this map changed. */
  merge(other: AWMap<V>): boolean {
    let changed = false;
    // Keys only the other side has: keep the writes this replica has not seen (nor removed).
    // Done first, and both steps read this.context before it is merged, as the join requires.
    const added: [string, DotValue<V>[]][] = [];
    for (const [key, theirs] of other.store) {
      if (this.store.has(key)) continue;
      const kept = theirs.filter((y) => !this.context.covers(y.dot));
      if (kept.length > 0) added.push([key, kept]);
    }
    for (const [key, mine] of this.store) {
      const merged = joinEntries(mine, this.context, other.store.get(key) ?? [], other.context);
      if (sameDots(merged, mine)) continue;
      changed = true;
      if (merged.length === 0) this.store.delete(key);
      else this.store.set(key, merged);
    }
    for (const [key, kept] of added) this.store.set(key, kept);
    if (added.length > 0) changed = true;
    if (this.context.merge(other.context)) changed = true;
    if (changed) this.touch();
    return changed;
  }

  private touch(): void {
    this.cachedDigest = undefined;
    this.mutations++;
  }

  equals(other: AWMap<V>): boolean {
    if (this === other) return true;
    if (this.cachedDigest !== undefined && other.cachedDigest !== undefined && this.cachedDigest !== other.cachedDigest) return false;
    if (this.store.size !== other.store.size || !this.context.equals(other.context)) return false;
    for (const [key, mine] of this.store) {
      const theirs = other.store.get(key);
      if (theirs === undefined || !sameDots(mine, theirs)) return false;
    }
    return true;
  }

  /** Fingerprint of the state (context + dots; values follow from dots). Cached until a change. */
  digest(): string {
    if (this.cachedDigest === undefined) {
      const parts = [canonicalContext(this.context)];
      for (const key of this.keys()) parts.push(`${key}\u0004${canonicalDots(this.store.get(key)!)}`);
      this.cachedDigest = digestString(parts.join('\u0003'));
    }
    return this.cachedDigest;
  }

  clone(): AWMap<V> {
    const m = new AWMap<V>(this.context.clone());
    for (const [key, entries] of this.store) m.store.set(key, entries.slice());
    m.cachedDigest = this.cachedDigest;
    return m;
  }

  /** Plain arrays only (msgpack/JSON-able when `codec` yields such values). */
  encode<E>(codec: ValueCodec<V, E> = identityCodec<V>() as unknown as ValueCodec<V, E>): EncodedAWMap<E> {
    const c = this.context.encode();
    const index = actorIndex(c);
    return { c, e: this.keys().map((key) => [key, encodeEntries(this.store.get(key)!, index, codec)]), d: this.digest() };
  }

  /** Decodes and validates a state that came off the wire; throws ERR_WIRE_MALFORMED_FRAME. */
  static decode<V>(encoded: unknown, codec: ValueCodec<V, unknown> = identityCodec<V>()): AWMap<V> {
    const obj = encoded as Partial<EncodedAWMap> | null;
    if (obj === null || typeof obj !== 'object') throw malformed('map is not an object');
    const context = CausalContext.decode(obj.c);
    const actors = (obj.c as EncodedContextRow[]).map((row) => row[0]);
    if (!Array.isArray(obj.e)) throw malformed('map entries is not an array');
    const m = new AWMap<V>(context);
    for (const item of obj.e as unknown[]) {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== 'string') throw malformed('map entry', { item });
      if (m.store.has(item[0])) throw malformed('duplicate key', { key: item[0] });
      m.store.set(item[0], decodeEntries(item[1], actors, context, codec));
    }
    return m;
  }
}
