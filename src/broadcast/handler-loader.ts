import { InvalidOptionError } from '../util/errors.js';
import type { ResolvedBroadcastChannel } from './channel-config.js';
import type { BroadcastHandler, MaybePromise } from './handler.js';
import { latestPosition } from './latest-position.js';

/** What a handler module's factory receives besides its options. */
export interface HandlerContext {
  node: string;
  channel: string;
}

/** The export a handler module provides. */
export type HandlerFactory = (options: unknown, context: HandlerContext) => MaybePromise<BroadcastHandler<unknown, unknown>>;

const CALLBACKS = ['idKey', 'broadcastData', 'merge', 'isStale', 'graft', 'exchange', 'exchangeMessage'] as const;

/**
 * Builds a channel's handler in the calling thread (the worker imports the module itself: a
 * handler object never crosses threads). Failures are ERR_INVALID_OPTION naming the field.
 */
export async function loadHandler(channel: ResolvedBroadcastChannel, context: HandlerContext): Promise<BroadcastHandler<unknown, unknown>> {
  const field = `broadcast.${channel.name}.handler`;
  const spec = channel.handler;
  if (spec === 'latestPosition') return latestPosition() as unknown as BroadcastHandler<unknown, unknown>;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec.module)) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidOptionError(`${field}.module`, spec.module, `cannot be imported: ${(err as Error).message}`);
  }
  const factory = mod[spec.export];
  if (typeof factory !== 'function') throw new InvalidOptionError(`${field}.export`, spec.export, `${spec.module} has no such function export`);
  const handler = (await (factory as HandlerFactory)(spec.options, context)) as unknown;
  for (const name of CALLBACKS) {
    if (typeof (handler as Record<string, unknown> | null)?.[name] !== 'function') {
      throw new InvalidOptionError(field, spec.module, `the factory's result lacks the ${name}() callback of a BroadcastHandler`);
    }
  }
  return handler as BroadcastHandler<unknown, unknown>;
}
