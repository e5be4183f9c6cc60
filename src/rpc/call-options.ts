import { DEFAULT_CHANNEL } from '../channels/channel-options.js';
import { InvalidOptionError } from '../util/errors.js';
import { objectOption, rejectUnknownKeys, stringOption } from '../util/options.js';

/** Options of one request/reply exchange: an RPC call or a gen behaviour call. */
export interface CallOptions {
  /** Milliseconds to wait for the reply; `Infinity` waits until the callee or its node goes down. Default 5000. */
  timeout?: number;
  /** Channel the request travels on. Default 'default'. */
  channel?: string;
}

export interface ResolvedCallOptions {
  readonly timeout: number;
  readonly channel: string;
}

export const DEFAULT_CALL_TIMEOUT_MS = 5_000;

/**
 * Fill `options` from `defaults`, then from the built-in defaults. Per-call options always win
 * (Partisan §7.7: a configured `forward_options` replaced the caller's).
 */
export function resolveCallOptions(options: CallOptions | undefined, defaults: ResolvedCallOptions | undefined = undefined, field = 'options'): ResolvedCallOptions {
  const raw = objectOption(field, options);
  rejectUnknownKeys(field, raw, ['timeout', 'channel']);
  const timeout = raw.timeout ?? defaults?.timeout ?? DEFAULT_CALL_TIMEOUT_MS;
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
    throw new InvalidOptionError(`${field}.timeout`, timeout, 'expected a number of ms >= 0, or Infinity');
  }
  const channel = stringOption(`${field}.channel`, raw.channel, defaults?.channel ?? DEFAULT_CHANNEL);
  return { timeout, channel };
}

/** Node's timers fire after 1 ms beyond this, so longer waits are capped here (~24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;
