import { ConnectionTable } from '../connections/connection-table.js';
import type { Clock } from '../util/clock.js';
import { PartisanError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { ChannelDriver } from './channel-driver.js';
import type { ExchangeSelector } from './exchange-tracker.js';
import type { BroadcastHandler } from './handler.js';
import { loadHandler } from './handler-loader.js';
import { serializeError, type GroupEvent, type GroupInit, type GroupOutput, type ToGroup } from './worker-protocol.js';

/**
 * The channels of one worker group, driven from `ToGroup` messages. Whatever the drivers
 * produce during a turn leaves as one `out` event on the next setImmediate: frames for every
 * peer, the ids of the raw batches processed (the main thread releases their credit) and the
 * accepted updates. Thread-agnostic: the worker entry and the inline (main thread) link use it.
 */

export interface ChannelGroupEnv {
  clock: Clock;
  random: Random;
  emit(event: GroupEvent): void;
  /** Builds a channel's handler. Default: `loadHandler` (built-in or module import). */
  loadHandler?: typeof loadHandler;
}

export class ChannelGroup {
  private readonly drivers = new Map<string, ChannelDriver>();
  private consumed: number[] = [];
  private flushHandle: NodeJS.Immediate | undefined;
  private stopped = false;

  private constructor(
    private readonly init: GroupInit,
    private readonly env: ChannelGroupEnv,
  ) {}

  /** Loads every channel's handler and starts its driver. Rejects (ERR_INVALID_OPTION) if a handler cannot be built. */
  static async start(init: GroupInit, env: ChannelGroupEnv): Promise<ChannelGroup> {
    const group = new ChannelGroup(init, env);
    const load = env.loadHandler ?? loadHandler;
    const handlers = new Map<string, BroadcastHandler<unknown, unknown>>();
    for (const channel of init.channels) handlers.set(channel.name, await load(channel, { node: init.node, channel: channel.name }));
    const table = ConnectionTable.attach(init.table);
    const subscribed = new Set(init.subscribed);
    for (const channel of init.channels) {
      const driver = new ChannelDriver({
        node: init.node,
        channel: channel.name,
        handler: handlers.get(channel.name)!,
        plumtree: channel.plumtree,
        clock: env.clock,
        random: env.random,
        maxFrameSize: init.maxFrameSize,
        members: init.members,
        isConnected: (peer) => table.isConnected(peer, channel.name),
        restarted: init.restarted,
        catchUpExchanges: channel.catchUpExchanges,
        updateBuffer: channel.subscriberBuffer,
        wake: () => group.wake(),
      });
      driver.setSubscribed(subscribed.has(channel.name));
      group.drivers.set(channel.name, driver);
    }
    return group;
  }

  handle(msg: ToGroup): void {
    if (this.stopped) return;
    switch (msg.t) {
      case 'in':
        this.drivers.get(msg.channel)?.receive(msg.from, msg.data);
        this.consumed.push(msg.id);
        this.wake();
        break;
      case 'bcast':
        this.broadcast(msg.items);
        break;
      case 'members':
        for (const d of this.drivers.values()) d.setMembers(msg.members);
        break;
      case 'subscribe':
        this.drivers.get(msg.channel)?.setSubscribed(msg.on);
        break;
      case 'ping':
        // Answered at once, from this thread's event loop: a handler stuck in a loop can't.
        this.env.emit({ t: 'pong', seq: msg.seq });
        break;
      case 'req':
        try {
          this.env.emit({ t: 'res', id: msg.id, ok: true, value: this.request(msg.op, msg.channels, msg.arg) });
        } catch (err) {
          this.env.emit({ t: 'res', id: msg.id, ok: false, error: serializeError(err) });
        }
        break;
    }
  }

  /** Emits what is waiting now (tests and stop); normally the setImmediate does it. */
  flush(): void {
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    const out: GroupOutput = { sends: [], consumed: this.consumed, updates: [] };
    this.consumed = [];
    for (const d of this.drivers.values()) d.collect(out.sends, out.updates);
    if (out.sends.length > 0 || out.consumed.length > 0 || out.updates.length > 0) this.env.emit({ t: 'out', out });
  }

  stop(): void {
    this.stopped = true;
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    for (const d of this.drivers.values()) d.stop();
  }

  private wake(): void {
    if (this.flushHandle || this.stopped) return;
    this.flushHandle = setImmediate(() => {
      this.flushHandle = undefined;
      this.flush();
    });
  }

  private broadcast(items: ReadonlyArray<[string, unknown]>): void {
    // Items of one channel are usually contiguous: hand them over in runs.
    let start = 0;
    for (let i = 1; i <= items.length; i++) {
      if (i === items.length || items[i]![0] !== items[start]![0]) {
        this.drivers.get(items[start]![0])?.broadcast(items.slice(start, i).map((item) => item[1]));
        start = i;
      }
    }
  }

  private request(op: string, channels: readonly string[], arg: unknown): unknown {
    const pick = channels.map((name) => {
      const d = this.drivers.get(name);
      if (!d) throw new PartisanError('ERR_UNKNOWN_CHANNEL', `${JSON.stringify(name)} is not served by group ${this.init.group}`, { details: { channel: name } });
      return d;
    });
    switch (op) {
      case 'metrics':
        return Object.fromEntries(pick.map((d) => [d.channel, d.metrics()]));
      case 'exchanges':
        return pick.flatMap((d) => d.exchanges().map((x) => ({ channel: d.channel, ...x })));
      case 'broadcastMembers':
        return pick[0]?.broadcastMembers() ?? [];
      case 'cancelExchanges':
        return pick.reduce((n, d) => n + d.cancelExchanges(arg as ExchangeSelector), 0);
      default:
        throw new PartisanError('ERR_NOT_IMPLEMENTED', `unknown group request ${op}`);
    }
  }
}
