import type { Node } from '../node/node.js';
import type { ExitReason } from '../process/process.js';
import type { Pid } from '../process/ref.js';
import { genClient } from './client.js';
import { isGenCall, isGenCast, isGenStop, isGenSystem, type From } from './messages.js';
import { badReturn, serve, startServer, type GenContext, type GenStartOptions } from './server-process.js';

/**
 * gen_server over partisan-ts: one process, one message at a time, state threaded through
 * callbacks that may be async. Callbacks return result objects instead of Erlang tuples:
 *
 *     { reply: R, state }              {reply, R, S}
 *     { noreply: true, state }         {noreply, S}   — answer later with ctx.reply(from, R)
 *     { state, stop: reason }          {stop, Reason, S}  (with `reply` too: {stop, Reason, R, S})
 */

export type CallResult<S, R> = { reply: R; state: S; stop?: ExitReason } | { noreply: true; state: S; stop?: ExitReason };
export type NoReplyResult<S> = { state: S; stop?: ExitReason };
type MaybePromise<T> = T | Promise<T>;

export interface GenServerBehaviour<S, A = unknown, Req = unknown, Rep = unknown, Msg = unknown> {
  /** The initial state; a throw fails `start` with that error. */
  init(args: A, ctx: GenContext): MaybePromise<S>;
  /** A call; required if anyone calls the server (a call without it crashes it, as OTP's undef). */
  handleCall?(request: Req, from: From, state: S, ctx: GenContext): MaybePromise<CallResult<S, Rep>>;
  /** A cast; required if anyone casts to the server. */
  handleCast?(message: Msg, state: S, ctx: GenContext): MaybePromise<NoReplyResult<S>>;
  /** Any other message (DOWN, nodeup, plain sends). Default: ignored. */
  handleInfo?(message: unknown, state: S, ctx: GenContext): MaybePromise<NoReplyResult<S>>;
  /** Last words, on stop and on a callback's throw (not when killed from outside). */
  terminate?(reason: ExitReason, state: S, ctx: GenContext): MaybePromise<void>;
}

/** Start a server on `node`; resolves with its pid once `init` has returned (gen_server:start). */
export async function startGenServer<S, A>(node: Node, behaviour: GenServerBehaviour<S, A>, args: A, options?: GenStartOptions): Promise<Pid> {
  return startServer(node, options, async (self, ctx, started) => {
    let state: S = await behaviour.init(args, ctx);
    started();
    const handle = async (message: unknown): Promise<ExitReason | undefined> => {
      if (isGenCall(message)) {
        if (!behaviour.handleCall) throw new TypeError('GenServer behaviour has no handleCall');
        const from = message.$gen_call;
        const r = await behaviour.handleCall(message.request, from, state, ctx);
        if (typeof r !== 'object' || r === null || !('state' in r) || !('reply' in r || r.noreply === true)) throw badReturn('handleCall', r);
        state = r.state;
        if ('reply' in r) ctx.reply(from, r.reply);
        return r.stop;
      }
      if (isGenStop(message)) return message.$gen_stop;
      if (isGenSystem(message)) {
        ctx.reply(message.$gen_system, state);
        return undefined;
      }
      let r: NoReplyResult<S>;
      if (isGenCast(message)) {
        if (!behaviour.handleCast) throw new TypeError('GenServer behaviour has no handleCast');
        r = await behaviour.handleCast(message.$gen_cast, state, ctx);
      } else if (behaviour.handleInfo) {
        r = await behaviour.handleInfo(message, state, ctx);
      } else {
        node.logger.debug({ server: self.pid }, 'gen server ignored an unexpected message');
        return undefined;
      }
      if (typeof r !== 'object' || r === null || !('state' in r)) throw badReturn(isGenCast(message) ? 'handleCast' : 'handleInfo', r);
      state = r.state;
      return r.stop;
    };
    await serve(
      node,
      self,
      async () => {
        for (;;) {
          const stopReason = await handle(await self.receive());
          if (stopReason !== undefined) return stopReason;
        }
      },
      (reason) => behaviour.terminate?.(reason, state, ctx),
    );
  });
}

/** gen_server's API; `call`, `cast`, `stop` and `reply` work for GenStatem servers too. */
export const GenServer = { start: startGenServer, ...genClient } as const;
