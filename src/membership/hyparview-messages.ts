/**
 * HyParView protocol messages and the actions the state machine asks its driver to perform.
 * Names follow Partisan's manager (reference §3.8) in camelCase. Messages are plain objects
 * (msgpack/JSON-able); `parseHyParViewMessage` validates one that came off the wire.
 */
import { isCounter } from './causal-context.js';
import { type NodeName, type NodeSpec, parseNodeSpec } from './types.js';
import { PartisanError } from '../util/errors.js';

/**
 * Every message carries its sender's spec, incarnation (`epoch`: restarts are told apart and
 * their predecessors' messages dropped) and Lamport clock. For `neighbor`, `neighborAccepted`
 * and `disconnect` the clock is also the stamp of the link change they announce, and
 * `toEpoch` the recipient's incarnation the change is meant for (when the sender knows it):
 * a restarted node must not take over a link its predecessor was offered.
 */
export interface MessageHeader {
  readonly from: NodeSpec;
  readonly epoch: number;
  readonly clock: number;
}

export type HyParViewMessage =
  /** Joiner → contact. */
  | (MessageHeader & { readonly type: 'join' })
  /** Random walk announcing `joiner` (paper: FORWARDJOIN). */
  | (MessageHeader & { readonly type: 'forwardJoin'; readonly joiner: NodeSpec; readonly joinerEpoch: number; readonly ttl: number })
  /** "You are in my active view" (link up). */
  | (MessageHeader & { readonly type: 'neighbor'; readonly toEpoch?: number })
  /**
   * Passive peer → asks to become active. `high` when the requester has no active peer.
   * Request and answers carry a sample of the sender's views (`exchange`), as in Partisan: a
   * refused requester learns new candidates, so a small island can find its way out.
   */
  | (MessageHeader & { readonly type: 'neighborRequest'; readonly priority: 'high' | 'low'; readonly exchange: readonly NodeSpec[] })
  /** Answer to a request: link up. */
  | (MessageHeader & { readonly type: 'neighborAccepted'; readonly exchange: readonly NodeSpec[]; readonly toEpoch?: number })
  /** Answer to a request: no room. */
  | (MessageHeader & { readonly type: 'neighborRejected'; readonly exchange: readonly NodeSpec[] })
  /** "You are no longer in my active view" (link down). */
  | (MessageHeader & { readonly type: 'disconnect'; readonly toEpoch?: number })
  /** Random walk carrying `origin`'s sample of its views. */
  | (MessageHeader & { readonly type: 'shuffle'; readonly origin: NodeSpec; readonly exchange: readonly NodeSpec[]; readonly ttl: number })
  /** Walk end → origin: a sample of the passive view, sent directly. */
  | (MessageHeader & { readonly type: 'shuffleReply'; readonly exchange: readonly NodeSpec[] });

export type HyParViewMessageType = HyParViewMessage['type'];

export type ActiveRemovedReason = 'disconnect' | 'dropped' | 'failed' | 'restarted';

export type HyParViewAction =
  /** Send `message` to `to`, dialing a short-lived connection if it is not an active peer. */
  | { readonly type: 'send'; readonly to: NodeSpec; readonly message: HyParViewMessage }
  /** Keep a connection to this active peer (a failure comes back as `connectionFailed`). */
  | { readonly type: 'connect'; readonly spec: NodeSpec }
  /** This peer left the active view: its connection may close once queued sends are flushed. */
  | { readonly type: 'disconnect'; readonly node: NodeName }
  /** View change for Plumtree: a new eager/lazy neighbour. */
  | { readonly type: 'activeAdded'; readonly spec: NodeSpec }
  /** View change for Plumtree: a neighbour is gone. */
  | { readonly type: 'activeRemoved'; readonly node: NodeName; readonly reason: ActiveRemovedReason };

const TYPES: ReadonlySet<string> = new Set<HyParViewMessageType>([
  'join',
  'forwardJoin',
  'neighbor',
  'neighborRequest',
  'neighborAccepted',
  'neighborRejected',
  'disconnect',
  'shuffle',
  'shuffleReply',
]);

/** Validates a message that came off the wire; throws ERR_WIRE_MALFORMED_FRAME. */
export function parseHyParViewMessage(value: unknown): HyParViewMessage {
  const bad = (why: string): never => {
    throw new PartisanError('ERR_WIRE_MALFORMED_FRAME', `malformed HyParView message: ${why}`, { details: { value } });
  };
  const toEpoch = (x: unknown): { toEpoch?: number } => (x === undefined ? {} : isCounter(x) ? { toEpoch: x } : bad('toEpoch'));
  if (value === null || typeof value !== 'object') return bad('not an object');
  const v = value as Record<string, unknown>;
  if (typeof v.type !== 'string' || !TYPES.has(v.type)) return bad('unknown type');
  if (!isCounter(v.epoch) || !isCounter(v.clock)) return bad('epoch or clock');
  const header = { from: parseNodeSpec(v.from), epoch: v.epoch, clock: v.clock };
  const type = v.type as HyParViewMessageType;
  const list = (x: unknown): NodeSpec[] => (Array.isArray(x) && x.length <= 1_000 ? x.map(parseNodeSpec) : bad('exchange list'));
  switch (type) {
    case 'forwardJoin':
      if (!isCounter(v.ttl) || !isCounter(v.joinerEpoch)) return bad('ttl or joinerEpoch');
      return { ...header, type, joiner: parseNodeSpec(v.joiner), joinerEpoch: v.joinerEpoch, ttl: v.ttl };
    case 'neighborRequest':
      if (v.priority !== 'high' && v.priority !== 'low') return bad('priority');
      return { ...header, type, priority: v.priority, exchange: list(v.exchange) };
    case 'neighborAccepted':
      return { ...header, type, exchange: list(v.exchange), ...toEpoch(v.toEpoch) };
    case 'neighborRejected':
      return { ...header, type, exchange: list(v.exchange) };
    case 'shuffle':
      if (!isCounter(v.ttl)) return bad('ttl');
      return { ...header, type, origin: parseNodeSpec(v.origin), exchange: list(v.exchange), ttl: v.ttl };
    case 'shuffleReply':
      return { ...header, type, exchange: list(v.exchange) };
    case 'neighbor':
    case 'disconnect':
      return { ...header, type, ...toEpoch(v.toEpoch) };
    default:
      return { ...header, type };
  }
}
