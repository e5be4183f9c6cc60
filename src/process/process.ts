import type { Clock } from '../util/clock.js';
import { PartisanError } from '../util/errors.js';
import { Mailbox, type Matcher, type ReceiveOptions } from './mailbox.js';
import type { NodeName, Pid } from './ref.js';

/**
 * Why a process ended, as Erlang exit reasons: `'normal'`, `'shutdown'`, `'killed'`,
 * `'noproc'`, `'noconnection'`, any other string, or an error a process function threw.
 * Always plain data, because reasons cross the wire in DOWN messages.
 */
export type ExitReason = string | { error: string; name?: string; stack?: string };

export function errorReason(err: unknown): ExitReason {
  if (err instanceof Error) return { error: err.message, name: err.name, ...(err.stack ? { stack: err.stack } : {}) };
  return { error: String(err) };
}

export function describeReason(reason: ExitReason): string {
  return typeof reason === 'string' ? reason : `${reason.name ?? 'Error'}: ${reason.error}`;
}

/** A local process: a mailbox, a pid, and a lifetime that ends once with a reason. */
export class Process {
  readonly mailbox: Mailbox;
  private readonly controller = new AbortController();
  private hooks: Array<(reason: ExitReason) => void> = [];
  private reason: ExitReason | undefined;

  constructor(
    readonly id: number,
    readonly pid: Pid,
    readonly node: NodeName,
    clock: Clock,
    mailboxCapacity: number,
  ) {
    this.mailbox = new Mailbox(clock, mailboxCapacity);
  }

  /** Aborted when the process exits; hand it to anything the process starts. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get isAlive(): boolean {
    return this.reason === undefined;
  }

  get exitReason(): ExitReason | undefined {
    return this.reason;
  }

  receive<T = unknown>(options?: ReceiveOptions<T>): Promise<T> {
    return this.mailbox.receive<T>(options);
  }

  tryReceive<T = unknown>(match?: Matcher<T>): T | undefined {
    return this.mailbox.tryReceive<T>(match);
  }

  drain<T = unknown>(max?: number): T[] {
    return this.mailbox.drain<T>(max);
  }

  receiveMany<T = unknown>(max?: number, options?: Omit<ReceiveOptions<T>, 'match'>): Promise<T[]> {
    return this.mailbox.receiveMany<T>(max, options);
  }

  /** Messages one at a time, until the process exits. */
  async *[Symbol.asyncIterator](): AsyncIterator<unknown> {
    for (;;) {
      let batch: unknown[];
      try {
        batch = await this.mailbox.receiveMany(1024);
      } catch {
        return;
      }
      for (const m of batch) yield m;
    }
  }

  /** Run `hook` once when the process exits (at once if it already has). Returns an unsubscribe. */
  onExit(hook: (reason: ExitReason) => void): () => void {
    if (this.reason !== undefined) {
      hook(this.reason);
      return () => {};
    }
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** End the process (idempotent): pending receives fail, exit hooks run (monitors, registry). */
  exit(reason: ExitReason = 'normal'): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.mailbox.close(new PartisanError('ERR_PROCESS_EXITED', `process ${this.pid} exited: ${describeReason(reason)}`, { details: { reason } }));
    this.controller.abort(new PartisanError('ERR_PROCESS_EXITED', `process ${this.pid} exited`));
    const hooks = this.hooks;
    this.hooks = [];
    for (const hook of hooks) hook(reason);
  }
}
