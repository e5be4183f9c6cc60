import { isDeepStrictEqual } from 'node:util';
import type { Node } from '../node/node.js';
import type { ExitReason, Process } from '../process/process.js';
import type { Pid } from '../process/ref.js';
import { MAX_TIMER_MS } from '../rpc/call-options.js';
import type { TimerHandle } from '../util/clock.js';
import { describe } from '../util/errors.js';
import { genClient } from './client.js';
import { isGenCall, isGenCast, isGenStop, isGenSystem, type From } from './messages.js';
import { badReturn, serve, startServer, type GenContext, type GenStartOptions } from './server-process.js';

/**
 * gen_statem over partisan-ts. Semantics kept from OTP:
 * - state enter calls (`stateEnter: true`): after every state change, and for the initial
 *   state, the callback runs with `{type:'enter'}` and the previous state as content;
 * - `postpone`: the event is kept and replayed, oldest first, after the next state change;
 * - `nextEvent` actions run before anything else queued (postponed replays included);
 * - state timeout: cancelled by a state change; event timeout: cancelled by any event;
 *   generic timeouts: named, kept across states. `time: Infinity` cancels, `0` fires next.
 * Timers post a token to the server's own mailbox, so a timeout is ordered after the
 * messages that arrived before it, as Erlang's timer messages are.
 */

export type StatemEvent =
  | { readonly type: 'call'; readonly from: From }
  | { readonly type: 'cast' }
  | { readonly type: 'info' }
  | { readonly type: 'internal' }
  | { readonly type: 'enter' }
  | { readonly type: 'stateTimeout' }
  | { readonly type: 'eventTimeout' }
  | { readonly type: 'genericTimeout'; readonly name: string };

export type StatemAction =
  | { readonly type: 'reply'; readonly from: From; readonly value: unknown }
  | { readonly type: 'postpone' }
  | { readonly type: 'nextEvent'; readonly event: 'internal' | 'cast' | 'info'; readonly content?: unknown }
  | { readonly type: 'stateTimeout'; readonly time: number; readonly content?: unknown }
  | { readonly type: 'eventTimeout'; readonly time: number; readonly content?: unknown }
  | { readonly type: 'genericTimeout'; readonly name: string; readonly time: number; readonly content?: unknown };

/** What a callback returns; `undefined` keeps state and data (keep_state_and_data). */
export interface StatemTransition<S, D> {
  /** Absent: keep the state. */
  nextState?: S;
  /** Absent: keep the data. */
  data?: D;
  actions?: readonly StatemAction[];
  /** Stop with this reason after the replies in `actions` went out (stop_and_reply). */
  stop?: ExitReason;
}

export type StatemResult<S, D> = StatemTransition<S, D> | undefined | void;
type MaybePromise<T> = T | Promise<T>;

export interface StatemInit<S, D> {
  state: S;
  data: D;
  /** Timeouts and next events to start with (no postpone, no reply). */
  actions?: readonly StatemAction[];
}

export type StateFunction<S, D> = (event: StatemEvent, content: unknown, data: D, ctx: GenContext) => MaybePromise<StatemResult<S, D>>;

interface StatemCommon<S, D, A> {
  init(args: A, ctx: GenContext): MaybePromise<StatemInit<S, D>>;
  /** Run enter calls. Default false. */
  stateEnter?: boolean;
  terminate?(reason: ExitReason, state: S, data: D, ctx: GenContext): MaybePromise<void>;
}

/** One callback for every event (callback mode handle_event_function). */
export interface HandleEventBehaviour<S, D, A = unknown> extends StatemCommon<S, D, A> {
  handleEvent(event: StatemEvent, content: unknown, state: S, data: D, ctx: GenContext): MaybePromise<StatemResult<S, D>>;
  states?: never;
}

/** One callback per state, keyed by state name (callback mode state_functions). */
export interface StateFunctionsBehaviour<S extends string, D, A = unknown> extends StatemCommon<S, D, A> {
  states: { readonly [K in S]: StateFunction<S, D> };
  handleEvent?: never;
}

export type GenStatemBehaviour<S, D, A = unknown> = HandleEventBehaviour<S, D, A> | ([S] extends [string] ? StateFunctionsBehaviour<S & string, D, A> : never);

/** Either callback mode, as the server sees it. */
type AnyStatemBehaviour<S, D> = StatemCommon<S, D, never> & {
  handleEvent?: HandleEventBehaviour<S, D>['handleEvent'];
  states?: Readonly<Record<string, StateFunction<S, D>>>;
};

interface QueuedEvent {
  event: StatemEvent;
  content: unknown;
}

/** A timer's message to its own server; only this module can make one, so it cannot be forged. */
class TimerToken {
  constructor(
    readonly key: string,
    readonly event: StatemEvent,
    readonly content: unknown,
  ) {}
}

