import type { Random } from '../util/random.js';
import type { NodeName } from './handler.js';
import type { ExchangeSelection } from './options.js';
import type { TreePeers } from './peer-sets.js';

/**
 * Book-keeping of the anti-entropy exchanges this node starts (Partisan's `exchanges` list),
 * and the choice of their peer. An exchange is done when every request it sent has its reply
 * and no handler call for it is in progress; a silent peer ends it by `exchangeTimeout`.
 */

export type ExchangeEndReason = 'done' | 'ignored' | 'failed' | 'timeout' | 'cancelled' | 'peer_removed';

/** An exchange this node started is over; the driver may abort any work it still runs for it. */
export interface ExchangeEndAction {
  type: 'exchangeEnd';
  xid: number;
  peer: NodeName;
  reason: ExchangeEndReason;
}

/** A running exchange started by this node (Partisan `exchanges/0`). */
export interface ExchangeInfo {
  xid: number;
  peer: NodeName;
  startedAt: number;
  /** Requests sent and not yet answered. */
  outstanding: number;
}

/** Which exchanges `cancelExchanges` ends (Partisan `cancel_exchanges/1`). */
export type ExchangeSelector = 'all' | { peer: NodeName } | { xid: number };

export interface RunningExchange extends ExchangeInfo {
  lastActivity: number;
  /** Handler calls in progress for this exchange. */
  busy: number;
}

export class ExchangeTracker {
  private readonly running = new Map<number, RunningExchange>();
  private nextXid = 1;

  constructor(
    private readonly limit: number,
    private readonly timeout: number,
  ) {}

  get full(): boolean {
    return this.running.size >= this.limit;
  }

  /** Registers a new exchange with `peer`, busy with its `exchange` handler call. */
  begin(peer: NodeName, now: number): RunningExchange {
    const ex = { xid: this.nextXid++, peer, startedAt: now, lastActivity: now, outstanding: 0, busy: 1 };
    this.running.set(ex.xid, ex);
    return ex;
  }

  /** The running exchange `xid`, if any (and only if it runs with `peer`, when given). */
  get(xid: number, peer?: NodeName): RunningExchange | undefined {
    const ex = this.running.get(xid);
    return ex && (peer === undefined || ex.peer === peer) ? ex : undefined;
  }

  list(): ExchangeInfo[] {
    return [...this.running.values()].map(({ xid, peer, startedAt, outstanding }) => ({ xid, peer, startedAt, outstanding }));
  }

  matching(which: ExchangeSelector): RunningExchange[] {
    return [...this.running.values()].filter(
      (ex) => which === 'all' || ('peer' in which && which.peer === ex.peer) || ('xid' in which && which.xid === ex.xid),
    );
  }

  withPeer(peer: NodeName): RunningExchange[] {
    return this.matching({ peer });
  }

  expired(now: number): RunningExchange[] {
    return [...this.running.values()].filter((ex) => now - ex.lastActivity >= this.timeout);
  }

  /** Earliest timeout among running exchanges. */
  nextTimeout(): number | undefined {
    let next: number | undefined;
    for (const ex of this.running.values()) next = Math.min(next ?? Infinity, ex.lastActivity + this.timeout);
    return next;
  }

  isFinished(ex: RunningExchange): boolean {
    return ex.outstanding <= 0 && ex.busy <= 0;
  }

  /** Removes `ex`; the notice to emit, or undefined if it had already ended. */
  end(ex: RunningExchange, reason: ExchangeEndReason): ExchangeEndAction | undefined {
    if (!this.running.delete(ex.xid)) return undefined;
    return { type: 'exchangeEnd', xid: ex.xid, peer: ex.peer, reason };
  }
}

/**
 * Partisan picks a random root, then (optimized) a peer outside that root's eager ∪ lazy
 * sets. Those sets hold every member in a full mesh, so we fall back to a peer outside the
 * root's eager set — still off the tree, where a lagging node is likelier — then to any.
 */
export function pickExchangePeer(
  self: NodeName,
  candidates: readonly NodeName[],
  treeOf: (root: NodeName) => TreePeers,
  selection: ExchangeSelection,
  random: Random,
): NodeName | undefined {
  if (candidates.length === 0) return undefined;
  if (selection === 'normal') return random.pick(candidates);
  const tree = treeOf(random.pick([self, ...candidates]));
  const outside = candidates.filter((p) => !tree.eager.has(p) && !tree.lazy.has(p));
  if (outside.length > 0) return random.pick(outside);
  const offTree = candidates.filter((p) => !tree.eager.has(p));
  return random.pick(offTree.length > 0 ? offTree : candidates);
}
