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
import { build as buildHistogram, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import { pack } from 'msgpackr';

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

/**
 * What a broadcast channel's subscription delivered here: updates, the newest version per
 * vehicle, and (for records stamped with `sentAt`, wall-clock ms) origin→delivery latency.
 */
interface Tracker {
  iterator: AsyncIterableIterator<unknown[]>;
  updates: number;
  newest: Map<string, number>;
  histogram: Histogram | undefined;
  /** `waitTracked` callers, released once `updates` reaches their count. */
  waiters: Array<{ min: number; resolve(): void }>;
}
const trackers = new Map<string, Tracker>();

/** Wall-clock ms with sub-ms resolution, comparable across processes of one machine. */
const wallClockMs = (): number => performance.timeOrigin + performance.now();

/** Latency in µs, 1 µs to 10 min, 3 significant digits (as native-bench/transport). */
function latencyHistogram(): Histogram {
  return buildHistogram({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

function track(channel: string, options: { latency?: boolean } = {}): true {
  if (trackers.has(channel)) return true;
  const t: Tracker = { iterator: need().subscribe(channel), updates: 0, newest: new Map(), histogram: options.latency ? latencyHistogram() : undefined, waiters: [] };
  trackers.set(channel, t);
  void (async () => {
    for (;;) {
      const next = await t.iterator.next().catch(() => ({ done: true as const, value: undefined }));
      if (next.done) return;
      const now = t.histogram ? wallClockMs() : 0;
      for (const u of next.value as Array<{ vehicleId: string; ts: number; sentAt?: number }>) {
        t.updates++;
        if ((t.newest.get(u.vehicleId) ?? -Infinity) < u.ts) t.newest.set(u.vehicleId, u.ts);
        if (t.histogram && typeof u.sentAt === 'number') t.histogram.recordValue(Math.max(1, Math.round((now - u.sentAt) * 1000)));
      }
      if (t.waiters.length > 0) {
        const ready = t.waiters.filter((w) => w.min <= t.updates);
        t.waiters = t.waiters.filter((w) => w.min > t.updates);
        for (const w of ready) w.resolve();
      }
    }
  })();
  return true;
}

/** A position record; `padTo` grows a `pad` field until the msgpack body has that many bytes. */
function position(vehicleId: string, ts: number, padTo: number, stamp: boolean): Record<string, unknown> {
  const r: Record<string, unknown> = { vehicleId, ts, lat: 48 + (ts % 1000) / 1e4, lon: 2 + (ts % 1000) / 1e4 };
  if (stamp) r.sentAt = wallClockMs();
  if (padTo > 0) {
    const size = packedSize(r);
    if (size + 6 < padTo) r.pad = 'x'.repeat(padTo - size - 6);
  }
  return r;
}

const packedSizes = new Map<string, number>();
function packedSize(r: Record<string, unknown>): number {
  // Sizes differ only by the id's length: measure once per length.
  const k = `${String(r.vehicleId).length}|${'sentAt' in r}`;
  let n = packedSizes.get(k);
  if (n === undefined) {
    n = pack(r).length;
    packedSizes.set(k, n);
  }
  return n;
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
  broadcastMembers: () => need().broadcastMembers(),
  /** Broadcast metrics of `channel` (Plumtree, driver, handler.*, main-thread counters). */
  broadcastMetrics: async (channel: string) => (await need().broadcasts().metrics(channel))[channel] ?? {},
  /** Start counting what `channel`'s subscription delivers (see Tracker). */
  track: (channel: string, options?: { latency?: boolean }) => track(channel, options),
  /** The tracker's counts; `state` adds vehicle → newest ts, `histogram` the latency histogram (compressed base64; `reset` clears it). */
  tracked: (channel: string, options: { state?: boolean; histogram?: boolean; reset?: boolean } = {}) => {
    const t = trackers.get(channel);
    if (!t) throw new Error(`not tracking ${channel}`);
    const out: Record<string, unknown> = { updates: t.updates, vehicles: t.newest.size };
    if (options.state) out.state = Object.fromEntries(t.newest);
    if (options.histogram && t.histogram) out.histogram = encodeIntoCompressedBase64(t.histogram);
    if (options.reset) t.histogram?.reset();
    return out;
  },
  /** Resolves once `channel`'s tracker counted `min` updates (false after `timeoutMs`): no polling. */
  waitTracked: (channel: string, min: number, timeoutMs = 60_000) => {
    const t = trackers.get(channel);
    if (!t) throw new Error(`not tracking ${channel}`);
    if (t.updates >= min) return true;
    return new Promise<boolean>((resolve) => {
      const waiter = {
        min,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        t.waiters = t.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      t.waiters.push(waiter);
    });
  },
  /**
   * Broadcast `count` position records on `channel`: record i is vehicle
   * `${prefix}${vehicle(i)}` at version `tsBase + from + i`, where vehicle(i) = (from + i) % vehicles.
   * `sentAt` stamps the wall clock; `padTo` sizes the msgpack body; one event-loop turn every
   * `yieldEvery` records; `ratePerSec` paces the sends (open loop).
   */
  async broadcastPositions(
    channel: string,
    o: { prefix: string; vehicles: number; count: number; from?: number; tsBase?: number; padTo?: number; sentAt?: boolean; yieldEvery?: number; ratePerSec?: number },
  ) {
    const n = need();
    const from = o.from ?? 0;
    const yieldEvery = o.yieldEvery ?? 256;
    const started = performance.now();
    for (let i = 0; i < o.count; i++) {
      const seq = from + i;
      n.broadcast(position(`${o.prefix}${seq % o.vehicles}`, (o.tsBase ?? 0) + seq, o.padTo ?? 0, o.sentAt === true), channel);
      if ((i + 1) % yieldEvery === 0) {
        const due = o.ratePerSec ? started + ((i + 1) * 1000) / o.ratePerSec : 0;
        const wait = due - performance.now();
        await new Promise((resolve) => (wait > 1 ? setTimeout(resolve, wait) : setImmediate(resolve)));
      }
    }
    return { sent: o.count, ms: performance.now() - started };
  },
  /** This process's CPU time (main and worker threads), µs, and a monotonic timestamp, ms. */
  cpuUsage: () => ({ ...process.cpuUsage(), at: performance.now() }),
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
