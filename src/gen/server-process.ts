import { DEFAULT_CHANNEL } from '../channels/channel-options.js';
import type { Node } from '../node/node.js';
import { errorReason, type ExitReason, type Process } from '../process/process.js';
import type { Pid } from '../process/ref.js';
import { stringOption, intOption, objectOption, rejectUnknownKeys } from '../util/options.js';
import { PartisanError, describe } from '../util/errors.js';
import { call, cast, reply, type GenCallOptions, type ServerRef } from './client.js';
import type { From } from './messages.js';

/** The process lifecycle GenServer and GenStatem share (partisan_gen / proc_lib). */

export interface GenStartOptions {
  /** Register the server under this name on its node. Default: not registered. */
  name?: string;
  /** Channel for the server's own calls and casts made through its context. Default 'default'. */
  channel?: string;
  /** Bound of the server's mailbox. Default: the node's `mailboxCapacity`. */
  mailboxCapacity?: number;
}

/** What every callback gets: the server's node and pid, and calls bound to them. */
export interface GenContext {
  readonly node: Node;
  readonly self: Pid;
  /** The `channel` start option. */
  readonly channel: string;
  /** Answer a call now or later (deferred reply). */
  reply(from: From, value: unknown): void;
  /** Call another server; the channel defaults to this server's. */
  call<R = unknown>(server: ServerRef, request: unknown, options?: GenCallOptions): Promise<R>;
  cast(server: ServerRef, message: unknown, options?: Pick<GenCallOptions, 'channel'>): void | Promise<void>;
}

function makeContext(node: Node, self: Process, channel: string): GenContext {
  return {
    node,
    self: self.pid,
    channel,
    reply: (from, value) => reply(node, from, value),
    call: (server, request, options = {}) => call(node, server, request, { channel, ...options }),
    cast: (server, message, options = {}) => cast(node, server, message, { channel, ...options }),
  };
}

/**
 * Spawn a server process. `run` initialises, calls `started()` once init succeeded (resolving
 * the returned pid, as gen_server:start returns after init) and then serves until it exits.
 * A throw before `started()` rejects the start with that error.
 */
export function startServer(
  node: Node,
  options: GenStartOptions | undefined,
  run: (self: Process, ctx: GenContext, started: () => void) => Promise<void>,
): Promise<Pid> {
  const raw = objectOption('options', options);
  rejectUnknownKeys('options', raw, ['name', 'channel', 'mailboxCapacity']);
  const channel = stringOption('options.channel', raw.channel, DEFAULT_CHANNEL);
  if (!node.channels().some((c) => c.name === channel)) {
    throw new PartisanError('ERR_UNKNOWN_CHANNEL', `unknown channel ${JSON.stringify(channel)}`, { details: { channel } });
  }
  const spawnOptions = {
    ...(raw.name !== undefined ? { name: stringOption('options.name', raw.name, '') } : {}),
    ...(raw.mailboxCapacity !== undefined ? { mailboxCapacity: intOption('options.mailboxCapacity', raw.mailboxCapacity, 0, 1) } : {}),
  };
  return new Promise<Pid>((resolve, reject) => {
    let started = false;
    node.spawn(async (self) => {
      const ctx = makeContext(node, self, channel);
      try {
        await run(self, ctx, () => {
          started = true;
          if (self.isAlive) resolve(self.pid);
          else reject(new PartisanError('ERR_NOPROC', `${self.pid} exited during init`, { details: { reason: self.exitReason } }));
        });
      } catch (err) {
        if (!started) reject(err);
        throw err;
      }
    }, spawnOptions);
  });
}

/**
 * Serve until `body` returns a stop reason or throws, then run `terminate` and exit with the
 * reason (a throw anywhere becomes the error reason, which callers see in ERR_NOPROC). A
 * process killed from outside skips terminate, as an Erlang process not trapping exits.
 */
export async function serve(
  node: Node,
  self: Process,
  body: () => Promise<ExitReason>,
  terminate: (reason: ExitReason) => void | Promise<void>,
): Promise<void> {
  let reason: ExitReason;
  try {
    reason = await body();
  } catch (err) {
    if (!self.isAlive) return;
    reason = errorReason(err);
  }
  try {
    await terminate(reason);
  } catch (err) {
    reason = errorReason(err);
  }
  if (reason !== 'normal' && reason !== 'shutdown') node.logger.warn({ server: self.pid, reason }, 'gen server terminated');
  self.exit(reason);
}

/** A callback returned something that is not one of its documented results (OTP's bad_return_value). */
export function badReturn(callback: string, value: unknown): Error {
  return new TypeError(`${callback} returned ${describe(value)}, not a result object`);
}
