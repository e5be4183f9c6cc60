/**
 * Broadcast fan-out: one origin broadcasts 100-byte GPS records on channel `gps`
 * (latestPosition, Plumtree) to N receiver node processes on loopback (N = 4 and 8 by default), with the channel's
 * Plumtree server in a worker thread and, in the same run, on the main thread
 * (`broadcast.gps.worker: false`), so the worker design's gain is a ratio.
 *
 * `runBroadcastBench(options)` is the entry point (the unified bench harness imports it);
 * run.ts is its CLI. Nodes are real processes driven over IPC (test/integration/harness), each
 * fresh per variant. Per variant:
 * 1. warm-up: `warmupRecords` records, closed loop — the first flood builds the tree;
 * 2. throughput: `records` records, closed loop — the origin sends `chunk` records per call and
 *    waits whenever more than `window` records are not yet delivered at the slowest receiver
 *    (the receivers' subscriptions count deliveries and release the wait: no polling);
 *    deliveries/s, CPU per node (process.cpuUsage, main and worker threads), RMR from the
 *    Plumtree counters, latency under saturation;
 * 3. latency: `latencyRate` records/s for `latencyMs`, open loop; origin → subscriber latency
 *    from the wall-clock `sentAt` in each record, into hdr histograms merged across receivers.
 * Every record is a distinct vehicle, so none is superseded (latestPosition would otherwise
 * legitimately skip versions, and delivery counts would no longer be exact).
 */
import { build, decodeFromCompressedBase64, type Histogram } from 'hdr-histogram-js';
import { NodeProcess } from '../../test/integration/harness/node-process.js';
import { benchEnv, finishEnv } from '../lib/env.js';
import {
  variantName,
  type BroadcastBenchResolvedOptions,
  type BroadcastBenchResult,
  type BroadcastRun,
  type BroadcastRunMetrics,
  type PlumtreeMode,
} from './report.js';

export type { BroadcastBenchResult } from './report.js';

