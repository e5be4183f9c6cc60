/**
 * The `latestPosition` anti-entropy protocol. Every message is bounded whatever the number of
 * keys (300,000 vehicles included): the initiator A and the responder B narrow down from
 * bucket digests to key ranges to records.
 *
 *   A → B  hashes  {start, n, h}       ≤ hashesPerMessage buckets' digests
 *   B → A  diff    {b}                 the buckets among them that differ
 *   A → B  digest  {b, from, to, e}    A's (key, ts) in bucket b, key range [from, to), ≤ entriesPerMessage
 *   B → A  records {r}                 B's newer records in that range, ≤ recordsPerMessage
 *          want    {keys}              keys where A is newer (⊆ the digest, so bounded)
 *          more    {b, from, to}       B had more newer records: A digests [from, to) again
 *   A → B  records {r}                 what B wanted, ≤ recordsPerMessage each
 *
 * One exchange repairs both sides (push-pull). Key ranges use JavaScript string order, the
 * same on every node. `null` bounds are open (−∞ / +∞).
 */

/** A stored version: key and timestamp. */
export type Version = readonly [key: string, ts: number];

/** What the protocol needs from the store. */
export interface ExchangeStore<R> {
  readonly buckets: number;
  /** Lanes (2 per bucket) of buckets [start, end). */
  bucketHashes(start: number, end: number): number[];
  bucketEquals(b: number, lane0: number, lane1: number): boolean;
  /** Versions of bucket b within [from, to), sorted by key. */
  versions(b: number, from: string | null, to: string | null): Version[];
  record(key: string): R | undefined;
  /** A record repaired by anti-entropy; stored if newer. */
  repair(record: unknown): void;
}

export interface ExchangeLimits {
  hashesPerMessage: number;
  entriesPerMessage: number;
  recordsPerMessage: number;
}

export type PositionExchangeBody =
  | { k: 'hashes'; n: number; start: number; h: number[] }
  | { k: 'diff'; b: number[] }
  | { k: 'digest'; b: number; from: string | null; to: string | null; e: Version[] }
  | { k: 'records'; r: unknown[] }
  | { k: 'want'; keys: string[] }
  | { k: 'more'; b: number; from: string; to: string | null };

/** The opening requests: every bucket digest, a page at a time. */
export function openExchange<R>(store: ExchangeStore<R>, limits: ExchangeLimits): PositionExchangeBody[] {
  const bodies: PositionExchangeBody[] = [];
  for (let start = 0; start < store.buckets; start += limits.hashesPerMessage) {
    const end = Math.min(store.buckets, start + limits.hashesPerMessage);
    bodies.push({ k: 'hashes', n: store.buckets, start, h: store.bucketHashes(start, end) });
  }
  return bodies;
}

/**
 * Answers bodies from the peer. Body kinds say which side is speaking, so the role is not
 * needed: as responder the result is one reply, as initiator each body a further request.
 * Malformed bodies are ignored (they come off the network).
 */
export function answerExchange<R>(store: ExchangeStore<R>, limits: ExchangeLimits, bodies: readonly unknown[]): PositionExchangeBody[] {
  const out: PositionExchangeBody[] = [];
  for (const body of bodies) {
    if (!isBody(body)) continue;
    switch (body.k) {
      case 'hashes':
        out.push(...diffBuckets(store, body));
        break;
      case 'diff':
        for (const b of body.b) if (b >= 0 && b < store.buckets) out.push(...digestPages(store, limits, b, null, null));
        break;
      case 'digest':
        out.push(...compareDigest(store, limits, body));
        break;
      case 'records':
        for (const r of body.r) store.repair(r);
        break;
      case 'want':
        out.push(...recordPages(store, limits, body.keys));
        break;
      case 'more':
        out.push(...digestPages(store, limits, body.b, body.from, body.to));
        break;
    }
  }
  return out;
}

