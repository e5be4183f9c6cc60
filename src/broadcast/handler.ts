/**
 * The broadcast handler: the user module behind one broadcast channel, with Partisan's
 * `partisan_plumtree_broadcast_handler` callbacks in TypeScript.
 *
 * The Plumtree state machine never calls a handler itself. It emits *handler calls* as
 * actions; the driver (the channel worker, or the simulator) runs them — synchronously or
 * not — and feeds each outcome back with `Plumtree.resolve(ref, outcome, now)`. That keeps the
 * state machine pure and lets a slow `merge` (PlumDB's is a disk read-merge-write) overlap
 * with other events instead of stalling the whole server as in Partisan (§7 item 12).
 */

/** A node name (`name@host`). A plain string here; the api layer owns the branded form. */
export type NodeName = string;

/** A value or a promise of it: handlers may be synchronous or asynchronous. */
export type MaybePromise<T> = T | Promise<T>;

/** `broadcastData`'s answer: the message id and the payload that travels. */
export interface BroadcastData<Id, P> {
  id: Id;
  payload: P;
}

/** `graft`'s answer: the payload of exactly that id, `'stale'` (superseded), or an error. */
export type GraftResult<P> = { ok: P } | 'stale' | { error: unknown };

/** `exchange`'s answer: the opening request bodies, `'ignore'` (no anti-entropy), or an error. */
export type ExchangeStart = readonly unknown[] | 'ignore' | { error: unknown };

/** Which side of an anti-entropy exchange a body reached. */
export type ExchangeRole = 'initiator' | 'responder';

/**
 * One channel's broadcast handler. Ids and payloads must be msgpack-serialisable; two ids
 * are the same message exactly when their `idKey`s are equal (Partisan compares with =:=).
 */
export interface BroadcastHandler<Id, P, M = unknown> {
  /** Channel the broadcast traffic uses (Partisan's optional `broadcast_channel/0`). */
  readonly channel?: string;
  /** A string equal for equal ids and different otherwise; must be synchronous and cheap. */
  idKey(id: Id): string;
  /**
   * Called on the originating node before the broadcast: store the data so that `graft`
   * can serve it, and return its id and payload. `undefined` cancels the broadcast (nothing
   * new to send, e.g. an older GPS fix); Partisan cancels when the callback throws.
   */
  broadcastData(message: M): MaybePromise<BroadcastData<Id, P> | undefined>;
  /** A payload arrived: true = new to this node (deliver, keep pushing), false = stale (prune). */
  merge(id: Id, payload: P): MaybePromise<boolean>;
  /** Whether this node already has the message or something newer (answers an i_have). */
  isStale(id: Id): MaybePromise<boolean>;
  /** A peer grafted `id`: return its payload if still current. */
  graft(id: Id): MaybePromise<GraftResult<P>>;
  /**
   * Start anti-entropy with `peer`. Unlike Partisan (which spawns a process that talks on its
   * own), an exchange speaks only through the channel: each returned body is sent as one
   * request, and the peer's `exchangeMessage` answers each request with one reply.
   */
  exchange(peer: NodeName): MaybePromise<ExchangeStart>;
  /**
   * Exchange bodies from `peer`. As responder (bodies = one request) the result is the
   * reply, sent as one message however many bodies it has. As initiator (bodies = one reply)
   * each returned body becomes a further request. Keep every body bounded in size.
   */
  exchangeMessage(peer: NodeName, bodies: readonly unknown[], role: ExchangeRole): MaybePromise<readonly unknown[]>;
}

/** A handler whose callbacks all return plain values: what the simulator requires. */
export interface SyncBroadcastHandler<Id, P, M = unknown> extends BroadcastHandler<Id, P, M> {
  broadcastData(message: M): BroadcastData<Id, P> | undefined;
  merge(id: Id, payload: P): boolean;
  isStale(id: Id): boolean;
  graft(id: Id): GraftResult<P>;
  exchange(peer: NodeName): ExchangeStart;
  exchangeMessage(peer: NodeName, bodies: readonly unknown[], role: ExchangeRole): readonly unknown[];
}

/**
 * A stable key for any msgpack-able id (strings, numbers, booleans, null, arrays, plain
 * objects with keys in any order, byte arrays), for handlers that need no faster one.
 */
export function canonicalIdKey(id: unknown): string {
  if (typeof id === 'string') return `s${id}`;
  if (typeof id === 'number') return `n${id}`;
  return `j${JSON.stringify(id, canonicalReplacer)}`;
}

function canonicalReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes:${Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  if (typeof value === 'bigint') return `bigint:${value}`;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) sorted[k] = (value as Record<string, unknown>)[k];
    return sorted;
  }
  return value;
}
