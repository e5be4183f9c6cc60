/**
 * Dots and the causal context (a version vector) behind the state-based MVRegister and AWMap:
 * the "causal CRDT" construction of Almeida, Shoker & Baquero, "Delta State Replicated Data
 * Types" (2018), §5–6, with one change for restarts, explained below.
 *
 * Actors are node names. A process restarting under the same name has forgotten its counter,
 * so a dot is (name, incarnation, counter): the incarnation is chosen per process start and
 * must grow across restarts (the node's start time; see docs/membership.md), so a restarted
 * node never re-issues a dot it issued before. Per name, dots are ordered by (incarnation,
 * counter), and the context keeps the greatest pair per name. A context therefore also covers
 * every dot of *older* incarnations of that name: a restarted actor counts as having seen, and
 * dropped, whatever its predecessor wrote and it has not written again. In the membership map
 * each node only writes its own key, so this is exactly "the restarted node's spec replaces
 * the old one" — and stale gossip carrying the old spec can never bring it back (Partisan #191).
 */
import { PartisanError } from '../util/errors.js';

/** Who writes: a node name plus the incarnation of the process currently using that name. */
export interface Actor {
  readonly name: string;
  readonly incarnation: number;
}

/** One write event, unique cluster-wide. */
export interface Dot {
  readonly actor: string;
  readonly incarnation: number;
  readonly counter: number;
}

/** The newest (incarnation, counter) seen for one actor name. */
export interface ContextEntry {
  readonly incarnation: number;
  readonly counter: number;
}

/** A context row on the wire: [actor, incarnation, counter]. */
export type EncodedContextRow = [actor: string, incarnation: number, counter: number];

export function sameDot(a: Dot, b: Dot): boolean {
  return a.counter === b.counter && a.incarnation === b.incarnation && a.actor === b.actor;
}

/** Total order used for deterministic output: actor, then incarnation, then counter. */
export function compareDots(a: Dot, b: Dot): number {
  if (a.actor !== b.actor) return a.actor < b.actor ? -1 : 1;
  if (a.incarnation !== b.incarnation) return a.incarnation - b.incarnation;
  return a.counter - b.counter;
}

/** A non-negative safe integer: what incarnations and counters are. */
export function isCounter(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

export function malformed(what: string, details: Record<string, unknown> = {}): PartisanError {
  return new PartisanError('ERR_WIRE_MALFORMED_FRAME', `malformed CRDT state: ${what}`, { details });
}

export class CausalContext {
  private readonly entries = new Map<string, ContextEntry>();

  /** Whether `dot` has been seen (or superseded by a newer incarnation of its actor). */
  covers(dot: Dot): boolean {
    const e = this.entries.get(dot.actor);
    if (e === undefined) return false;
    return dot.incarnation < e.incarnation || (dot.incarnation === e.incarnation && dot.counter <= e.counter);
  }

  get(actor: string): ContextEntry | undefined {
    return this.entries.get(actor);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Issues the next dot for `actor` and records it. Throws if a newer incarnation of the same
   * name is already known: that dot would be covered, i.e. the write silently lost.
   */
  next(actor: Actor): Dot {
    if (!isCounter(actor.incarnation)) throw new RangeError(`actor incarnation must be a non-negative safe integer, got ${actor.incarnation}`);
    const e = this.entries.get(actor.name);
    if (e !== undefined && e.incarnation > actor.incarnation) {
      throw new RangeError(`actor ${actor.name} incarnation ${actor.incarnation} is older than the known incarnation ${e.incarnation}`);
    }
    const counter = e !== undefined && e.incarnation === actor.incarnation ? e.counter + 1 : 1;
    const dot = { actor: actor.name, incarnation: actor.incarnation, counter };
    this.entries.set(actor.name, { incarnation: dot.incarnation, counter });
    return dot;
  }

  /** Records `dot` (keeps the greater pair). Returns true if the context grew. */
  add(dot: Dot): boolean {
    if (this.covers(dot)) return false;
    this.entries.set(dot.actor, { incarnation: dot.incarnation, counter: dot.counter });
    return true;
  }

  /** Pointwise maximum. Returns true if this context grew. */
  merge(other: CausalContext): boolean {
    let grew = false;
    for (const [actor, e] of other.entries) {
      if (this.add({ actor, incarnation: e.incarnation, counter: e.counter })) grew = true;
    }
    return grew;
  }

  equals(other: CausalContext): boolean {
    if (this.entries.size !== other.entries.size) return false;
    for (const [actor, e] of this.entries) {
      const o = other.entries.get(actor);
      if (o === undefined || o.incarnation !== e.incarnation || o.counter !== e.counter) return false;
    }
    return true;
  }

  clone(): CausalContext {
    const c = new CausalContext();
    for (const [actor, e] of this.entries) c.entries.set(actor, e);
    return c;
  }

  /** Rows sorted by actor: the canonical form used for encoding and digests. */
  encode(): EncodedContextRow[] {
    return [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([actor, e]) => [actor, e.incarnation, e.counter]);
  }

  static decode(rows: unknown): CausalContext {
    if (!Array.isArray(rows)) throw malformed('context is not an array');
    const c = new CausalContext();
    for (const row of rows) {
      if (!Array.isArray(row) || row.length !== 3 || typeof row[0] !== 'string' || !isCounter(row[1]) || !isCounter(row[2])) {
        throw malformed('context row', { row });
      }
      if (c.entries.has(row[0])) throw malformed('duplicate context actor', { actor: row[0] });
      c.entries.set(row[0], { incarnation: row[1], counter: row[2] });
    }
    return c;
  }
}