export interface BroadcastBenchOptions {
  /** A smoke run: 2 receivers, few records, short phases. Default false. */
  quick?: boolean;
  /** Node processes per variant, origin included (N receivers + 1). Default [5, 9]: fan-out to 4 and 8 receivers; quick [3]. */
  nodes?: number[];
  /** Where the Plumtree server runs. Default ['worker', 'main']. */
  modes?: PlumtreeMode[];
  /** Records of the throughput phase. Default 40,000; quick 1,000. */
  records?: number;
  /** Records of the warm-up (tree building). Default 2,000; quick 200. */
  warmupRecords?: number;
  /** msgpack size of one record, bytes. Default 100. */
  recordBytes?: number;
  /** Records per origin call in the closed loop. Default 500. */
  chunk?: number;
  /** Records in flight (sent, not yet delivered at the slowest receiver), at most 8,000. Default 4,000. */
  window?: number;
  /** Offered load of the latency phase, records/s. Default 1,000. */
  latencyRate?: number;
  /** Length of the latency phase, ms. Default 5,000; quick 500. */
  latencyMs?: number;
  /** Peer service of the nodes. Default 'fullMesh'. */
  peerService?: 'fullMesh' | 'hyparview';
  /** Transport. Default 'quic'. */
  transport?: 'quic' | 'tcp';
  /** Measure every variant this many times (interleaved); the median is kept. Default 1. */
  repeat?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** Effectively one vehicle per record (see the file comment). */
const UNIQUE_VEHICLES = Number.MAX_SAFE_INTEGER;
const WAIT_MS = 60_000;

export function resolveBroadcastBenchOptions(o: BroadcastBenchOptions = {}): BroadcastBenchResolvedOptions {
  const quick = o.quick === true;
  const positive = (field: string, v: number | undefined, fallback: number): number => {
    const x = v ?? fallback;
    if (!Number.isInteger(x) || x <= 0) throw new RangeError(`${field}: expected a positive integer, got ${String(v)}`);
    return x;
  };
  const nodes = o.nodes ?? (quick ? [3] : [5, 9]);
  if (nodes.length === 0 || nodes.some((n) => !Number.isInteger(n) || n < 2)) throw new RangeError('nodes: expected integers >= 2');
  const modes = o.modes ?? ['worker', 'main'];
  if (modes.length === 0 || modes.some((m) => m !== 'worker' && m !== 'main')) throw new RangeError("modes: expected 'worker' and/or 'main'");
  const chunk = positive('chunk', o.chunk, 500);
  const window = positive('window', o.window, 4_000);
  if (window < chunk) throw new RangeError('window: expected at least chunk');
  // Receivers count deliveries on their subscription, whose buffers hold 10,000 updates (drop-oldest):
  // more in flight could overflow them, and a dropped update would look like a lost record.
  if (window > 8_000) throw new RangeError('window: at most 8000 (subscriber buffers hold 10,000 updates)');
  const r: Omit<BroadcastBenchResolvedOptions, 'method'> = {
    quick,
    nodes,
    modes,
    records: positive('records', o.records, quick ? 1_000 : 40_000),
    warmupRecords: positive('warmupRecords', o.warmupRecords, quick ? 200 : 2_000),
    recordBytes: positive('recordBytes', o.recordBytes, 100),
    vehicles: UNIQUE_VEHICLES,
    chunk,
    window,
    latencyRate: positive('latencyRate', o.latencyRate, 1_000),
    latencyMs: positive('latencyMs', o.latencyMs, quick ? 500 : 5_000),
    peerService: o.peerService ?? 'fullMesh',
    transport: o.transport ?? 'quic',
    repeat: positive('repeat', o.repeat, 1),
  };
  return {
    ...r,
    method:
      `one origin and N receivers, each a fresh node process per variant (${r.transport}, ${r.peerService}, channel gps, latestPosition, Plumtree defaults); ` +
      `${r.warmupRecords} warm-up records, then ${r.records} records closed loop (${r.chunk} per origin call, at most ${r.window} undelivered at the slowest receiver), ` +
      `then ${r.latencyRate} records/s for ${r.latencyMs} ms open loop. Records of ${r.recordBytes} B (msgpack), one vehicle each. ` +
      'deliveries = records reaching receivers\u2019 subscriptions; latency = subscriber receive time − sentAt stamped at broadcast() (wall clock, one machine), hdr-histogram-js merged over receivers; ' +
      'RMR = payloads received / deliveries − 1 over the throughput phase; CPU = process.cpuUsage (all threads) / wall time, % of one core.',
  };
}

function histogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

type Metrics = Record<string, number>;
type Cpu = { user: number; system: number; at: number };

/** One variant: N fresh node processes, the three phases, everything killed at the end. */
async function measure(o: BroadcastBenchResolvedOptions, mode: PlumtreeMode, n: number, log: (line: string) => void): Promise<BroadcastRun> {
  const options = (i: number): Record<string, unknown> => ({
    name: `b${i}@127.0.0.1`,
    host: '127.0.0.1',
    port: 0,
    transport: o.transport,
    peerService: o.peerService,
    membership: o.peerService === 'fullMesh' ? { gossipIntervalMs: 500 } : { shuffleInterval: 1_000, randomPromotionInterval: 300 },
    channels: [{ name: 'gps', parallelism: 1 }],
    broadcast: { gps: { handler: 'latestPosition', ...(mode === 'main' ? { worker: false } : {}) } },
  });
  const procs: NodeProcess[] = [];
  try {
    procs.push(...(await Promise.all(Array.from({ length: n }, (_, i) => NodeProcess.start(options(i))))));
    for (const p of procs.slice(1)) await p.call('join', procs[0]!.spec);
    await overlayReady(procs, o.peerService);
    const origin = procs[0]!;
    const receivers = procs.slice(1);
    await Promise.all(receivers.map((r) => r.call('track', 'gps', { latency: true })));

    let seq = 0;
    const send = async (count: number, extra: Record<string, unknown> = {}): Promise<void> => {
      await origin.call('broadcastPositions', 'gps', { prefix: 'v', vehicles: o.vehicles, from: seq, count, padTo: o.recordBytes, sentAt: true, yieldEvery: count, ...extra });
      seq += count;
    };
    const delivered = async (min: number): Promise<void> => {
      const ok = await Promise.all(receivers.map((r) => r.call<boolean>('waitTracked', 'gps', min, WAIT_MS)));
      const stalled = receivers.filter((_, i) => !ok[i]);
      if (stalled.length > 0) throw new Error(`${stalled.map((r) => r.name).join(', ')} did not get ${min} records within ${WAIT_MS} ms`);
    };
    const pump = async (count: number): Promise<void> => {
      const target = seq + count;
      while (seq < target) {
        await send(Math.min(o.chunk, target - seq));
        if (seq > o.window) await delivered(seq - o.window);
      }
      await delivered(target);
    };
    const merged = async (): Promise<Histogram> => {
      const total = histogram();
      for (const r of receivers) {
        const { histogram: b64 } = await r.call<{ histogram?: string }>('tracked', 'gps', { histogram: true, reset: true });
        if (b64) total.add(decodeFromCompressedBase64(b64));
      }
      return total;
    };
    const snapshot = (): Promise<Array<{ m: Metrics; cpu: Cpu }>> =>
      Promise.all(procs.map(async (p) => ({ m: await p.call<Metrics>('broadcastMetrics', 'gps'), cpu: await p.call<Cpu>('cpuUsage') })));

    await pump(o.warmupRecords);
    await merged(); // drop the warm-up's latencies

    const before = await snapshot();
    const t0 = performance.now();
    const s0 = seq;
    await pump(o.records);
    const seconds = (performance.now() - t0) / 1000;
    const after = await snapshot();
    const saturated = await merged();

    const count = Math.max(1, Math.round((o.latencyRate * o.latencyMs) / 1000));
    await send(count, { ratePerSec: o.latencyRate, yieldEvery: Math.max(1, Math.round(o.latencyRate / 200)) });
    await delivered(seq);
    const latency = await merged();

    const delta = (i: number, key: string): number => (after[i]!.m[key] ?? 0) - (before[i]!.m[key] ?? 0);
    const sumDelta = (key: string, from = 0): number => procs.slice(from).reduce((s, _, i) => s + delta(i + from, key), 0);
    const cpuPct = procs.map((_, i) => {
      const a = after[i]!.cpu;
      const b = before[i]!.cpu;
      return (((a.user - b.user + a.system - b.system) / 1000) * 100) / Math.max(1e-9, a.at - b.at);
    });
    const records = seq - s0 - count;
    const deliveries = records * receivers.length;
    const receiverCpu = cpuPct.slice(1);
    const metrics: BroadcastRunMetrics = {
      deliveriesPerSec: deliveries / seconds,
      recordsPerSec: records / seconds,
      records,
      deliveries,
      seconds,
      latencyP50Ms: latency.getValueAtPercentile(50) / 1000,
      latencyP99Ms: latency.getValueAtPercentile(99) / 1000,
      latencyMaxMs: latency.maxValue / 1000,
      saturatedP50Ms: saturated.getValueAtPercentile(50) / 1000,
      saturatedP99Ms: saturated.getValueAtPercentile(99) / 1000,
      rmr: sumDelta('received') / Math.max(1, sumDelta('delivered', 1)) - 1,
      cpuOriginPct: cpuPct[0]!,
      cpuReceiverMeanPct: receiverCpu.reduce((s, x) => s + x, 0) / receiverCpu.length,
      cpuReceiverMaxPct: Math.max(...receiverCpu),
      sendsRefused: sumDelta('sendsRefused'),
      broadcastsDropped: sumDelta('broadcastsDropped'),
      grafts: sumDelta('graftsSent'),
    };
    log(
      `${variantName(mode, n)}: ${Math.round(metrics.deliveriesPerSec)} deliveries/s, p50 ${metrics.latencyP50Ms.toFixed(2)} ms, p99 ${metrics.latencyP99Ms.toFixed(2)} ms ` +
        `(saturated ${metrics.saturatedP50Ms.toFixed(1)} / ${metrics.saturatedP99Ms.toFixed(1)} ms), RMR ${metrics.rmr.toFixed(2)}, CPU origin ${metrics.cpuOriginPct.toFixed(0)}%, receivers ${metrics.cpuReceiverMeanPct.toFixed(0)}%`,
    );
    return { variant: variantName(mode, n), mode, nodes: n, metrics, cpuPerNodePct: cpuPct };
  } finally {
    await Promise.all(procs.map((p) => p.kill()));
  }
}

/** Every node has its broadcast members (all the others in a full mesh, at least 3 under HyParView), each on a live gps lane. */
async function overlayReady(procs: readonly NodeProcess[], peerService: BroadcastBenchResolvedOptions['peerService']): Promise<void> {
  const want = peerService === 'fullMesh' ? procs.length - 1 : Math.min(3, procs.length - 1);
  const deadline = Date.now() + 60_000;
  const ready = async (p: NodeProcess): Promise<boolean> => {
    const members = await p.call<string[]>('broadcastMembers');
    if (members.length < want) return false;
    return (await Promise.all(members.map((m) => p.call<boolean>('isConnected', m, 'gps')))).every(Boolean);
  };
  while (!(await Promise.all(procs.map(ready))).every(Boolean)) {
    if (Date.now() > deadline) throw new Error('the overlay did not form within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs every (node count, mode) variant and returns the result document (also what `--json` writes). */
export async function runBroadcastBench(options: BroadcastBenchOptions = {}): Promise<BroadcastBenchResult> {
  const o = resolveBroadcastBenchOptions(options);
  const log = options.log ?? (() => {});
  const result: BroadcastBenchResult = {
    scenario: 'broadcast',
    env: benchEnv(),
    options: o,
    runs: [],
    skipped: [],
  };
  const samples = new Map<string, BroadcastRun[]>();
  const failures = new Map<string, string>();
  // Repeats outermost, modes innermost: worker and main alternate, so load elsewhere hits both alike.
  for (let round = 0; round < o.repeat; round++) {
    for (const n of o.nodes) {
      for (const mode of o.modes) {
        const variant = variantName(mode, n);
        if (failures.has(variant)) continue;
        try {
          const run = await measure(o, mode, n, log);
          samples.set(variant, [...(samples.get(variant) ?? []), run]);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          failures.set(variant, reason);
          log(`${variant}: skipped: ${reason.split('\n')[0]}`);
        }
      }
    }
  }
  for (const [variant, runs] of samples) {
    if (failures.has(variant)) continue;
    const sorted = [...runs].sort((x, y) => x.metrics.deliveriesPerSec - y.metrics.deliveriesPerSec);
    result.runs.push({ ...sorted[(sorted.length - 1) >> 1]!, samplesDeliveriesPerSec: runs.map((r) => r.metrics.deliveriesPerSec) });
  }
  for (const [variant, reason] of failures) result.skipped.push({ variant, reason });
  finishEnv(result.env);
  return result;
}
