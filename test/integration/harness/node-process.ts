import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const agent = fileURLToPath(new URL('./agent.ts', import.meta.url));

export class AgentError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * A node running in a child process (test/integration/harness/agent.ts), driven over IPC.
 * `kill()` is a real SIGKILL: nothing in the child gets to clean up.
 */
export class NodeProcess {
  name = '';
  spec: { name: string; listenAddrs: Array<{ host: string; port: number; certHash?: string }> } = { name: '', listenAddrs: [] };
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.on('message', (raw: unknown) => {
      const m = raw as { id?: number; ok?: boolean; value?: unknown; error?: { message: string; code?: string } };
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new AgentError(m.error?.message ?? 'agent error', m.error?.code));
    });
    void this.exited.then(() => {
      for (const p of this.pending.values()) p.reject(new Error('node process exited'));
      this.pending.clear();
    });
  }

  /** Start a child process and a node in it with `options` (JSON-serialisable NodeOptions). */
  static async start(options: Record<string, unknown>, env: Record<string, string> = {}): Promise<NodeProcess> {
    const child = fork(agent, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, PARTISAN_LOG_LEVEL: process.env.PARTISAN_LOG_LEVEL ?? 'warn', ...env },
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`agent exited early (${code})`)));
    });
    const p = new NodeProcess(child);
    const started = (await p.call('start', options)) as { node: string; spec: NodeProcess['spec'] };
    p.name = started.node;
    p.spec = started.spec;
    return p;
  }

  call<T = unknown>(cmd: string, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args }, (err) => {
        if (err) {
          this.pending.delete(id);
          reject(err);
        }
      });
    });
  }

  /** False once the child exited (killed or crashed): calls to it would fail with ERR_IPC_CHANNEL_CLOSED. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.connected;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** SIGKILL (default) and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }

  /** Graceful stop (node.stop()), then the process exits. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.call('stop').catch(() => {});
    await this.exited;
  }
}

/** Poll `probe` until it returns true, failing after `limitMs` with `what`. */
export async function eventually(probe: () => Promise<boolean> | boolean, what: string, limitMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
