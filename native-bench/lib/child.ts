/**
 * A benchmark process driven over IPC: the orchestrator starts a role script (serve.ts on the
 * other end) in a fresh Node process and calls its commands by name with JSON arguments.
 * Every side of a benchmark is its own process, as real peers are: with two ends on one event
 * loop, each side's work would be charged to the other.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Reply, Request } from './serve.js';

export interface BenchChildOptions {
  /** Extra node flags (e.g. `--cpu-prof`, `--cpu-prof-dir=…`). */
  execArgv?: string[];
  env?: Record<string, string>;
  /** Arguments for the script. */
  args?: string[];
}

export class BenchChild {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly exited: Promise<number | null>;
  private exitedAlready = false;

  private constructor(
    readonly role: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitedAlready = true;
        for (const p of this.pending.values()) p.reject(new Error(`${role} process exited (${signal ?? code})`));
        this.pending.clear();
        resolve(code);
      }),
    );
    child.on('message', (raw: Reply) => {
      const p = this.pending.get(raw.id);
      if (!p) return;
      this.pending.delete(raw.id);
      if (raw.ok) p.resolve(raw.value);
      else p.reject(Object.assign(new Error(`${role}: ${raw.error}`), { code: raw.code }));
    });
  }

  /** Fork `script` (a TypeScript role script calling serve()) and wait until it is listening. */
  static async start(role: string, script: string, options: BenchChildOptions = {}): Promise<BenchChild> {
    const child = fork(script, options.args ?? [], {
      // BENCH_NODE_FLAGS (e.g. "--trace-gc") reaches every role process: NODE_OPTIONS refuses most V8 flags.
      execArgv: ['--import', 'tsx', ...(options.execArgv ?? []), ...(process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, PARTISAN_LOG_LEVEL: process.env.PARTISAN_LOG_LEVEL ?? 'warn', ...options.env },
    });
    const ready = new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code, signal) => reject(new Error(`${role} process exited before it was ready (${signal ?? code})`)));
    });
    try {
      await ready;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return new BenchChild(role, child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  call<T = unknown>(cmd: string, ...args: unknown[]): Promise<T> {
    if (this.exitedAlready) return Promise.reject(new Error(`${this.role} process has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const request: Request = { id, cmd, args };
      this.child.send(request, (err) => {
        if (!err) return;
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  /** Ask the process to exit on its own (flushing a --cpu-prof profile); SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exitedAlready) return;
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      await this.call('exit').catch(() => {});
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (!this.exitedAlready) this.child.kill('SIGKILL');
  }
}

/** Stop every child, in parallel, ignoring the ones already gone. */
export async function stopAll(children: ReadonlyArray<BenchChild | undefined>): Promise<void> {
  await Promise.all(children.map((c) => c?.stop()));
}

/** Resolves when `child` has exited; for external processes (nats-server, erl). */
export async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await once(child, 'exit');
}
