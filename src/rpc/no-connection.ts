import { isPartisanError } from '../util/errors.js';

/**
 * Erlang's `noconnection`: the peer cannot be reached now. An injected partition counts too,
 * because to the caller it is indistinguishable from a dead link.
 */
export function isNoConnection(err: unknown): boolean {
  return isPartisanError(err, 'ERR_NOT_CONNECTED') || isPartisanError(err, 'ERR_PARTITIONED');
}

/**
 * Fire-and-forget send (casts, replies): an unreachable peer drops the message silently, as
 * Erlang's casts and replies never fail; misuse (bad ref, unknown channel, frame too large)
 * still throws. A backpressure Promise is returned so callers may await it; it never rejects.
 */
export function sendOrDrop(send: () => void | Promise<void>): void | Promise<void> {
  let pending: void | Promise<void>;
  try {
    pending = send();
  } catch (err) {
    if (isNoConnection(err)) return;
    throw err;
  }
  return pending ? pending.catch(() => {}) : undefined;
}
