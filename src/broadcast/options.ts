import { InvalidOptionError } from '../util/errors.js';
import { enumOption, intOption, objectOption, rejectUnknownKeys } from '../util/options.js';

/** How the anti-entropy tick picks its peer (Partisan's `exchange_selection`). */
export type ExchangeSelection = 'optimized' | 'normal';

/** Options of one channel's Plumtree state machine. All times are milliseconds. */
export interface PlumtreeOptions {
  /** Period of the i_have flush (Partisan `lazy_tick_period`). Default 1000. */
  lazyTickPeriod?: number;
  /**
   * Wait after the first i_have for an unknown id before grafting its announcer (the paper's
   * first timer; Partisan grafts at once). i_haves already lag a lazy tick behind the eager
   * copy, so this only covers eager pushes still in flight. Default 200.
   */
  graftTimeout?: number;
  /** Wait after a graft before grafting the next announcer (the paper's shorter second timer). Default 100. */
  graftRetryTimeout?: number;
  /** Period of the anti-entropy tick (Partisan `exchange_tick_period`); 0 disables exchanges. Default 10000. */
  exchangeTickPeriod?: number;
  /** Exchanges this node runs at once (Partisan `broadcast_start_exchange_limit`: one per handler). Default 1. */
  exchangeLimit?: number;
  /** `optimized` prefers peers outside the chosen root's tree, `normal` any member. Default 'optimized'. */
  exchangeSelection?: ExchangeSelection;
  /** An exchange with no reply for this long is abandoned (Partisan has no bound). Default 60000. */
  exchangeTimeout?: number;
  /**
   * Eager peers a tree starts with: 'all' members (Partisan, and the paper over a partial
   * view), or at most this many, the others lazy — for large full-mesh clusters, where
   * all-eager floods every new root once. Default 'all'.
   */
  initialEagerPeers?: number | 'all';
  /** Unacknowledged i_have entries kept per peer; the oldest is dropped beyond. Default 10000. */
  maxOutstandingPerPeer?: number;
  /** Announced-but-missing ids waiting on a graft timer; further announcements are dropped. Default 10000. */
  maxMissing?: number;
  /** Entries per i_have message (bounds its size). Default 1024. */
  maxIHaveBatch?: number;
  /** Handler calls in flight; beyond it incoming work is dropped and recovered by lazy push. Default 10000. */
  maxPendingCalls?: number;
  /** A handler call without an outcome for this long is forgotten. Default 30000. */
  callTimeout?: number;
  /** Per-root trees kept; the least recently used falls back to the common sets. Default 4096. */
  maxTrees?: number;
}

export type ResolvedPlumtreeOptions = Required<PlumtreeOptions> & { initialEagerPeers: number };

const KNOWN = [
  'lazyTickPeriod',
  'graftTimeout',
  'graftRetryTimeout',
  'exchangeTickPeriod',
  'exchangeLimit',
  'exchangeSelection',
  'exchangeTimeout',
  'initialEagerPeers',
  'maxOutstandingPerPeer',
  'maxMissing',
  'maxIHaveBatch',
  'maxPendingCalls',
  'callTimeout',
  'maxTrees',
] as const;

const DAY = 86_400_000;

/** Fills defaults and validates; throws ERR_INVALID_OPTION naming the field. 'all' becomes Infinity. */
export function resolvePlumtreeOptions(options: PlumtreeOptions = {}): ResolvedPlumtreeOptions {
  const o = objectOption('plumtree', options);
  rejectUnknownKeys('plumtree', o, KNOWN);
  const eager = o.initialEagerPeers;
  if (eager !== undefined && eager !== 'all' && !(typeof eager === 'number' && Number.isInteger(eager) && eager >= 1)) {
    throw new InvalidOptionError('plumtree.initialEagerPeers', eager, "expected 'all' or an integer >= 1");
  }
  return {
    lazyTickPeriod: intOption('plumtree.lazyTickPeriod', o.lazyTickPeriod, 1000, 1, DAY),
    graftTimeout: intOption('plumtree.graftTimeout', o.graftTimeout, 200, 1, DAY),
    graftRetryTimeout: intOption('plumtree.graftRetryTimeout', o.graftRetryTimeout, 100, 1, DAY),
    exchangeTickPeriod: intOption('plumtree.exchangeTickPeriod', o.exchangeTickPeriod, 10_000, 0, DAY),
    exchangeLimit: intOption('plumtree.exchangeLimit', o.exchangeLimit, 1, 1, 1024),
    exchangeSelection: enumOption('plumtree.exchangeSelection', o.exchangeSelection, 'optimized', ['optimized', 'normal']),
    exchangeTimeout: intOption('plumtree.exchangeTimeout', o.exchangeTimeout, 60_000, 1, DAY),
    initialEagerPeers: eager === undefined || eager === 'all' ? Infinity : eager,
    maxOutstandingPerPeer: intOption('plumtree.maxOutstandingPerPeer', o.maxOutstandingPerPeer, 10_000, 1),
    maxMissing: intOption('plumtree.maxMissing', o.maxMissing, 10_000, 1),
    maxIHaveBatch: intOption('plumtree.maxIHaveBatch', o.maxIHaveBatch, 1024, 1),
    maxPendingCalls: intOption('plumtree.maxPendingCalls', o.maxPendingCalls, 10_000, 1),
    callTimeout: intOption('plumtree.callTimeout', o.callTimeout, 30_000, 1, DAY),
    maxTrees: intOption('plumtree.maxTrees', o.maxTrees, 4096, 1),
  };
}
