import { PartisanError } from '../util/errors.js';
import { intOption, objectOption, rejectUnknownKeys } from '../util/options.js';
import type { BroadcastData, ExchangeStart, GraftResult, SyncBroadcastHandler } from './handler.js';
import { BucketDigest, keyHash } from './position-digest.js';
import { answerExchange, openExchange, type ExchangeLimits, type ExchangeStore, type Version } from './position-exchange.js';

/**
 * The built-in handler for GPS-style telemetry: one record per vehicle, newest timestamp wins
 * (the `monotonic` idea of DESIGN.md applied to broadcast). The id of a broadcast is the
 * version `{key: vehicleId, ts}`, so a superseded position is stale everywhere at once and a
 * lagging node never grafts an old fix (PlumDB does the same with version-vector contexts).
 */

/** A position report. Fields beyond these travel unchanged. */
export interface PositionRecord {
  readonly vehicleId: string;
  /** Version: a number that grows per vehicle (e.g. device ms since epoch). Equal ts = same version. */
  readonly ts: number;
  readonly lat: number;
  readonly lon: number;
  readonly [field: string]: unknown;
}

/** The broadcast id of a record: which vehicle, which version. */
export type PositionId = { key: string; ts: number };

/** How an accepted update reached this node. */
export type UpdateSource = 'local' | 'broadcast' | 'exchange';

export interface LatestPositionOptions {
  /** Digest buckets; must be equal on every node. Default 1024 (~300 vehicles each at 300,000). */
  buckets?: number;
  /** Bucket digests per exchange request (8 bytes each). Default 256. */
  hashesPerMessage?: number;
  /** (vehicle, ts) pairs per digest request. Default 512. */
  entriesPerMessage?: number;
  /** Records per exchange message. Default 256. */
  recordsPerMessage?: number;
  /** Accepted updates held for `drainUpdates`, one per vehicle; the oldest go beyond. Default 10000. */
  updateBufferSize?: number;
}

export interface LatestPositionStats {
  /** Updates stored (local, broadcast or exchange). */
  accepted: number;
  /** Of those, stored through anti-entropy. */
  repaired: number;
  /** Records refused as not newer than the stored one. */
  stale: number;
  /** Records refused as malformed. */
  invalid: number;
  /** Buffered updates dropped by the buffer bound before a drain. */
  updatesDropped: number;
  /** Exceptions thrown by `onUpdate` listeners (isolated: the update still counts). */
  listenerErrors: number;
}

export type UpdateListener = (record: PositionRecord, source: UpdateSource) => void;

const KNOWN = ['buckets', 'hashesPerMessage', 'entriesPerMessage', 'recordsPerMessage', 'updateBufferSize'] as const;

export function resolveLatestPositionOptions(options: LatestPositionOptions = {}): Required<LatestPositionOptions> {
  const o = objectOption('latestPosition', options);
  rejectUnknownKeys('latestPosition', o, KNOWN);
  return {
    buckets: intOption('latestPosition.buckets', o.buckets, 1024, 1, 1 << 20),
    hashesPerMessage: intOption('latestPosition.hashesPerMessage', o.hashesPerMessage, 256, 1, 65_536),
    entriesPerMessage: intOption('latestPosition.entriesPerMessage', o.entriesPerMessage, 512, 1, 65_536),
    recordsPerMessage: intOption('latestPosition.recordsPerMessage', o.recordsPerMessage, 256, 1, 65_536),
    updateBufferSize: intOption('latestPosition.updateBufferSize', o.updateBufferSize, 10_000, 1),
  };
}

