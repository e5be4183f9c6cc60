import type { BroadcastHandler, ExchangeRole, ExchangeStart, GraftResult, MaybePromise, NodeName, SyncBroadcastHandler } from './handler.js';

/**
 * The handler calls the Plumtree state machine emits, their outcomes, and the one function a
 * driver needs to run them: `sm.resolve(call.ref, await invokeHandler(handler, call), now)`.
 * A call is identified by `ref`; outcomes may come back in any order.
 */

/** A payload arrived: `merge(id, payload)`. `hops` is the delivery hop count (round + 1). */
export interface MergeCall<Id, P> {
  type: 'merge';
  ref: number;
  id: Id;
  payload: P;
  from: NodeName;
  hops: number;
}

/** An i_have batch arrived: `isStale(id)` for each id, answered as one array in order. */
export interface IsStaleCall<Id> {
  type: 'isStale';
  ref: number;
  ids: Id[];
}

/** A peer grafted `id`: `graft(id)`. */
export interface GraftCall<Id> {
  type: 'graft';
  ref: number;
  id: Id;
  from: NodeName;
}

/** Anti-entropy tick chose `peer`: `exchange(peer)`. */
export interface ExchangeCall {
  type: 'exchange';
  ref: number;
  xid: number;
  peer: NodeName;
}

/** Exchange bodies from `peer`: `exchangeMessage(peer, bodies, role)`. */
export interface ExchangeMessageCall {
  type: 'exchangeMessage';
  ref: number;
  xid: number;
  peer: NodeName;
  role: ExchangeRole;
  bodies: readonly unknown[];
}

export type HandlerCall<Id, P> = MergeCall<Id, P> | IsStaleCall<Id> | GraftCall<Id> | ExchangeCall | ExchangeMessageCall;

/** What a handler call produced; `failed` when the callback threw or its promise rejected. */
export type HandlerOutcome<P> =
  | { type: 'merge'; isNew: boolean }
  | { type: 'isStale'; stale: readonly boolean[] }
  | { type: 'graft'; result: GraftResult<P> }
  | { type: 'exchange'; start: ExchangeStart }
  | { type: 'exchangeMessage'; bodies: readonly unknown[] }
  | { type: 'failed'; error: unknown };

/**
 * Run one call against the handler. Synchronous handlers give a synchronous outcome (the
 * simulator relies on it); a throw or a rejection becomes `{type: 'failed'}`, so a faulty
 * handler never takes the state machine down (Partisan rc.14–16 crashed the server).
 */
export function invokeHandler<Id, P>(handler: BroadcastHandler<Id, P>, call: HandlerCall<Id, P>): MaybePromise<HandlerOutcome<P>> {
  try {
    switch (call.type) {
      case 'merge':
        return settle(handler.merge(call.id, call.payload), (isNew) => ({ type: 'merge', isNew }));
      case 'isStale': {
        const answers = call.ids.map((id) => handler.isStale(id));
        if (!answers.some(isPromise)) return { type: 'isStale', stale: answers as boolean[] };
        return settle(Promise.all(answers), (stale) => ({ type: 'isStale', stale }));
      }
      case 'graft':
        return settle(handler.graft(call.id), (result) => ({ type: 'graft', result }));
      case 'exchange':
        return settle(handler.exchange(call.peer), (start) => ({ type: 'exchange', start }));
      case 'exchangeMessage':
        return settle(handler.exchangeMessage(call.peer, call.bodies, call.role), (bodies) => ({ type: 'exchangeMessage', bodies }));
    }
  } catch (error) {
    return { type: 'failed', error };
  }
}

/** `invokeHandler` for a synchronous handler; the outcome is never a promise. */
export function invokeHandlerSync<Id, P>(handler: SyncBroadcastHandler<Id, P>, call: HandlerCall<Id, P>): HandlerOutcome<P> {
  const outcome = invokeHandler(handler, call);
  if (isPromise(outcome)) throw new TypeError(`handler returned a promise from ${call.type}; a synchronous handler is required here`);
  return outcome;
}

function settle<T, P>(value: MaybePromise<T>, wrap: (value: T) => HandlerOutcome<P>): MaybePromise<HandlerOutcome<P>> {
  if (!isPromise(value)) return wrap(value);
  return value.then(wrap, (error: unknown): HandlerOutcome<P> => ({ type: 'failed', error }));
}

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
