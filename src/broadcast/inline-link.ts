import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { ChannelGroup } from './channel-group.js';
import type { GroupLink, LinkCounters, LinkEvents, LinkState } from './group-link.js';
import type { GroupInit, ToGroup } from './worker-protocol.js';

/**
 * `worker: false`: the group runs on the main thread, fed by direct calls. Same drivers and
 * batching as in a worker, minus the isolation: a handler that loops blocks the node and an
 * uncaught handler error is the process's. Kept for small setups and as the benchmark baseline.
 */
export class InlineLink implements GroupLink {
  state: LinkState = 'starting';
  private group: ChannelGroup | undefined;
  /** Messages posted while the handlers load, delivered in order once the group exists. */
  private early: ToGroup[] = [];

  constructor(
    private readonly init: GroupInit,
    private readonly env: { clock: Clock; random: Random },
    private readonly events: LinkEvents,
    private readonly counters: LinkCounters,
  ) {}

  async start(): Promise<void> {
    this.group = await ChannelGroup.start(this.init, {
      clock: this.env.clock,
      random: this.env.random,
      emit: (event) => {
        this.counters.received++;
        this.events.event(event);
      },
    });
    if (this.state === 'stopped') {
      this.group.stop();
      return;
    }
    for (const msg of this.early.splice(0)) this.group.handle(msg);
    this.state = 'ready';
    this.events.ready(false);
  }

  post(msg: ToGroup): void {
    this.counters.posts++;
    if (this.group) this.group.handle(msg);
    else this.early.push(msg);
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    this.group?.stop();
  }
}
