import { ChannelDriver } from '../../../src/broadcast/channel-driver.js';
import { concatFrames, type PeerSend } from '../../../src/broadcast/frame-batch.js';
import type { BroadcastHandler } from '../../../src/broadcast/handler.js';
import type { PlumtreeOptions } from '../../../src/broadcast/options.js';
import { FakeClock } from '../../../src/util/clock.js';
import { seededRandom } from '../../../src/util/random.js';

/**
 * ChannelDrivers wired to each other in memory, on a FakeClock: what a driver sends is
 * delivered by `pump()` as the bytes the main thread would hand the peer's worker. Output is
 * collected per "turn" exactly as a ChannelGroup does on setImmediate.
 */
export class DriverNet {
  readonly clock = new FakeClock(0);
  readonly drivers = new Map<string, ChannelDriver>();
  /** node → batches of updates collected, in order. */
  readonly updates = new Map<string, unknown[][]>();
  /** Frames and sends delivered, for batching assertions. */
  sends: PeerSend[] = [];
  /** Links that lose everything (from → to). */
  readonly cut = new Set<string>();
  woken = 0;

  constructor(
    readonly names: readonly string[],
    private readonly handler: (node: string) => BroadcastHandler<unknown, unknown>,
    private readonly plumtree: PlumtreeOptions = {},
  ) {
    for (const name of names) this.start(name);
  }

  /** (Re)starts `name`'s driver with a fresh handler, like a worker restart. */
  start(name: string, restarted = false, catchUpExchanges = 2): ChannelDriver {
    this.drivers.get(name)?.stop();
    const driver = new ChannelDriver({
      node: name,
      channel: 'gps',
      handler: this.handler(name),
      plumtree: this.plumtree,
      clock: this.clock,
      random: seededRandom(this.names.indexOf(name) + 1),
      maxFrameSize: 8 * 1024 * 1024,
      members: this.names.filter((n) => n !== name),
      isConnected: () => true,
      restarted,
      catchUpExchanges,
      wake: () => this.woken++,
    });
    driver.setSubscribed(true);
    this.drivers.set(name, driver);
    this.updates.set(name, []);
    return driver;
  }

  get(name: string): ChannelDriver {
    return this.drivers.get(name)!;
  }

  /** Collects and delivers until nothing moves (handlers here are synchronous). */
  pump(): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      for (const [name, driver] of this.drivers) {
        const sends: PeerSend[] = [];
        const updates: Array<[string, unknown[]]> = [];
        driver.collect(sends, updates);
        for (const [, items] of updates) this.updates.get(name)!.push(items);
        for (const s of sends) {
          moved = true;
          this.sends.push(s);
          if (this.cut.has(`${name}>${s.peer}`)) continue;
          this.drivers.get(s.peer)?.receive(name, concatFrames([s.bytes]));
        }
      }
      if (!moved) return;
    }
    throw new Error('the drivers never went quiet');
  }

  /** Advances the fake clock in steps, pumping after each. */
  advance(ms: number, step = 10): void {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(Math.min(step, ms - t));
      this.pump();
    }
  }

  /** Every update `name` was handed, flattened. */
  updatesOf(name: string): unknown[] {
    return this.updates.get(name)!.flat();
  }

  stop(): void {
    for (const d of this.drivers.values()) d.stop();
  }
}
