import type { HandlerCall } from '../../../src/broadcast/handler-calls.js';
import type { PlumtreeMessage } from '../../../src/broadcast/messages.js';
import type { PlumtreeOptions } from '../../../src/broadcast/options.js';
import { Plumtree, type PlumtreeAction } from '../../../src/broadcast/plumtree.js';
import { seededRandom } from '../../../src/util/random.js';

export type Action = PlumtreeAction<string, string>;
export type Msg = PlumtreeMessage<string, string>;

/** A state machine for node `self` with string ids and payloads. */
export function plumtree(self: string, members: string[], options: PlumtreeOptions = {}, isConnected?: (p: string) => boolean): Plumtree<string, string> {
  return new Plumtree<string, string>({ self, idKey: (id) => id, random: seededRandom(1), now: 0, members, options, ...(isConnected ? { isConnected } : {}) });
}

/** The messages among `actions`, as [to, message] pairs. */
export function sends(actions: Action[]): Array<[string, Msg]> {
  return actions.flatMap((a) => (a.type === 'send' ? [[a.to, a.msg] as [string, Msg]] : []));
}

export function sendsOf<T extends Msg['t']>(actions: Action[], t: T): Array<[string, Extract<Msg, { t: T }>]> {
  return sends(actions).filter((s): s is [string, Extract<Msg, { t: T }>] => s[1].t === t);
}

/** The single handler call of kind `type` among `actions`. */
export function callOf<T extends HandlerCall<string, string>['type']>(actions: Action[], type: T): Extract<HandlerCall<string, string>, { type: T }> {
  const calls = actions.filter((a): a is Extract<HandlerCall<string, string>, { type: T }> => a.type === type);
  if (calls.length !== 1) throw new Error(`expected one ${type} call, got ${calls.length}`);
  return calls[0]!;
}

export function payloadMsg(id: string, root: string, round = 0): Msg {
  return { t: 'broadcast', id, payload: `payload-${id}`, round, root };
}
