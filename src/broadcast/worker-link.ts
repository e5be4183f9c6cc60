import type { Worker } from 'node:worker_threads';
import type { Clock, TimerHandle } from '../util/clock.js';
import { backoffDelay } from '../util/backoff.js';
import { PartisanError } from '../util/errors.js';
import type { Random } from '../util/random.js';
import { siblingModuleUrl, startWorker } from '../util/worker.js';
import type { GroupSettings } from './channel-config.js';
import { unpackSends } from './frame-batch.js';
import type { DownReason, GroupLink, LinkCounters, LinkEvents, LinkState } from './group-link.js';
import type { FromWorker, GroupInit, SerializedError, ToGroup } from './worker-protocol.js';

/**
 * Supervises the worker of one channel group: starts it, pings it, and replaces it when it
 * dies (uncaught error, exit) or stops answering pings (a handler in an endless loop:
 * `terminate()` is safe because the worker holds no native transport object). Restarts back
 * off exponentially; a worker that stayed up for a while starts the backoff over.
 */

export interface WorkerLinkOptions {
  group: string;
  settings: GroupSettings;
  clock: Clock;
  random: Random;
  /** The init data for the next worker (current members, subscriptions). */
  init(restarted: boolean): GroupInit;
  events: LinkEvents;
  counters: LinkCounters;
}

/** A worker up this long before dying restarts after the initial delay again. */
const STABLE_MS = 30_000;

export class WorkerLink implements GroupLink {
  state: LinkState = 'starting';
  /** Workers started after the first. */
  restarts = 0;
  private worker: Worker | undefined;
  private readyAt = 0;
  private attempt = 0;
  private everReady = false;
  private fatal: SerializedError | undefined;
  private killedFor: DownReason | undefined;
  private startTimer: TimerHandle | undefined;
  private heartbeat: TimerHandle | undefined;
  private restartTimer: TimerHandle | undefined;
  private pingSeq = 0;
  private pingSentAt: number | undefined;
  private firstStart: { resolve(): void; reject(err: Error): void } | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly o: WorkerLinkOptions) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.firstStart = { resolve, reject };
      this.spawn(false);
    });
  }

  post(msg: ToGroup, transfer?: ArrayBuffer[]): void {
    if (!this.worker) return;
    this.o.counters.posts++;
    this.worker.postMessage(msg, transfer);
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    this.firstStart?.reject(new PartisanError('ERR_NODE_STOPPED', `broadcast worker ${this.o.group} stopped while starting`));
    this.firstStart = undefined;
    this.clearTimers();
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
    await this.exited;
  }

  private spawn(restarted: boolean): void {
    this.fatal = undefined;
    this.killedFor = undefined;
    this.state = 'starting';
    const worker = startWorker(siblingModuleUrl(import.meta.url, './channel-worker'), {
      name: `partisan-broadcast-${this.o.group}`,
      workerData: this.o.init(restarted),
    });
    this.worker = worker;
    let exited!: () => void;
    this.exited = new Promise((resolve) => (exited = resolve));
    worker.on('message', (msg: FromWorker) => this.onMessage(worker, msg, restarted));
    worker.on('error', (err) => {
      if (worker === this.worker) this.fatal ??= { message: err.message, ...((err as { code?: unknown }).code ? { code: String((err as { code?: unknown }).code) } : {}) };
    });
    worker.on('exit', (code) => {
      exited();
      this.onExit(worker, code);
    });
    this.startTimer = this.o.clock.setTimeout(() => this.kill(worker, 'start-timeout'), this.o.settings.startTimeout).unref();
  }

  private onMessage(worker: Worker, msg: FromWorker, restarted: boolean): void {
    if (worker !== this.worker) return;
    this.o.counters.received++;
    switch (msg.t) {
      case 'ready':
        this.startTimer?.cancel();
        this.state = 'ready';
        this.readyAt = this.o.clock.now();
        this.everReady = true;
        this.startHeartbeat(worker);
        this.firstStart?.resolve();
        this.firstStart = undefined;
        this.o.events.ready(restarted);
        break;
      case 'fatal':
        this.fatal = msg.error;
        break;
      case 'pong':
        if (msg.seq === this.pingSeq) this.pingSentAt = undefined;
        break;
      case 'out':
        this.o.events.event({ t: 'out', out: { sends: unpackSends(msg.data, msg.sends), consumed: msg.consumed, updates: msg.updates } });
        break;
      default:
        this.o.events.event(msg);
    }
  }

  private startHeartbeat(worker: Worker): void {
    this.pingSentAt = undefined;
    this.heartbeat = this.o.clock
      .setInterval(() => {
        const now = this.o.clock.now();
        if (this.pingSentAt === undefined) {
          this.pingSentAt = now;
          this.post({ t: 'ping', seq: ++this.pingSeq });
        } else if (now - this.pingSentAt >= this.o.settings.heartbeatTimeout) {
          this.kill(worker, 'heartbeat');
        }
      }, Math.min(this.o.settings.heartbeatInterval, this.o.settings.heartbeatTimeout))
      .unref();
  }

  private kill(worker: Worker, reason: DownReason): void {
    if (worker !== this.worker || this.killedFor) return;
    this.killedFor = reason;
    this.clearTimers();
    void worker.terminate();
  }

  private onExit(worker: Worker, code: number): void {
    if (worker !== this.worker) return;
    this.worker = undefined;
    this.clearTimers();
    if (this.state === 'stopped') return;
    const reason = this.killedFor ?? 'crash';
    const error = this.fatal ?? (this.killedFor ? undefined : { message: `worker exited with code ${code}` });
    if (!this.everReady && this.firstStart) {
      // A group that never came up is a configuration problem: fail startNode, don't loop.
      const start = this.firstStart;
      this.firstStart = undefined;
      this.state = 'stopped';
      start.reject(
        error?.code === 'ERR_INVALID_OPTION'
          ? new PartisanError('ERR_INVALID_OPTION', error.message, { details: error.details ?? {} })
          : new PartisanError('ERR_WORKER_CRASHED', `broadcast worker ${this.o.group} did not start (${reason}): ${error?.message ?? ''}`, {
              details: { group: this.o.group, reason },
            }),
      );
      return;
    }
    this.state = 'restarting';
    if (this.o.clock.now() - this.readyAt >= STABLE_MS) this.attempt = 0;
    const delay = backoffDelay(this.attempt++, this.o.settings.restartBackoff, this.o.random);
    this.o.events.down(reason, error);
    // Not unref'd: a channel that is restarting is as alive as its worker was.
    this.restartTimer = this.o.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.state !== 'restarting') return;
      this.restarts++;
      this.spawn(true);
    }, delay);
  }

  private clearTimers(): void {
    this.startTimer?.cancel();
    this.startTimer = undefined;
    this.heartbeat?.cancel();
    this.heartbeat = undefined;
    this.pingSentAt = undefined;
  }
}