interface TimeoutRequest {
  key: string;
  event: StatemEvent;
  time: number;
  content: unknown;
}

const STATE_TIMEOUT = 'state';
const EVENT_TIMEOUT = 'event';

class StatemServer<S, D> {
  private state!: S;
  private data!: D;
  /** Events to run before the mailbox: next events, replayed postponed events, zero-time timeouts. */
  private readonly queue: Array<QueuedEvent | TimerToken> = [];
  private postponed: QueuedEvent[] = [];
  private readonly timers = new Map<string, { token: TimerToken; handle: TimerHandle | undefined }>();

  constructor(
    private readonly node: Node,
    private readonly self: Process,
    private readonly ctx: GenContext,
    private readonly behaviour: AnyStatemBehaviour<S, D>,
  ) {
    self.onExit(() => {
      for (const t of this.timers.values()) t.handle?.cancel();
      this.timers.clear();
    });
  }

  async run(init: StatemInit<S, D>): Promise<void> {
    if (typeof init !== 'object' || init === null || !('state' in init)) throw badReturn('init', init);
    this.state = init.state;
    this.data = init.data;
    await serve(
      this.node,
      this.self,
      async () => {
        let stopReason = await this.apply({ ...(init.actions ? { actions: init.actions } : {}) }, undefined);
        while (stopReason === undefined) {
          const next = await this.nextEvent();
          if ('stop' in next) return next.stop;
          stopReason = await this.handle(next);
        }
        return stopReason;
      },
      (reason) => this.behaviour.terminate?.(reason, this.state, this.data, this.ctx),
    );
  }

  private async nextEvent(): Promise<QueuedEvent | { stop: ExitReason }> {
    for (;;) {
      const queued = this.queue.shift();
      const message = queued ?? (await this.self.receive());
      if (message instanceof TimerToken) {
        // A token whose timer was cancelled or restarted since it was posted is stale.
        if (this.timers.get(message.key)?.token !== message) continue;
        this.timers.delete(message.key);
        return { event: message.event, content: message.content };
      }
      if (queued) return queued as QueuedEvent;
      if (isGenStop(message)) return { stop: message.$gen_stop };
      if (isGenSystem(message)) {
        this.ctx.reply(message.$gen_system, { state: this.state, data: this.data });
        continue;
      }
      if (isGenCall(message)) return { event: { type: 'call', from: message.$gen_call }, content: message.request };
      if (isGenCast(message)) return { event: { type: 'cast' }, content: message.$gen_cast };
      return { event: { type: 'info' }, content: message };
    }
  }

  private async handle(ev: QueuedEvent): Promise<ExitReason | undefined> {
    if (ev.event.type !== 'eventTimeout') this.cancelTimer(EVENT_TIMEOUT);
    const result = await this.callback(ev.event, ev.content);
    return this.apply(result, ev);
  }

  private callback(event: StatemEvent, content: unknown): MaybePromise<StatemResult<S, D>> {
    const b = this.behaviour;
    if (typeof b.handleEvent === 'function') return b.handleEvent(event, content, this.state, this.data, this.ctx);
    const states = b.states ?? {};
    const key = String(this.state);
    const fn = Object.hasOwn(states, key) ? states[key] : undefined;
    if (typeof fn !== 'function') throw new TypeError(`GenStatem has no state function for state ${describe(this.state)}`);
    return fn(event, content, this.data, this.ctx);
  }

  /**
   * Apply a callback's result for `ev` (undefined: the initial transition after init). Order as
   * gen_statem: replies, postpone, state change (replay postponed, enter call), next events,
   * then timeouts (those set by the enter call last).
   */
  private async apply(result: StatemResult<S, D>, ev: QueuedEvent | undefined): Promise<ExitReason | undefined> {
    const r = this.checkResult(result, ev ? 'state callback' : 'init');
    if ('data' in r) this.data = r.data as D;
    const timeouts: TimeoutRequest[] = [];
    const nextEvents: QueuedEvent[] = [];
    const postpone = this.collectActions(r.actions, timeouts, nextEvents, ev !== undefined);
    if (r.stop !== undefined) return r.stop;
    if (postpone && ev) this.postponed.push(ev);
    const next = 'nextState' in r && r.nextState !== undefined ? r.nextState : this.state;
    const changed = ev === undefined || !isDeepStrictEqual(next, this.state);
    if (changed) {
      const previous = this.state;
      this.state = next;
      if (ev) {
        this.cancelTimer(STATE_TIMEOUT);
        this.queue.unshift(...this.postponed);
        this.postponed = [];
      }
      if (this.behaviour.stateEnter) {
        const stopReason = await this.enter(previous, timeouts);
        if (stopReason !== undefined) return stopReason;
      }
    }
    this.queue.unshift(...nextEvents);
    for (const t of timeouts) this.startTimeout(t);
    return undefined;
  }

