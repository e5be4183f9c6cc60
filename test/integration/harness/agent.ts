/**
 * A partisan-ts node in its own OS process, driven over IPC by test/integration/harness/
 * node-process.ts. Commands are explicit (no eval): each takes plain JSON arguments and
 * answers with plain JSON. Used by integration tests and benchmarks that need real processes.
 */
import { appendFileSync } from 'node:fs';
import { startNode, type Node } from '../../../src/node/node.js';
import type { MonitorMessage } from '../../../src/monitor/monitor-service.js';
import type { Process } from '../../../src/process/process.js';
import type { Pid, RegisteredName } from '../../../src/process/ref.js';
import { isPartisanError } from '../../../src/util/errors.js';

interface Request {
  id: number;
  cmd: string;
  args: unknown[];
}

let node: Node | undefined;
const sinks = new Map<string, { process: Process; count: number; seqs: number[] | undefined; file: string | undefined }>();
let watcher: Process | undefined;
const watched: MonitorMessage[] = [];

function need(): Node {
  if (!node) throw new Error('node not started');
  return node;
}

/** A registered mailbox that counts what it gets (and keeps `seq`s or appends them to a file). */
function sink(name: string, options: { keepSeqs?: boolean; file?: string; ack?: boolean } = {}): string {
  const n = need();
  const process = n.spawnMailbox({ name });
  const state = { process, count: 0, seqs: options.keepSeqs ? ([] as number[]) : undefined, file: options.file };
  sinks.set(name, state);
  void (async () => {
    for (;;) {
      let batch: unknown[];
      try {
        batch = await process.receiveMany(4096);
      } catch {
        return;
      }
      state.count += batch.length;
      if (state.seqs || state.file) {
        const seqs = batch.map((m) => (m as { seq?: number }).seq ?? -1);
        state.seqs?.push(...seqs);
        // One write per batch, right after the batch was consumed (and acknowledged).
        if (state.file) appendFileSync(state.file, seqs.join('\n') + '\n');
      }
    }
  })();
  return process.pid;
}

/** The node's shell process watches: monitor calls made here (outside any process) are its own. */
function watcherProcess(): Process {
  if (!watcher) {
    watcher = need().currentProcess();
    const w = watcher;
    void (async () => {
      for (;;) {
        try {
          watched.push(await w.receive<MonitorMessage>());
        } catch {
          return;
        }
      }
    })();
  }
  return watcher;
}

const commands: Record<string, (...args: never[]) => unknown> = {
  async start(options: Record<string, unknown>) {
    node = await startNode(options as never);
    return { node: node.node(), spec: node.nodeSpec() };
  },
  spec: () => need().nodeSpec(),
  join: (spec: never) => need().join(spec),
  leave: (target?: string) => need().leave(target),
  members: () => need().members(),
  nodes: (channel?: string) => need().nodes(channel),
  specs: () => need().membersForOrchestration(),
  isConnected: (peer: string, channel?: string) => need().isConnected(peer, channel),
  isFullyConnected: (peer: string) => need().isFullyConnected(peer),
  sink: (name: string, options?: { keepSeqs?: boolean; file?: string }) => sink(name, options),
  sinkState: (name: string) => {
    const s = sinks.get(name);
    if (!s) throw new Error(`no sink ${name}`);
    return { count: s.count, seqs: s.seqs };
  },
  /** Send `count` messages `{seq, ...template}` to `dest`, respecting backpressure; with ack, await all acks. */
  async send(dest: string | { name: string; node: string }, count: number, template: Record<string, unknown>, options: Record<string, unknown> = {}, from = 0) {
    const n = need();
    const acks: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const r = n.forwardMessage(dest as Pid, { ...template, seq: from + i }, options);
      if (options.ack) acks.push(r as Promise<void>);
      else if (r) await r;
      if ((i & 1023) === 1023) await new Promise((resolve) => setImmediate(resolve));
    }
    const results = await Promise.allSettled(acks);
    return { failed: results.filter((r) => r.status === 'rejected').length };
  },
  spawnWaiter: (name: string) =>
    need().spawn(
      async (self) => {
        await self.receive({ match: (m) => m === 'exit' });
      },
      { name },
    ),
  exitProcess: (pid: string, reason: string) => need().exit(pid as Pid, reason),
  whereis: (name: string) => need().whereis(name),
  monitor: (target: string) => {
    watcherProcess();
    return need().monitor(target as RegisteredName);
  },
  monitorNode: (peer: string) => {
    watcherProcess();
    need().monitorNode(peer);
    return true;
  },
  monitorNodes: () => {
    watcherProcess();
    need().monitorNodes(true);
    return true;
  },
  watched: () => watched,
  injectPartition: (peer: string, ttlMs?: number) => need().injectPartition(peer, ttlMs),
  resolvePartition: (ref: string) => need().resolvePartition(ref),
  isProcessAlive: (pid: string) => need().isProcessAlive(pid as Pid),
  stats: () => need().stats(),
  monitorTableSizes: () => need().monitorTableSizes(),
  async stop() {
    await node?.stop();
    node = undefined;
    setImmediate(() => process.exit(0));
    return true;
  },
};

process.on('message', (raw: unknown) => {
  const req = raw as Request;
  void (async () => {
    try {
      const fn = commands[req.cmd];
      if (!fn) throw new Error(`unknown command ${req.cmd}`);
      const value = await (fn as (...a: unknown[]) => unknown)(...req.args);
      process.send?.({ id: req.id, ok: true, value: value === undefined ? null : value });
    } catch (err) {
      process.send?.({
        id: req.id,
        ok: false,
        error: { message: (err as Error).message, code: isPartisanError(err) ? err.code : undefined },
      });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
// Extra command sets for particular suites: PARTISAN_AGENT_PLUGINS=path1,path2, each module
// exporting `commands(need: () => Node): Record<string, (...args) => unknown>`.
for (const plugin of (process.env.PARTISAN_AGENT_PLUGINS ?? '').split(',').filter(Boolean)) {
  const mod = (await import(plugin)) as { commands(need: () => Node): Record<string, (...args: never[]) => unknown> };
  Object.assign(commands, mod.commands(need));
}
process.send?.({ ready: true });
