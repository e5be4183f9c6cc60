import type { MonitorMessage } from '../monitor/monitor-service.js';
import type { ExitReason } from '../process/process.js';
import { isPid, isReference, type Pid, type Ref } from '../process/ref.js';

/**
 * What gen behaviours put on the wire, after partisan_gen (§1.8):
 *
 *     call   { $gen_call: From, request }     Partisan: {'$gen_call', {From, [alias|MRef]}, Req}
 *     reply  { $gen_reply: tag, reply }       Partisan: {Tag, Reply}
 *     cast   { $gen_cast: message }           Partisan: {'$gen_cast', Msg} (node.castMessage)
 *     stop   { $gen_stop: reason }            proc_lib:stop's system terminate message
 *     system { $gen_system: From, request }   sys:get_state; not an event (cancels no event timeout)
 *
 * `From.pid` is a one-call alias process, `From.tag` the caller's monitor ref on the server.
 */

/** Who to answer: the caller's alias pid, the tag (its monitor ref), and the channel the call came on. */
export interface From {
  readonly pid: Pid;
  readonly tag: Ref;
  /** Channel the reply goes back on; absent means 'default'. */
  readonly channel?: string;
}

export interface GenCallMessage {
  $gen_call: From;
  request: unknown;
}

export interface GenReplyMessage {
  $gen_reply: Ref;
  reply: unknown;
}

export interface GenCastMessage {
  $gen_cast: unknown;
}

/** System requests a server answers itself, without calling the behaviour (partisan_sys). */
export type SystemRequest = 'getState';

export interface GenSystemMessage {
  $gen_system: From;
  request: SystemRequest;
}

export interface GenStopMessage {
  $gen_stop: ExitReason;
}

function isRecord(m: unknown): m is Record<string, unknown> {
  return typeof m === 'object' && m !== null;
}

export function isFrom(x: unknown): x is From {
  return isRecord(x) && isPid(x.pid) && isReference(x.tag) && (x.channel === undefined || typeof x.channel === 'string');
}

export function isGenCall(m: unknown): m is GenCallMessage {
  return isRecord(m) && '$gen_call' in m && isFrom(m.$gen_call);
}

export function isGenSystem(m: unknown): m is GenSystemMessage {
  return isRecord(m) && '$gen_system' in m && isFrom(m.$gen_system) && m.request === 'getState';
}

export function isGenCast(m: unknown): m is GenCastMessage {
  return isRecord(m) && '$gen_cast' in m;
}

export function isGenStop(m: unknown): m is GenStopMessage {
  if (!isRecord(m) || !('$gen_stop' in m)) return false;
  const r = m.$gen_stop;
  return typeof r === 'string' || (isRecord(r) && typeof r.error === 'string');
}

export function isReplyTo(m: unknown, tag: Ref): m is GenReplyMessage {
  return isRecord(m) && m.$gen_reply === tag;
}

export function isDownFor(m: unknown, monitorRef: Ref): m is MonitorMessage & { type: 'DOWN' } {
  return isRecord(m) && m.type === 'DOWN' && m.ref === monitorRef;
}
