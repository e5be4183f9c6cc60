/**
 * `partisan-ts demo`: a 4-node cluster on loopback in this process (QUIC, authenticated by an
 * in-memory development CA), fed by a simulated fleet. Gateway nodes ingest the fleet's GPS
 * fixes and (1) broadcast each on channel `gps` (Plumtree, `latestPosition` handler, one
 * worker thread per node), and (2) forward it point-to-point on channel `events`, keyed by
 * vehicle, to the `tracker` process of the operations node that owns the vehicle. Every node
 * subscribes to `gps`. Delivered = broadcast updates at nodes other than the origin + tracker
 * messages; latency = arrival − fix time (one process, one clock), in an HDR histogram.
 */
import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';
import { startNode, type Node } from '../node/node.js';
import type { TransportKind } from '../node/node-options.js';
import { isPartisanError } from '../util/errors.js';
import { Fleet, type GpsFix } from './fleet.js';
import { renderPlain, renderScreen, type DemoFrame } from './view.js';

export interface DemoOptions {
  /** Nodes in the cluster (≥ 2): half gateways, half operations nodes. Default 4. */
  nodes?: number;
  /** Simulated vehicles. Default 2000. */
  vehicles?: number;
  /** Report period per vehicle, ms. Default 1000. */
  intervalMs?: number;
  /** Stop after this many seconds; undefined runs until `signal` aborts. */
  durationS?: number;
  /** 'quic' or 'tcp'. Default 'quic', or 'tcp' where the QUIC binding cannot load. */
  transport?: Extract<TransportKind, 'quic' | 'tcp'>;
  /** Authenticate the cluster with an in-memory development CA. Default true. */
  secure?: boolean;
  /** Where the view goes. Default process.stdout. */
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Redraw a live screen (true) or print plain progress lines. Default: whether `out` is a TTY. */
  live?: boolean;
  /** Stops the demo (Ctrl-C). */
  signal?: AbortSignal;
  /** Fleet seed. Default 1. */
  seed?: number;
}

export interface DemoSummary {
  nodes: number;
  vehicles: number;
  seconds: number;
  /** Fixes the gateways ingested. */
  fixes: number;
  delivered: number;
  deliveredPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  dropped: number;
  /** Broadcast updates superseded by a newer fix of the same vehicle before a subscriber took them (latest wins). */
  superseded: number;
  /** Whether every node ended with every vehicle's newest fix. */
  converged: boolean;
  line: string;
}

