import { isDeepStrictEqual } from 'node:util';
import { DEFAULT_CHANNEL } from '../channels/channel-options.js';
import type { Node } from '../node/node.js';
import { describeReason, type ExitReason, type Process } from '../process/process.js';
import { isName, isPid, isRemoteRef, parseRef, registeredName, type Pid, type Ref, type RegisteredName } from '../process/ref.js';
import { MAX_TIMER_MS, resolveCallOptions, type CallOptions } from '../rpc/call-options.js';
import { isNoConnection, sendOrDrop } from '../rpc/no-connection.js';
import { PartisanError, isPartisanError } from '../util/errors.js';
import { isDownFor, isReplyTo, type From, type GenCallMessage, type GenCastMessage, type GenReplyMessage, type GenStopMessage, type GenSystemMessage } from './messages.js';

/**
 * The caller's side of gen behaviours (partisan_gen): call, cast, stop, reply. Works the same
 * for a server on this node or another one.
 *
 * A call runs in a one-call alias process: it monitors the server, sends
 * `{ $gen_call: { pid: alias, tag: monitorRef, channel? }, request }` and waits for
 * `{ $gen_reply: monitorRef, reply }` or the monitor's DOWN. The alias exits when the call
 * settles, so a reply arriving after a timeout is a dead letter, never a stray message in the
 * caller's mailbox (Erlang's aliases; Partisan §7.7 leaked them).
 */

/** A gen server: pid, registered-name URI, `{ name, node }`, or a plain name registered on the caller's node. */
export type ServerRef = Pid | RegisteredName | { name: string; node: string } | string;

export type GenCallOptions = CallOptions;

export interface GenStopOptions {
  /** Milliseconds to wait for the server to finish `terminate` and exit. Default Infinity (as gen_server:stop). */
  timeout?: number;
}

/** Where `server` lives, as something that can be both monitored and sent to. */
export function serverTarget(node: Node, server: ServerRef): Pid | RegisteredName {
  if (typeof server === 'object' && server !== null) return registeredName(server.node, server.name);
  if (isPid(server) || isName(server)) return server;
  if (isRemoteRef(server)) throw new PartisanError('ERR_INVALID_REF', `a gen server ref must be a pid or a name, not ${server}`);
  return registeredName(node.node(), server);
}