export function isPositionRecord(value: unknown): value is PositionRecord {
  if (value === null || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  return typeof r.vehicleId === 'string' && Number.isFinite(r.ts) && Number.isFinite(r.lat) && Number.isFinite(r.lon);
}

function isPositionId(value: unknown): value is PositionId {
  return value !== null && typeof value === 'object' && typeof (value as PositionId).key === 'string' && Number.isFinite((value as PositionId).ts);
}

export class LatestPositionHandler implements SyncBroadcastHandler<PositionId, PositionRecord, PositionRecord> {
  readonly options: Required<LatestPositionOptions>;
  private readonly records = new Map<string, PositionRecord>();
  private readonly digest: BucketDigest;
  private readonly bucketKeys: Set<string>[];
  private readonly limits: ExchangeLimits;
  private readonly listeners = new Set<UpdateListener>();
  /** vehicleId → newest undrained update; Map order is arrival of the vehicle's first one. */
  private readonly buffer = new Map<string, PositionRecord>();
  private readonly s: LatestPositionStats = { accepted: 0, repaired: 0, stale: 0, invalid: 0, updatesDropped: 0, listenerErrors: 0 };
  private readonly store: ExchangeStore<PositionRecord>;

  constructor(options: LatestPositionOptions = {}) {
    this.options = resolveLatestPositionOptions(options);
    this.digest = new BucketDigest(this.options.buckets);
    this.bucketKeys = Array.from({ length: this.options.buckets }, () => new Set<string>());
    this.limits = this.options;
    this.store = {
      buckets: this.options.buckets,
      bucketHashes: (start, end) => this.digest.slice(start, end),
      bucketEquals: (b, lane0, lane1) => this.digest.equals(b, lane0, lane1),
      versions: (b, from, to) => this.versions(b, from, to),
      record: (key) => this.records.get(key),
      repair: (record) => {
        if (isPositionRecord(record)) this.accept(record, 'exchange');
        else this.s.invalid++;
      },
    };
  }

  // ---------------------------------------------------------------- handler callbacks

  idKey(id: PositionId): string {
    // A number never contains '|', so the first one separates ts from the key.
    return `${id.ts}|${id.key}`;
  }

  /** Stores a locally produced record and broadcasts it; undefined if not newer than the stored one. */
  broadcastData(record: PositionRecord): BroadcastData<PositionId, PositionRecord> | undefined {
    if (!isPositionRecord(record)) {
      throw new PartisanError('ERR_BROADCAST_INVALID_MESSAGE', 'a position needs a string vehicleId and finite ts, lat and lon', {
        details: { record },
      });
    }
    const copy = { ...record };
    if (!this.accept(copy, 'local')) return undefined;
    return { id: { key: copy.vehicleId, ts: copy.ts }, payload: copy };
  }

  merge(id: PositionId, payload: PositionRecord): boolean {
    if (!isPositionId(id) || !isPositionRecord(payload) || payload.vehicleId !== id.key || payload.ts !== id.ts) {
      this.s.invalid++;
      return false;
    }
    return this.accept(payload, 'broadcast');
  }

  isStale(id: PositionId): boolean {
    // A malformed id is "stale": acknowledged, never grafted.
    return !isPositionId(id) || (this.records.get(id.key)?.ts ?? -Infinity) >= id.ts;
  }

  graft(id: PositionId): GraftResult<PositionRecord> {
    const stored = isPositionId(id) ? this.records.get(id.key) : undefined;
    return stored !== undefined && stored.ts === id.ts ? { ok: stored } : 'stale';
  }

  exchange(): ExchangeStart {
    return openExchange(this.store, this.limits);
  }

  exchangeMessage(_peer: string, bodies: readonly unknown[]): readonly unknown[] {
    return answerExchange(this.store, this.limits, bodies);
  }

  // ---------------------------------------------------------------- local readers

  get(vehicleId: string): PositionRecord | undefined {
    return this.records.get(vehicleId);
  }

  get size(): number {
    return this.records.size;
  }

  /** Every stored record (one per vehicle). */
  values(): IterableIterator<PositionRecord> {
    return this.records.values();
  }

  get stats(): Readonly<LatestPositionStats> {
    return this.s;
  }

  /** Calls `listener` synchronously for every accepted update; returns the unsubscribe function. */
  onUpdate(listener: UpdateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes up to `max` buffered updates (newest per vehicle), oldest vehicle first. */
  drainUpdates(max = Infinity): PositionRecord[] {
    const out: PositionRecord[] = [];
    for (const [key, record] of this.buffer) {
      if (out.length >= max) break;
      out.push(record);
      this.buffer.delete(key);
    }
    return out;
  }

  get bufferedUpdates(): number {
    return this.buffer.size;
  }

  // ---------------------------------------------------------------- store

  private accept(record: PositionRecord, source: UpdateSource): boolean {
    const key = record.vehicleId;
    const previous = this.records.get(key);
    if (previous !== undefined && previous.ts >= record.ts) {
      this.s.stale++;
      return false;
    }
    const hash = keyHash(key);
    if (previous !== undefined) this.digest.toggle(hash, previous.ts);
    else this.bucketKeys[this.digest.bucketOf(hash)]!.add(key);
    this.digest.toggle(hash, record.ts);
    this.records.set(key, record);
    this.s.accepted++;
    if (source === 'exchange') this.s.repaired++;
    this.buffered(record);
    for (const listener of this.listeners) {
      try {
        listener(record, source);
      } catch {
        this.s.listenerErrors++;
      }
    }
    return true;
  }

  /** Latest wins in the buffer too: a vehicle holds one slot whatever its update rate. */
  private buffered(record: PositionRecord): void {
    if (!this.buffer.has(record.vehicleId) && this.buffer.size >= this.options.updateBufferSize) {
      this.buffer.delete(this.buffer.keys().next().value!);
      this.s.updatesDropped++;
    }
    this.buffer.set(record.vehicleId, record);
  }

  private versions(b: number, from: string | null, to: string | null): Version[] {
    const out: Version[] = [];
    for (const key of this.bucketKeys[b] ?? []) {
      if ((from === null || key >= from) && (to === null || key < to)) out.push([key, this.records.get(key)!.ts]);
    }
    return out.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  }
}

/** The built-in `latestPosition` handler (one per channel and node). */
export function latestPosition(options?: LatestPositionOptions): LatestPositionHandler {
  return new LatestPositionHandler(options);
}
