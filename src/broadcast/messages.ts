import type { NodeName } from './handler.js';

/**
 * Plumtree's messages on the wire: plain msgpack-able objects told apart by `t`. They follow
 * Partisan's tuples (§3.7) minus `From` and `Mod`: the sender is the authenticated peer of the
 * stream, and a state machine serves exactly one handler (one channel).
 */

/** Eager push (paper: GOSSIP). `round` is 0 when sent by the root; receivers forward round + 1. */
export interface BroadcastMessage<Id, P> {
  t: 'broadcast';
  id: Id;
  payload: P;
  round: number;
  root: NodeName;
}

/** One lazy announcement: the id, the round it would have been forwarded with, its root. */
export type IHaveItem<Id> = readonly [id: Id, round: number, root: NodeName];

/** Lazy push, batched per peer on the lazy tick (Partisan sends one message per id). */
export interface IHaveMessage<Id> {
  t: 'i_have';
  items: IHaveItem<Id>[];
}

/** Ask the announcer for the payload of `id` and join its eager set for `root`. */
export interface GraftMessage<Id> {
  t: 'graft';
  id: Id;
  round: number;
  root: NodeName;
}

/** "I had that already": move me to your lazy set for `root`. */
export interface PruneMessage {
  t: 'prune';
  root: NodeName;
}

/** "I already have these": acknowledges outstanding i_have entries (batched). */
export interface IgnoredIHaveMessage<Id> {
  t: 'ignored_i_have';
  ids: Id[];
}

/** One anti-entropy request of exchange `xid` (numbered by the initiator). */
export interface ExchangeRequestMessage {
  t: 'x_req';
  xid: number;
  body: unknown;
}

/** The single reply to one request of exchange `xid` (possibly no bodies). */
export interface ExchangeReplyMessage {
  t: 'x_rep';
  xid: number;
  bodies: unknown[];
}

export type PlumtreeMessage<Id, P> =
  | BroadcastMessage<Id, P>
  | IHaveMessage<Id>
  | GraftMessage<Id>
  | PruneMessage
  | IgnoredIHaveMessage<Id>
  | ExchangeRequestMessage
  | ExchangeReplyMessage;

/**
 * Shape check for a decoded message (ids and payloads are the handler's to validate).
 * The driver drops what fails it and counts a malformed message.
 */
export function isPlumtreeMessage(value: unknown): value is PlumtreeMessage<unknown, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const m = value as Record<string, unknown>;
  switch (m.t) {
    case 'broadcast':
      return 'id' in m && 'payload' in m && isRound(m.round) && typeof m.root === 'string';
    case 'i_have':
      return Array.isArray(m.items) && m.items.every((i) => Array.isArray(i) && i.length === 3 && isRound(i[1]) && typeof i[2] === 'string');
    case 'graft':
      return 'id' in m && isRound(m.round) && typeof m.root === 'string';
    case 'prune':
      return typeof m.root === 'string';
    case 'ignored_i_have':
      return Array.isArray(m.ids);
    case 'x_req':
      return Number.isInteger(m.xid) && 'body' in m;
    case 'x_rep':
      return Number.isInteger(m.xid) && Array.isArray(m.bodies);
    default:
      return false;
  }
}

function isRound(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
