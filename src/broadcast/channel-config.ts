import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidOptionError } from '../util/errors.js';
import { intOption, objectOption, rejectUnknownKeys, stringOption } from '../util/options.js';
import { resolvePlumtreeOptions, type PlumtreeOptions } from './options.js';

/**
 * Per-channel settings of the broadcast layer (`startNode({ broadcast: { gps: {...} } })`),
 * validated here because the node passes them through untouched.
 */

/**
 * A user handler module. Its export is a factory
 * `(options, { node, channel }) => BroadcastHandler | Promise<BroadcastHandler>`, called once
 * per channel in the thread that runs the channel (a worker, or the main thread).
 */
export interface HandlerModuleSpec {
  /** A `file:`/`data:` URL or an absolute path (a worker has no meaningful relative base). */
  module: string;
  /** Name of the factory export. Default 'default'. */
  export?: string;
  /** Passed to the factory; must survive structured clone (it crosses into the worker). Default undefined. */
  options?: unknown;
}

export type BroadcastHandlerSpec = 'latestPosition' | HandlerModuleSpec;

export interface RestartBackoffOptions {
  /** First delay before restarting a dead worker, ms. Default 100. */
  initialMs?: number;
  /** Cap on the delay (it doubles per consecutive failure, with jitter), ms. Default 10000. */
  maxMs?: number;
}

export interface BroadcastChannelConfig {
  /** The broadcast handler. Default 'latestPosition'. */
  handler?: BroadcastHandlerSpec;
  /**
   * Worker group: channels with the same group share one worker thread; `false` runs the
   * channel on the main thread (no isolation: for small setups and the benchmark baseline).
   * Default: the channel's name (one worker per channel).
   */
  worker?: string | false;
  /** Options of the channel's Plumtree state machine (see PlumtreeOptions). Default {}. */
  plumtree?: PlumtreeOptions;
  /** Period of the main thread's ping to the worker, ms. Default 1000. */
  heartbeatInterval?: number;
  /** A worker that leaves a ping unanswered this long is terminated and restarted, ms. Default 5000. */
  heartbeatTimeout?: number;
  /** A worker must load its handlers and report ready within this, ms. Default 30000. */
  startTimeout?: number;
  /** Delay before restarting a dead worker. Default {initialMs: 100, maxMs: 10000}. */
  restartBackoff?: RestartBackoffOptions;
  /**
   * Anti-entropy exchanges run back to back after a restart (the handler's state starts
   * empty; exchanges refill it instead of waiting for the periodic tick). Default 2.
   */
  catchUpExchanges?: number;
  /** Updates buffered per subscriber (and per channel in the worker); the oldest are dropped beyond. Default 10000. */
  subscriberBuffer?: number;
  /** Local broadcasts held while the worker (re)starts; the oldest are dropped beyond. Default 10000. */
  maxPendingBroadcasts?: number;
}

/** A resolved channel config: plain data, so it crosses into a worker as is. */
export interface ResolvedBroadcastChannel {
  name: string;
  /** 'latestPosition' or a module given as a URL string. */
  handler: 'latestPosition' | { module: string; export: string; options: unknown };
  /** Worker group, or null for the main thread. */
  group: string | null;
  /** Raw PlumtreeOptions (already validated; the driver resolves them again in its thread). */
  plumtree: PlumtreeOptions;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  startTimeout: number;
  restartBackoff: { initialMs: number; maxMs: number };
  catchUpExchanges: number;
  subscriberBuffer: number;
  maxPendingBroadcasts: number;
}

const KNOWN = [
  'handler',
  'worker',
  'plumtree',
  'heartbeatInterval',
  'heartbeatTimeout',
  'startTimeout',
  'restartBackoff',
  'catchUpExchanges',
  'subscriberBuffer',
  'maxPendingBroadcasts',
] as const;

const HOUR = 3_600_000;
const GROUP_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Validates every channel's config; throws ERR_INVALID_OPTION naming `broadcast.<channel>.<field>`. */
export function resolveBroadcastConfig(config: Record<string, unknown>): ResolvedBroadcastChannel[] {
  const all = objectOption('broadcast', config);
  return Object.keys(all).map((name) => resolveChannel(name, all[name]));
}