/** Run `body` in a fresh process whose pid can receive replies and DOWNs for one exchange. */
function inAlias<T>(node: Node, body: (alias: Process) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    node.spawn(async (alias) => {
      try {
        resolve(await body(alias));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** Send `request` to `server` and wait for its reply (gen_server:call). */
export function call<R = unknown>(node: Node, server: ServerRef, request: unknown, options?: GenCallOptions): Promise<R> {
  return exchange<R>(node, server, options, (from): GenCallMessage => ({ $gen_call: from, request }));
}

/**
 * The server's state without running a callback (sys:get_state): a GenServer's state, a
 * GenStatem's `{ state, data }`. A system message, not an event: it cancels no event timeout.
 */
export function getState<T = unknown>(node: Node, server: ServerRef, options?: GenCallOptions): Promise<T> {
  return exchange<T>(node, server, options, (from): GenSystemMessage => ({ $gen_system: from, request: 'getState' }));
}

/** One request/reply with a server: its reply, or the coded error for its DOWN. */
async function exchange<R>(node: Node, server: ServerRef, options: GenCallOptions | undefined, build: (from: From) => unknown): Promise<R> {
  const { timeout, channel } = resolveCallOptions(options);
  const target = serverTarget(node, server);
  const answer = await watched(node, target, channel, timeout, build, isReplyTo);
  if ('down' in answer) throw downError(target, answer.down);
  return (answer.message as GenReplyMessage).reply as R;
}

/**
 * In a one-call alias: monitor `target`, send `build(from)` on `channel`, and wait for the
 * message `accept` takes, or the monitor's DOWN (its reason). The monitor is gone on every
 * way out, so nothing is left in the monitor tables.
 */
function watched(
  node: Node,
  target: Pid | RegisteredName,
  channel: string,
  timeout: number,
  build: (from: From) => unknown,
  accept: (m: unknown, monitorRef: Ref) => boolean,
): Promise<{ message: unknown } | { down: ExitReason }> {
  return inAlias(node, async (alias) => {
    const monitorRef = node.monitor(target);
    const from: From = channel === DEFAULT_CHANNEL ? { pid: alias.pid, tag: monitorRef } : { pid: alias.pid, tag: monitorRef, channel };
    try {
      await node.forwardMessage(target, build(from), { channel });
    } catch (err) {
      node.demonitor(monitorRef, { flush: true });
      if (isNoConnection(err)) throw noConnection(target, err);
      throw err;
    }
    let answer: unknown;
    try {
      answer = await alias.receive({
        match: (m) => accept(m, monitorRef) || isDownFor(m, monitorRef),
        ...(timeout === Infinity ? {} : { timeoutMs: Math.min(timeout, MAX_TIMER_MS) }),
      });
    } catch (err) {
      throw waitError(node, err, target, timeout);
    } finally {
      node.demonitor(monitorRef, { flush: true });
    }
    return isDownFor(answer, monitorRef) ? { down: answer.reason } : { message: answer };
  });
}

/** Send `message` to `server` without waiting (gen_server:cast); an unreachable node drops it. */
export function cast(node: Node, server: ServerRef, message: unknown, options: Pick<GenCallOptions, 'channel'> = {}): void | Promise<void> {
  const { channel } = resolveCallOptions(options);
  const target = serverTarget(node, server);
  const body: GenCastMessage = { $gen_cast: message };
  return sendOrDrop(() => node.forwardMessage(target, body, { channel }));
}

/** Answer a call later, from anywhere on the server's node (gen_server:reply). Never fails. */
export function reply(node: Node, from: From, value: unknown): void {
  const message: GenReplyMessage = { $gen_reply: from.tag, reply: value };
  try {
    void sendOrDrop(() => node.forwardMessage(from.pid, message, { channel: from.channel ?? DEFAULT_CHANNEL }));
  } catch (err) {
    // The caller times out; say why here, since nobody else can.
    node.logger.warn({ err, to: from.pid }, 'gen reply could not be sent');
  }
}

/**
 * Ask `server` to run `terminate(reason)` and exit, and wait until it has (gen_server:stop).
 * Rejects ERR_NOPROC (no such server), ERR_NOT_CONNECTED, ERR_RPC_TIMEOUT, or
 * ERR_PROCESS_EXITED when it exited with another reason (terminate threw).
 */
export async function stop(node: Node, server: ServerRef, reason: ExitReason = 'normal', options: GenStopOptions = {}): Promise<void> {
  const { timeout } = resolveCallOptions({ timeout: options.timeout ?? Infinity }, undefined, 'stop');
  const target = serverTarget(node, server);
  const message: GenStopMessage = { $gen_stop: reason };
  const answer = await watched(node, target, DEFAULT_CHANNEL, timeout, () => message, () => false);
  // `accept` takes nothing, so the only answer is the DOWN.
  const exit = (answer as { down: ExitReason }).down;
  if (isDeepStrictEqual(exit, reason)) return;
  if (exit === 'noproc' || exit === 'noconnection') throw downError(target, exit);
  throw new PartisanError('ERR_PROCESS_EXITED', `${target} exited with ${describeReason(exit)} while stopping with ${describeReason(reason)}`, {
    details: { target, reason: exit },
  });
}

/** The server (or its node) went down before answering. */
export function downError(target: Pid | RegisteredName, reason: ExitReason): PartisanError {
  const node = parseRef(target).node;
  if (reason === 'noconnection') {
    return new PartisanError('ERR_NOT_CONNECTED', `lost the connection to ${node} while calling ${target} (noconnection)`, { details: { target, node, reason } });
  }
  const what = reason === 'noproc' ? `no process ${target}` : `${target} exited: ${describeReason(reason)}`;
  return new PartisanError('ERR_NOPROC', what, { details: { target, node, reason } });
}

function noConnection(target: Pid | RegisteredName, cause: unknown): PartisanError {
  const node = parseRef(target).node;
  return new PartisanError('ERR_NOT_CONNECTED', `no connection to ${node} (noconnection)`, { cause, details: { target, node, reason: 'noconnection' } });
}

function waitError(node: Node, err: unknown, target: Pid | RegisteredName, timeout: number): unknown {
  if (isPartisanError(err, 'ERR_RECEIVE_TIMEOUT')) {
    return new PartisanError('ERR_RPC_TIMEOUT', `${target} did not answer within ${timeout} ms`, { details: { target, timeout } });
  }
  if (node.isStopped) return new PartisanError('ERR_NODE_STOPPED', `node ${node.node()} stopped during a call to ${target}`, { cause: err });
  return err;
}

/** The caller-side functions both behaviours share (partisan_gen). */
export const genClient = { call, cast, getState, stop, reply } as const;