function diffBuckets<R>(store: ExchangeStore<R>, body: PositionExchangeBody & { k: 'hashes' }): PositionExchangeBody[] {
  // Bucket counts must match cluster-wide; a mismatched peer gets no answer, not a wrong one.
  if (body.n !== store.buckets) return [];
  const differing: number[] = [];
  const count = Math.min(body.h.length / 2, store.buckets - body.start);
  for (let i = 0; i < count; i++) {
    if (!store.bucketEquals(body.start + i, body.h[2 * i]!, body.h[2 * i + 1]!)) differing.push(body.start + i);
  }
  return differing.length > 0 ? [{ k: 'diff', b: differing }] : [];
}

/** This side's versions of bucket b in [from, to), cut into pages that tile the range. */
function digestPages<R>(store: ExchangeStore<R>, limits: ExchangeLimits, b: number, from: string | null, to: string | null): PositionExchangeBody[] {
  const versions = store.versions(b, from, to);
  const pages: PositionExchangeBody[] = [];
  for (let i = 0; i === 0 || i < versions.length; i += limits.entriesPerMessage) {
    const e = versions.slice(i, i + limits.entriesPerMessage);
    const pageFrom = i === 0 ? from : e[0]![0];
    const next = versions[i + limits.entriesPerMessage];
    pages.push({ k: 'digest', b, from: pageFrom, to: next ? next[0] : to, e });
  }
  return pages;
}

function compareDigest<R>(store: ExchangeStore<R>, limits: ExchangeLimits, body: PositionExchangeBody & { k: 'digest' }): PositionExchangeBody[] {
  if (body.b < 0 || body.b >= store.buckets) return [];
  const theirs = new Map(body.e);
  const mine = store.versions(body.b, body.from, body.to);
  const newer = mine.filter(([key, ts]) => !((theirs.get(key) ?? -Infinity) >= ts));
  let cut: string | null = null;
  const reply: PositionExchangeBody[] = [];
  if (newer.length > limits.recordsPerMessage) {
    // Too many to send at once: send the first page and let the peer digest the rest again.
    cut = newer[limits.recordsPerMessage]![0];
    reply.push({ k: 'more', b: body.b, from: cut, to: body.to });
  }
  const records = newer.slice(0, limits.recordsPerMessage).map(([key]) => store.record(key)!);
  if (records.length > 0) reply.unshift({ k: 'records', r: records });
  const myTs = new Map(mine);
  const want = body.e
    .filter(([key, ts]) => (cut === null || key < cut) && (myTs.get(key) ?? -Infinity) < ts)
    .map(([key]) => key);
  if (want.length > 0) reply.push({ k: 'want', keys: want });
  return reply;
}

function recordPages<R>(store: ExchangeStore<R>, limits: ExchangeLimits, keys: readonly string[]): PositionExchangeBody[] {
  const records = keys.map((key) => store.record(key)).filter((r): r is R => r !== undefined);
  const pages: PositionExchangeBody[] = [];
  for (let i = 0; i < records.length; i += limits.recordsPerMessage) {
    pages.push({ k: 'records', r: records.slice(i, i + limits.recordsPerMessage) });
  }
  return pages;
}

function isBody(value: unknown): value is PositionExchangeBody {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  const bound = (x: unknown): boolean => x === null || typeof x === 'string';
  switch (v.k) {
    case 'hashes':
      return Number.isInteger(v.n) && Number.isInteger(v.start) && (v.start as number) >= 0 && isNumbers(v.h);
    case 'diff':
      return isNumbers(v.b);
    case 'digest':
      return Number.isInteger(v.b) && bound(v.from) && bound(v.to) && Array.isArray(v.e) && v.e.every(isVersion);
    case 'records':
      return Array.isArray(v.r);
    case 'want':
      return Array.isArray(v.keys) && v.keys.every((k) => typeof k === 'string');
    case 'more':
      return Number.isInteger(v.b) && typeof v.from === 'string' && bound(v.to);
    default:
      return false;
  }
}

function isNumbers(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((x) => Number.isInteger(x));
}

function isVersion(value: unknown): value is Version {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'number';
}