const TICK_MS = 20;
const FORM_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 5_000;

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function histogram(): Histogram {
  // Microseconds, up to 10 minutes; 3 significant digits.
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolve once `cond()` holds, checking every `stepMs`; reject after `limitMs`. */
async function until(cond: () => boolean, what: string, limitMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (signal?.aborted) throw new Error(`demo interrupted while waiting: ${what}`);
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting: ${what}`);
    await sleep(20, signal);
  }
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const n = Math.max(2, options.nodes ?? 4);
  const out = options.out ?? process.stdout;
  const live = options.live ?? out.isTTY === true;
  let transport = options.transport ?? 'quic';
  const gatewayCount = Math.max(1, Math.floor(n / 2));
  const names = Array.from({ length: n }, (_, i) => (i < gatewayCount ? `gw${i + 1}@127.0.0.1` : `ops${i - gatewayCount + 1}@127.0.0.1`));
  const nodes: Node[] = [];
  const stoppers: Array<() => void> = [];
  const print = (text: string): void => void out.write(text);
  try {
    print(live ? '\x1b[?25l' : '');
    if (!live) print(`demo: starting ${n} nodes (${transport}${options.secure === false ? '' : ', development CA'}) and ${options.vehicles ?? 2000} vehicles\n`);
    const start = (name: string): Promise<Node> =>
      startNode({
        name,
        transport,
        channels: [{ name: 'gps', parallelism: 2 }, { name: 'events', parallelism: 2 }],
        broadcast: { gps: { handler: 'latestPosition' } },
        ...(options.secure === false ? {} : { security: { ca: 'dev' as const } }),
        logLevel: 'warn',
        membership: { gossipIntervalMs: 500 },
      });
    for (const name of names) {
      try {
        nodes.push(await start(name));
      } catch (err) {
        // No QUIC binary for this platform: the demo still runs, over tcp.
        if (!(nodes.length === 0 && options.transport === undefined && isPartisanError(err, 'ERR_TRANSPORT_UNAVAILABLE'))) throw err;
        print(`demo: QUIC is not available here (${(err as Error).message}); using tcp\n`);
        transport = 'tcp';
        nodes.push(await start(name));
      }
    }
    for (const node of nodes.slice(1)) node.join(nodes[0]!.nodeSpec());
    await until(
      () => nodes.every((a) => a.members().length === n && nodes.every((b) => a === b || a.isFullyConnected(b.nodeString()))),
      `${n} nodes to form a full mesh`,
      FORM_TIMEOUT_MS,
      options.signal,
    );

    const gateways = nodes.slice(0, gatewayCount);
    const ops = nodes.slice(gatewayCount);
    const owners = ops.length > 0 ? ops : nodes;
    const total = histogram();
    let window = histogram();
    let delivered = 0;
    let windowDelivered = 0;
    let sendFailures = 0;
    const latest: Array<Map<string, number>> = nodes.map(() => new Map());
    const sentLatest = new Map<string, number>();
    const record = (fix: GpsFix): void => {
      const us = Math.max(1, Math.round((nowMs() - fix.ts) * 1000));
      total.recordValue(us);
      window.recordValue(us);
      delivered++;
      windowDelivered++;
    };

    // Every node subscribes to gps; the operations nodes run a tracker for their vehicles.
    const loops: Promise<void>[] = [];
    nodes.forEach((node, i) => {
      const self = node.nodeString();
      const updates = node.subscribe('gps');
      stoppers.push(() => void updates.return?.());
      loops.push(
        (async () => {
          for await (const batch of updates) {
            for (const u of batch as GpsFix[]) {
              latest[i]!.set(u.vehicleId, Math.max(latest[i]!.get(u.vehicleId) ?? 0, u.ts));
              if (u.gw !== self) record(u);
            }
          }
        })().catch(() => {}),
      );
    });
    for (const node of owners) {
      node.spawn(
        async (self) => {
          for (;;) {
            const batch = await self.receiveMany<GpsFix>(4096).catch(() => undefined);
            if (!batch) return;
            for (const fix of batch) record(fix);
          }
        },
        { name: 'tracker' },
      );
    }

    const fleet = new Fleet({ vehicles: options.vehicles ?? 2000, intervalMs: options.intervalMs ?? 1000, seed: options.seed ?? 1 }, Date.now());
    const gatewayOf = (i: number): string => gateways[i % gateways.length]!.nodeString();
    const ownerOf = (i: number): string => owners[i % owners.length]!.nodeString();
    const byName = new Map(nodes.map((x) => [x.nodeString(), x]));
    const started = Date.now();
    let fixes = 0;
    let lastFrame = started;
    let peak = 0;
    const stopAt = options.durationS === undefined ? Infinity : started + options.durationS * 1000;
    const vehicleIndex = new Map<string, number>();
    const indexOf = (id: string): number => {
      let i = vehicleIndex.get(id);
      if (i === undefined) vehicleIndex.set(id, (i = Number(id.slice(4)) - 1));
      return i;
    };

    const frame = (): DemoFrame => {
      const at = Date.now();
      const seconds = Math.max(0.001, (at - lastFrame) / 1000);
      const f: DemoFrame = {
        elapsedS: (at - started) / 1000,
        durationS: options.durationS,
        transport,
        vehicles: fleet.size,
        fixesTotal: fixes,
        deliveredPerSecond: windowDelivered / seconds,
        peakPerSecond: (peak = Math.max(peak, windowDelivered / seconds)),
        p50Ms: window.totalCount > 0 ? window.getValueAtPercentile(50) / 1000 : 0,
        p99Ms: window.totalCount > 0 ? window.getValueAtPercentile(99) / 1000 : 0,
        deliveredTotal: delivered,
        dropped: 0,
        nodes: nodes.map((node) => ({
          name: node.nodeString(),
          role: gateways.includes(node) ? 'gateway' : 'operations',
          members: node.members().length,
          peers: node.peerConnections().map((p) => ({
            node: p.node,
            channels: p.channels.map((c) => ({ name: c.name, open: node.connectionTable.openStreams(p.node, c.name), parallelism: c.parallelism })),
            rttMs: p.rttMs,
          })),
        })),
      };
      window = histogram();
      windowDelivered = 0;
      lastFrame = at;
      return f;
    };

    // Drive: every tick, the fixes that fell due go to their gateway.
    while (!options.signal?.aborted && Date.now() < stopAt) {
      const tickStart = Date.now();
      for (const fix of fleet.due(tickStart, (i) => gatewayOf(i), nowMs)) {
        const i = indexOf(fix.vehicleId);
        const gw = byName.get(fix.gw)!;
        fixes++;
        sentLatest.set(fix.vehicleId, fix.ts);
        try {
          gw.broadcast(fix, 'gps');
          const owner = ownerOf(i);
          if (owner !== fix.gw) void gw.forwardMessage({ name: 'tracker', node: owner }, fix, { channel: 'events', partitionKey: fix.vehicleId });
          else record(fix);
        } catch {
          sendFailures++;
        }
      }
      if (tickStart - lastFrame >= 1000) {
        const f = frame();
        f.dropped = (await droppedCount(nodes)).dropped + sendFailures;
        print(live ? renderScreen(f) : `${renderPlain(f)}\n`);
      }
      await sleep(Math.max(1, TICK_MS - (Date.now() - tickStart)), options.signal);
    }
    const measuredS = (Date.now() - started) / 1000;

    // Let in-flight traffic land: every node should end with every vehicle's newest fix.
    const converged = (): boolean => latest.every((m) => [...sentLatest].every(([v, ts]) => (m.get(v) ?? 0) >= ts));
    const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (!converged() && Date.now() < drainDeadline) await sleep(20);
    const isConverged = converged();
    const drops = await droppedCount(nodes);
    const dropped = drops.dropped + sendFailures;
    const summary: DemoSummary = {
      nodes: n,
      vehicles: fleet.size,
      seconds: measuredS,
      fixes,
      delivered,
      deliveredPerSecond: delivered / Math.max(0.001, measuredS),
      p50Ms: total.totalCount > 0 ? total.getValueAtPercentile(50) / 1000 : 0,
      p99Ms: total.totalCount > 0 ? total.getValueAtPercentile(99) / 1000 : 0,
      maxMs: total.totalCount > 0 ? total.maxValue / 1000 : 0,
      dropped,
      superseded: drops.superseded,
      converged: isConverged,
      line: '',
    };
    summary.line = `demo: ${n} nodes, ${Math.round(summary.deliveredPerSecond)} msgs/s delivered, p99 ${summary.p99Ms.toFixed(1)} ms, ${dropped} dropped`;
    if (live) print('\x1b[?25h\n');
    print(
      `demo: ${fixes} fixes from ${fleet.size} vehicles in ${measuredS.toFixed(1)} s, ${delivered} deliveries (broadcast + point-to-point), ` +
        `p50 ${summary.p50Ms.toFixed(1)} ms, max ${summary.maxMs.toFixed(1)} ms, ${summary.superseded} superseded, ` +
        `${isConverged ? 'every node has every vehicle\u2019s latest position' : 'NOT converged'}\n`,
    );
    print(`${summary.line}\n`);
    return summary;
  } finally {
    if (live) print('\x1b[?25h');
    for (const stop of stoppers) stop();
    await Promise.allSettled(nodes.map((node) => node.stop()));
  }
}

/** Lost messages across the cluster, and latest-wins superseded updates (not a loss). */
async function droppedCount(nodes: Node[]): Promise<{ dropped: number; superseded: number }> {
  let dropped = 0;
  let superseded = 0;
  for (const node of nodes) {
    if (node.isStopped) continue;
    const m: Record<string, number> = (await node.broadcasts().metrics("gps").catch(() => undefined))?.["gps"] ?? {};
    dropped += (m.framesDroppedRestarting ?? 0) + (m.broadcastsDropped ?? 0) + (m.sendsRefused ?? 0) + (m.subscriberDrops ?? 0) + (m.overloadDropped ?? 0);
    superseded += (m.updatesDropped ?? 0) + (m['handler.updatesDropped'] ?? 0);
    for (const q of node.queues.totals()) dropped += q.droppedOldest + q.rejected + q.discarded;
    dropped += node.stats().deadLetters ?? 0;
  }
  return { dropped, superseded };
}
