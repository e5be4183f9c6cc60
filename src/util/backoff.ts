import type { Random } from './random.js';

export interface BackoffOptions {
  /** First delay, ms. */
  initialMs: number;
  /** Cap on any delay, ms. */
  maxMs: number;
  /** Growth per attempt. Default 2. */
  multiplier?: number;
  /** Fraction of each delay drawn at random ("full jitter" when 1). Default 0.5. */
  jitter?: number;
}

/**
 * Exponential backoff with jitter: attempt n waits about initial·multiplier^n, capped, with a
 * random part so that many nodes retrying after the same event do not retry in lockstep.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: Random): number {
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 0.5;
  const base = Math.min(options.maxMs, options.initialMs * multiplier ** Math.max(0, attempt));
  return Math.round(base * (1 - jitter) + base * jitter * random.next());
}