  /** The state enter call: it may change data, reply and set timeouts, but not the state. */
  private async enter(previous: S, timeouts: TimeoutRequest[]): Promise<ExitReason | undefined> {
    const r = this.checkResult(await this.callback({ type: 'enter' }, previous), 'state enter call');
    if ('data' in r) this.data = r.data as D;
    const nextEvents: QueuedEvent[] = [];
    if (this.collectActions(r.actions, timeouts, nextEvents, false) || nextEvents.length > 0) {
      throw new TypeError('a state enter call cannot postpone or insert events');
    }
    if (r.stop !== undefined) return r.stop;
    if ('nextState' in r && r.nextState !== undefined && !isDeepStrictEqual(r.nextState, this.state)) {
      throw new TypeError(`a state enter call cannot change the state (to ${describe(r.nextState)})`);
    }
    return undefined;
  }

  private checkResult(result: StatemResult<S, D>, what: string): StatemTransition<S, D> {
    if (result === undefined) return {};
    if (typeof result !== 'object' || result === null) throw badReturn(what, result);
    return result;
  }

  /** Send replies now; gather timeouts and next events. Returns whether the event is postponed. */
  private collectActions(actions: readonly StatemAction[] | undefined, timeouts: TimeoutRequest[], nextEvents: QueuedEvent[], mayPostpone: boolean): boolean {
    if (actions === undefined) return false;
    if (!Array.isArray(actions)) throw badReturn('actions', actions);
    let postpone = false;
    for (const a of actions) {
      switch (a?.type) {
        case 'reply':
          this.ctx.reply(a.from, a.value);
          break;
        case 'postpone':
          if (!mayPostpone) throw new TypeError('only an event can be postponed');
          postpone = true;
          break;
        case 'nextEvent':
          nextEvents.push({ event: { type: a.event }, content: a.content });
          break;
        case 'stateTimeout':
          timeouts.push({ key: STATE_TIMEOUT, event: { type: 'stateTimeout' }, time: checkTime(a.time), content: a.content });
          break;
        case 'eventTimeout':
          timeouts.push({ key: EVENT_TIMEOUT, event: { type: 'eventTimeout' }, time: checkTime(a.time), content: a.content });
          break;
        case 'genericTimeout':
          timeouts.push({ key: `generic:${a.name}`, event: { type: 'genericTimeout', name: a.name }, time: checkTime(a.time), content: a.content });
          break;
        default:
          throw new TypeError(`unknown GenStatem action ${describe(a)}`);
      }
    }
    return postpone;
  }

  private startTimeout(t: TimeoutRequest): void {
    this.cancelTimer(t.key);
    if (t.time === Infinity) return;
    // An event already waiting would cancel an event timeout the moment it runs.
    if (t.key === EVENT_TIMEOUT && this.queue.length > 0) return;
    const token = new TimerToken(t.key, t.event, t.content);
    if (t.time === 0) {
      this.timers.set(t.key, { token, handle: undefined });
      this.queue.push(token);
      return;
    }
    const handle = this.node.options.clock.setTimeout(() => this.self.mailbox.push(token), Math.min(t.time, MAX_TIMER_MS));
    this.timers.set(t.key, { token, handle });
  }

  private cancelTimer(key: string): void {
    const t = this.timers.get(key);
    if (!t) return;
    t.handle?.cancel();
    this.timers.delete(key);
  }
}

function checkTime(time: unknown): number {
  if (typeof time !== 'number' || Number.isNaN(time) || time < 0) throw new TypeError(`a timeout time must be a number of ms >= 0 or Infinity, not ${describe(time)}`);
  return time;
}

/** Start a state machine on `node`; resolves with its pid once `init` has returned. */
export async function startGenStatem<S, D, A>(node: Node, behaviour: GenStatemBehaviour<S, D, A>, args: A, options?: GenStartOptions): Promise<Pid> {
  if (typeof behaviour.handleEvent !== 'function' && (typeof behaviour.states !== 'object' || behaviour.states === null)) {
    throw new TypeError('a GenStatem behaviour needs handleEvent or states');
  }
  return startServer(node, options, async (self, ctx, started) => {
    const init = await behaviour.init(args, ctx);
    started();
    await new StatemServer<S, D>(node, self, ctx, behaviour as unknown as AnyStatemBehaviour<S, D>).run(init);
  });
}

/** gen_statem's API: the same call / cast / stop / reply as GenServer. */
export const GenStatem = { start: startGenStatem, ...genClient } as const;