function resolveChannel(name: string, value: unknown): ResolvedBroadcastChannel {
  const field = `broadcast.${name}`;
  const o = objectOption(field, value);
  rejectUnknownKeys(field, o, KNOWN);
  const plumtree = objectOption(`${field}.plumtree`, o.plumtree) as PlumtreeOptions;
  try {
    resolvePlumtreeOptions(plumtree);
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      throw new InvalidOptionError(`${field}.${String(err.details.field)}`, err.details.value, err.message.replace(/^invalid option [^:]*: /, ''));
    }
    throw err;
  }
  const backoff = objectOption(`${field}.restartBackoff`, o.restartBackoff);
  rejectUnknownKeys(`${field}.restartBackoff`, backoff, ['initialMs', 'maxMs']);
  const initialMs = intOption(`${field}.restartBackoff.initialMs`, backoff.initialMs, 100, 0, HOUR);
  const maxMs = intOption(`${field}.restartBackoff.maxMs`, backoff.maxMs, Math.max(10_000, initialMs), initialMs, HOUR);
  const heartbeatInterval = intOption(`${field}.heartbeatInterval`, o.heartbeatInterval, 1000, 10, HOUR);
  const heartbeatTimeout = intOption(`${field}.heartbeatTimeout`, o.heartbeatTimeout, Math.max(5000, heartbeatInterval), heartbeatInterval, HOUR);
  return {
    name,
    handler: resolveHandler(`${field}.handler`, o.handler),
    group: resolveGroup(`${field}.worker`, o.worker, name),
    plumtree,
    heartbeatInterval,
    heartbeatTimeout,
    startTimeout: intOption(`${field}.startTimeout`, o.startTimeout, 30_000, 100, HOUR),
    restartBackoff: { initialMs, maxMs },
    catchUpExchanges: intOption(`${field}.catchUpExchanges`, o.catchUpExchanges, 2, 0, 1000),
    subscriberBuffer: intOption(`${field}.subscriberBuffer`, o.subscriberBuffer, 10_000, 1),
    maxPendingBroadcasts: intOption(`${field}.maxPendingBroadcasts`, o.maxPendingBroadcasts, 10_000, 1),
  };
}

function resolveGroup(field: string, value: unknown, channel: string): string | null {
  if (value === false) return null;
  if (value === undefined) return channel;
  return stringOption(field, value, channel, GROUP_NAME);
}

function resolveHandler(field: string, value: unknown): ResolvedBroadcastChannel['handler'] {
  if (value === undefined || value === 'latestPosition') return 'latestPosition';
  if (typeof value === 'string') throw new InvalidOptionError(field, value, "expected 'latestPosition' or {module, export?, options?}");
  const o = objectOption(field, value);
  rejectUnknownKeys(field, o, ['module', 'export', 'options']);
  const module = stringOption(`${field}.module`, o.module, '');
  if (module === '') throw new InvalidOptionError(`${field}.module`, o.module, 'expected a file: URL or an absolute path');
  const exportName = stringOption(`${field}.export`, o.export, 'default');
  try {
    structuredClone(o.options);
  } catch {
    throw new InvalidOptionError(`${field}.options`, o.options, 'must be structured-cloneable (it is sent to the worker)');
  }
  return { module: moduleUrl(`${field}.module`, module), export: exportName, options: o.options };
}

function moduleUrl(field: string, module: string): string {
  if (isAbsolute(module)) return pathToFileURL(module).href;
  let url: URL;
  try {
    url = new URL(module);
  } catch {
    throw new InvalidOptionError(field, module, 'expected a file: URL or an absolute path');
  }
  if (url.protocol !== 'file:' && url.protocol !== 'data:') throw new InvalidOptionError(field, module, 'only file: and data: URLs can be loaded');
  return url.href;
}

/**
 * Settings of one worker group, from its channels: the strictest heartbeat and start limits
 * and the shortest backoff win, since one stuck channel stalls the whole group.
 */
export interface GroupSettings {
  heartbeatInterval: number;
  heartbeatTimeout: number;
  startTimeout: number;
  restartBackoff: { initialMs: number; maxMs: number };
}

export function groupSettings(channels: readonly ResolvedBroadcastChannel[]): GroupSettings {
  const min = (pick: (c: ResolvedBroadcastChannel) => number): number => Math.min(...channels.map(pick));
  return {
    heartbeatInterval: min((c) => c.heartbeatInterval),
    heartbeatTimeout: min((c) => c.heartbeatTimeout),
    startTimeout: min((c) => c.startTimeout),
    restartBackoff: { initialMs: min((c) => c.restartBackoff.initialMs), maxMs: min((c) => c.restartBackoff.maxMs) },
  };
}
