/**
 * Per-channel Plumtree counters, kept in the state machine as plain numbers so a worker can
 * copy them into prom-client (or a SharedArrayBuffer) without a round trip.
 */
export interface PlumtreeMetrics {
  /** Broadcasts originated here. */
  broadcasts: number;
  /** Payload (`broadcast`) messages received, duplicates included: the RMR numerator. */
  received: number;
  /** Payloads the handler merged as new. */
  delivered: number;
  /** Payloads that were stale or already being merged (each answered with a prune). */
  duplicates: number;
  /** Payload messages sent (eager pushes and graft answers). */
  payloadsSent: number;
  /** i_have entries sent / received (not messages: entries are batched). */
  iHavesSent: number;
  iHavesReceived: number;
  /** ignored_i_have entries sent (acks of announcements this node did not need). */
  ignoredIHavesSent: number;
  graftsSent: number;
  graftsReceived: number;
  /** Grafts answered with nothing (`stale` or `{error}`). */
  graftsUnserved: number;
  prunesSent: number;
  prunesReceived: number;
  /** Hop count of the latest delivery (its round + 1) and the largest seen. */
  lastDeliveryHops: number;
  maxDeliveryHops: number;
  /** Outstanding i_have entries dropped by the per-peer bound (e.g. a dead, unremoved peer). */
  outstandingDropped: number;
  /** Announcements dropped because `maxMissing` ids were already waiting. */
  missingDropped: number;
  /** Incoming work dropped because `maxPendingCalls` handler calls were in flight. */
  overloadDropped: number;
  /** Handler calls that failed or timed out. */
  handlerFailures: number;
  exchangesStarted: number;
  exchangesCompleted: number;
  /** Exchanges that ended by timeout, error, cancellation or the peer leaving. */
  exchangesAborted: number;
  /** Messages with an unknown `t` or from an exchange this node does not run. */
  ignoredMessages: number;
}

export function emptyPlumtreeMetrics(): PlumtreeMetrics {
  return {
    broadcasts: 0,
    received: 0,
    delivered: 0,
    duplicates: 0,
    payloadsSent: 0,
    iHavesSent: 0,
    iHavesReceived: 0,
    ignoredIHavesSent: 0,
    graftsSent: 0,
    graftsReceived: 0,
    graftsUnserved: 0,
    prunesSent: 0,
    prunesReceived: 0,
    lastDeliveryHops: 0,
    maxDeliveryHops: 0,
    outstandingDropped: 0,
    missingDropped: 0,
    overloadDropped: 0,
    handlerFailures: 0,
    exchangesStarted: 0,
    exchangesCompleted: 0,
    exchangesAborted: 0,
    ignoredMessages: 0,
  };
}

/**
 * Relative Message Redundancy of one broadcast, the paper's metric: `m / (n − 1) − 1`, where
 * `m` is the number of payload messages received by all nodes and `n` the number of nodes.
 * 0 is a perfect tree; flooding a full mesh gives n − 2. NaN when fewer than 2 nodes.
 */
export function relativeMessageRedundancy(payloadMessages: number, nodes: number): number {
  if (nodes < 2) return Number.NaN;
  return payloadMessages / (nodes - 1) - 1;
}
