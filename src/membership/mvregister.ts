/**
 * A state-based multi-value register: `set` replaces every value the writer has seen; writes
 * nobody has seen together survive side by side until one writer overwrites them all.
 * Built on dots and a causal context (causal-context.ts); the AWMap reuses `joinEntries` for
 * each of its keys, sharing one context across keys.
 */
import { type Actor, CausalContext, compareDots, type Dot, type EncodedContextRow, isCounter, malformed, sameDot } from './causal-context.js';
import { digestString } from './digest.js';

/** One value together with the write that produced it. */
export interface DotValue<V> {
  readonly dot: Dot;
  readonly value: V;
}

/** How values go to and from plain (JSON/msgpack-able) data. */
export interface ValueCodec<V, E = unknown> {
  encode(value: V): E;
  /** Must validate: the input came off the wire. */
  decode(encoded: unknown): V;
}

/** Values are already plain data (the default). */
export function identityCodec<V>(): ValueCodec<V, V> {
  return { encode: (v) => v, decode: (e) => e as V };
}

/** A register entry on the wire: [index into the context rows, incarnation, counter, value]. */
export type EncodedEntry<E = unknown> = [actorIndex: number, incarnation: number, counter: number, value: E];

/** A standalone register on the wire. */
export interface EncodedMVRegister<E = unknown> {
  c: EncodedContextRow[];
  e: EncodedEntry<E>[];
}

/**
 * The causal join of one register: keep a value if the other side still has it, or if the
 * other side has never seen its dot (so it cannot have overwritten or removed it).
 */
export function joinEntries<V>(
  a: readonly DotValue<V>[],
  ca: CausalContext,
  b: readonly DotValue<V>[],
  cb: CausalContext,
): DotValue<V>[] {
  const out: DotValue<V>[] = [];
  for (const x of a) {
    if (!cb.covers(x.dot) || b.some((y) => sameDot(x.dot, y.dot))) out.push(x);
  }
  for (const y of b) {
    if (!ca.covers(y.dot) && !a.some((x) => sameDot(x.dot, y.dot))) out.push(y);
  }
  return out;
}

/** Same set of dots (values are determined by their dots). */
export function sameDots<V>(a: readonly DotValue<V>[], b: readonly DotValue<V>[]): boolean {
  return a.length === b.length && a.every((x) => b.some((y) => sameDot(x.dot, y.dot)));
}

export function sortEntries<V>(entries: readonly DotValue<V>[]): DotValue<V>[] {
  return [...entries].sort((x, y) => compareDots(x.dot, y.dot));
}

/** Canonical text of a set of dots, for digests. */
export function canonicalDots<V>(entries: readonly DotValue<V>[]): string {
  return sortEntries(entries)
    .map((x) => `${x.dot.actor}\u0001${x.dot.incarnation}\u0001${x.dot.counter}`)
    .join('\u0002');
}

export function canonicalContext(ctx: CausalContext): string {
  return ctx
    .encode()
    .map((r) => r.join('\u0001'))
    .join('\u0002');
}

/** Index of each actor in the context's canonical rows (entries reference actors by index). */
export function actorIndex(rows: readonly EncodedContextRow[]): Map<string, number> {
  return new Map(rows.map((r, i) => [r[0], i]));
}

export function encodeEntries<V, E>(entries: readonly DotValue<V>[], index: Map<string, number>, codec: ValueCodec<V, E>): EncodedEntry<E>[] {
  return sortEntries(entries).map((x) => [index.get(x.dot.actor)!, x.dot.incarnation, x.dot.counter, codec.encode(x.value)]);
}

/** Decodes and checks entries: every dot must be covered by `ctx` (a state is valid only then). */
export function decodeEntries<V>(rows: unknown, actors: readonly string[], ctx: CausalContext, codec: ValueCodec<V, unknown>): DotValue<V>[] {
  if (!Array.isArray(rows) || rows.length === 0) throw malformed('register entries');
  const out: DotValue<V>[] = [];
  for (const row of rows) {
    if (!Array.isArray(row) || row.length !== 4 || !isCounter(row[0]) || row[0] >= actors.length || !isCounter(row[1]) || !isCounter(row[2])) {
      throw malformed('register entry', { row });
    }
    const dot: Dot = { actor: actors[row[0]]!, incarnation: row[1], counter: row[2] };
    if (!ctx.covers(dot)) throw malformed('entry dot not in context', { dot });
    if (out.some((x) => sameDot(x.dot, dot))) throw malformed('duplicate entry dot', { dot });
    out.push({ dot, value: codec.decode(row[3]) });
  }
  return out;
}

export class MVRegister<V> {
  private entries: DotValue<V>[] = [];

  constructor(private readonly context: CausalContext = new CausalContext()) {}

  /** Current values, one per concurrent write, in dot order. Empty when never set or cleared. */
  values(): V[] {
    return sortEntries(this.entries).map((x) => x.value);
  }

  /** Values with the writes that produced them, in dot order. */
  dotValues(): readonly DotValue<V>[] {
    return sortEntries(this.entries);
  }

  /** Replaces every value this replica has seen with `value`. */
  set(actor: Actor, value: V): Dot {
    const dot = this.context.next(actor);
    this.entries = [{ dot, value }];
    return dot;
  }

  /** Removes every value this replica has seen (concurrent unseen writes survive). */
  clear(): void {
    this.entries = [];
  }

  /** Joins `other` into this register. Returns true if this register changed. */
  merge(other: MVRegister<V>): boolean {
    const merged = joinEntries(this.entries, this.context, other.entries, other.context);
    const changed = !sameDots(merged, this.entries);
    this.entries = merged;
    return this.context.merge(other.context) || changed;
  }

  equals(other: MVRegister<V>): boolean {
    return sameDots(this.entries, other.entries) && this.context.equals(other.context);
  }

  digest(): string {
    return digestString(`${canonicalContext(this.context)}\u0003${canonicalDots(this.entries)}`);
  }

  clone(): MVRegister<V> {
    const r = new MVRegister<V>(this.context.clone());
    r.entries = this.entries.slice();
    return r;
  }

  encode<E>(codec: ValueCodec<V, E> = identityCodec<V>() as unknown as ValueCodec<V, E>): EncodedMVRegister<E> {
    const c = this.context.encode();
    return { c, e: this.entries.length === 0 ? [] : encodeEntries(this.entries, actorIndex(c), codec) };
  }

  static decode<V>(encoded: unknown, codec: ValueCodec<V, unknown> = identityCodec<V>()): MVRegister<V> {
    const obj = encoded as Partial<EncodedMVRegister> | null;
    if (obj === null || typeof obj !== 'object') throw malformed('register is not an object');
    const context = CausalContext.decode(obj.c);
    const r = new MVRegister<V>(context);
    if (Array.isArray(obj.e) && obj.e.length === 0) return r;
    r.entries = decodeEntries(obj.e, (obj.c as EncodedContextRow[]).map((row) => row[0]), context, codec);
    return r;
  }
}
