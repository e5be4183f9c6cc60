/**
 * A partisan-ts node in its own process for the benchmarks (p2p, hol, fleet, rpc): start it,
 * join it to a peer, then drive load generators and sinks by command. Load is generated here,
 * in the node's process, as an application would; the orchestrator only sends commands.
 *
 * Sinks are mailboxes consumed in batches (`receiveMany`), recording each message's one-way
 * latency (its `ts` is the sender's wall clock: same machine, same clock). Only messages that
 * arrive inside the measured window count, so every process of a run measures one interval.
 */
import type { Histogram } from 'hdr-histogram-js';
import { createRpc, type Rpc } from '../../src/rpc/index.js';
import { startNode, type Destination, type ForwardOptions, type Node } from '../../src/node/node.js';
import type { Process } from '../../src/process/process.js';
import { encodeHistogram, latencyHistogram, recordMs, summarize, wallClockMs } from '../lib/histogram.js';
import { gpsRecord, paddingFor, type GpsRecord } from '../lib/payload.js';
import { measured, serve } from '../lib/serve.js';
import { scheduleWindow } from '../lib/usage.js';

let node: Node | undefined;
let rpc: Rpc | undefined;
/** The measured window, wall-clock ms. */
let from = Number.POSITIVE_INFINITY;
let to = Number.POSITIVE_INFINITY;

function need(): Node {
  if (!node) throw new Error('node not started');
  return node;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface SinkState {
  process: Process;
  /** Messages received in total, and inside the window. */
  total: number;
  counted: number;
  bytes: number;
  histogram: Histogram;
  /** Record the latency of every n-th message in the window (1 = all). */
  sampleEvery: number;
  /** Per source (`src` field): messages received in total. */
  bySource: number[];
  /** Keep the newest record per vehicle (fleet consumers). */
  latest: Map<string, GpsRecord> | undefined;
  lastArrival: number;
}

const sinks = new Map<string, SinkState>();

interface SinkOptions {
  sampleEvery?: number;
  latest?: boolean;
  /** Payload bytes per message for MB/s (the sender knows its wire size; default 0). */
  messageBytes?: number;
  mailboxCapacity?: number;
}

function startSink(name: string, options: SinkOptions = {}): string {
  const n = need();
  const process = n.spawnMailbox({ name, ...(options.mailboxCapacity ? { mailboxCapacity: options.mailboxCapacity } : {}) });
  const state: SinkState = {
    process,
    total: 0,
    counted: 0,
    bytes: 0,
    histogram: latencyHistogram(),
    sampleEvery: options.sampleEvery ?? 1,
    bySource: [],
    latest: options.latest ? new Map() : undefined,
    lastArrival: 0,
  };
  sinks.set(name, state);
  const messageBytes = options.messageBytes ?? 0;
  void (async () => {
    let k = 0;
    for (;;) {
      let batch: GpsRecord[];
      try {
        batch = await process.receiveMany<GpsRecord>(8192);
      } catch {
        return;
      }
      const now = wallClockMs();
      state.total += batch.length;
      state.lastArrival = now;
      const inWindow = now >= from && now < to;
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i]!;
        const src = m.src ?? 0;
        state.bySource[src] = (state.bySource[src] ?? 0) + 1;
        if (state.latest) {
          const prev = state.latest.get(m.vehicle);
          if (!prev || prev.seq < m.seq) state.latest.set(m.vehicle, m);
        }
        if (inWindow && ++k >= state.sampleEvery) {
          k = 0;
          recordMs(state.histogram, now - m.ts);
        }
      }
      if (inWindow) {
        state.counted += batch.length;
        state.bytes += batch.length * messageBytes;
      }
    }
  })();
  return process.pid;
}

function sinkResult(name: string) {
  const s = sinks.get(name);
  if (!s) throw new Error(`no sink ${name}`);
  return {
    total: s.total,
    counted: s.counted,
    bytes: s.bytes,
    bySource: s.bySource,
    latest: s.latest?.size,
    dropped: s.process.mailbox.dropped,
    queued: s.process.mailbox.size,
    lastArrival: s.lastArrival,
    latency: summarize(s.histogram),
    histogram: encodeHistogram(s.histogram),
  };
}

interface LoadOptions {
  dest: Destination | Destination[];
  channel?: string;
  /** Approximate wire bytes per message (100 → a plain GPS record). */
  messageBytes?: number;
  /** Stop sending at this wall-clock time. */
  untilWallMs: number;
  /** Number of distinct vehicles (partition keys); 0 = no partition key. */
  vehicles?: number;
  /** First vehicle number (fleet: each gateway has its own range). */
  vehicleBase?: number;
  src?: number;
  ack?: boolean;
  /** Acked sends in flight at most. */
  ackWindow?: number;
  /** Messages per macrotask before yielding to I/O (flood). */
  chunk?: number;
}

function forwardOptions(o: LoadOptions, key: string | undefined): ForwardOptions {
  const f: ForwardOptions = {};
  if (o.channel) f.channel = o.channel;
  if (key !== undefined) f.partitionKey = key;
  if (o.ack) f.ack = true;
  return f;
}

/** Send as fast as backpressure allows until the deadline. */
async function flood(o: LoadOptions) {
  const n = need();
  const dests = Array.isArray(o.dest) ? o.dest : [o.dest];
  const body = paddingFor(o.messageBytes ?? 100);
  const chunk = o.chunk ?? 1024;
  const vehicles = o.vehicles ?? 0;
  const base = o.vehicleBase ?? 0;
  const noKey: ForwardOptions = forwardOptions(o, undefined);
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let inFlight = 0;
  const ackWindow = o.ackWindow ?? 4096;
  let ackWake: (() => void) | undefined;
  const settle = (ok: boolean): void => {
    inFlight--;
    if (ok) acked++;
    else failed++;
    const w = ackWake;
    ackWake = undefined;
    w?.();
  };
  while (wallClockMs() < o.untilWallMs) {
    for (let i = 0; i < chunk; i++) {
      const v = vehicles > 0 ? base + (sent % vehicles) : sent;
      const record = gpsRecord(v, sent, wallClockMs(), o.src ?? 0, body);
      const opts = vehicles > 0 ? forwardOptions(o, record.vehicle) : noKey;
      for (const d of dests) {
        const r = n.forwardMessage(d, record, opts);
        if (o.ack) {
          inFlight++;
          (r as Promise<void>).then(() => settle(true), () => settle(false));
        } else if (r) {
          await r;
        }
      }
      sent++;
      while (o.ack && inFlight >= ackWindow) await new Promise<void>((resolve) => (ackWake = resolve));
    }
    await yieldToLoop();
  }
  while (o.ack && inFlight > 0) await new Promise<void>((resolve) => (ackWake = resolve));
  return { sent, acked, failed };
}

/** Send `ratePerSec` messages per second (to every destination) in ticks, until the deadline. */
async function paced(o: LoadOptions & { ratePerSec: number; tickMs?: number }) {
  const n = need();
  const dests = Array.isArray(o.dest) ? o.dest : [o.dest];
  const body = paddingFor(o.messageBytes ?? 100);
  const vehicles = o.vehicles ?? 0;
  const base = o.vehicleBase ?? 0;
  const tickMs = o.tickMs ?? 5;
  const started = wallClockMs();
  let sent = 0;
  let blocked = 0;
  const noKey = forwardOptions(o, undefined);
  for (;;) {
    const now = wallClockMs();
    if (now >= o.untilWallMs) break;
    // Drift-free: the count due by now, whatever the timer jitter was.
    const due = Math.floor(((now - started) * o.ratePerSec) / 1000) - sent;
    for (let i = 0; i < due; i++) {
      const v = vehicles > 0 ? base + (sent % vehicles) : sent;
      const record = gpsRecord(v, sent, wallClockMs(), o.src ?? 0, body);
      const opts = vehicles > 0 ? forwardOptions(o, record.vehicle) : noKey;
      for (const d of dests) {
        const r = n.forwardMessage(d, record, opts);
        if (r) {
          blocked++;
          await r;
        }
      }
      sent++;
    }
    await sleep(tickMs);
  }
  return { sent, blocked };
}

/** Bulk messages of `messageBytes` back to back, with backpressure, until the deadline. */
async function bulk(o: LoadOptions) {
  const n = need();
  const data = Buffer.alloc(o.messageBytes ?? 512 * 1024, 7);
  const opts = forwardOptions(o, undefined);
  const dest = Array.isArray(o.dest) ? o.dest[0]! : o.dest;
  let sent = 0;
  while (wallClockMs() < o.untilWallMs) {
    const r = n.forwardMessage(dest, { ts: wallClockMs(), src: 0, seq: sent, vehicle: 'bulk', data }, opts);
    sent++;
    if (r) await r;
    else await yieldToLoop();
  }
  return { sent, bytes: sent * data.length };
}

/** RPC round trips, `inFlight` concurrent callers, until the deadline. */
async function rpcLoop(o: { peer: string; inFlight: number; untilWallMs: number; payloadBytes?: number }) {
  const r = rpc ?? (rpc = createRpc(need()));
  const h = latencyHistogram();
  const arg = gpsRecord(1, 0, 0);
  let calls = 0;
  let counted = 0;
  let errors = 0;
  const caller = async (): Promise<void> => {
    while (wallClockMs() < o.untilWallMs) {
      const t0 = wallClockMs();
      try {
        await r.call(o.peer, 'bench.echo', [arg], { timeout: 10_000 });
      } catch {
        errors++;
        continue;
      }
      const t1 = wallClockMs();
      calls++;
      if (t0 >= from && t1 < to) {
        counted++;
        recordMs(h, t1 - t0);
      }
    }
  };
  await Promise.all(Array.from({ length: o.inFlight }, caller));
  return { calls, counted, errors, latency: summarize(h), histogram: encodeHistogram(h) };
}

serve({
  async start(options: Record<string, unknown>) {
    node = await startNode({ logLevel: 'warn', ...options } as never);
    return { node: node.node(), spec: node.nodeSpec() };
  },
  join: (spec: never) => need().join(spec),
  /** Resolve once `peer` is connected on every channel given (or any, when none). */
  async waitConnected(peer: string, channels: string[] = [], timeoutMs = 15_000) {
    const n = need();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = channels.length === 0 ? n.isConnected(peer) : channels.every((c) => n.isConnected(peer, c));
      if (ok) return true;
      if (Date.now() > deadline) throw new Error(`${n.node()} not connected to ${peer} on ${channels.join(',') || 'any channel'} within ${timeoutMs} ms`);
      await sleep(20);
    }
  },
  /** Set the measured window (sinks, RPC latencies, CPU time) in wall-clock ms. */
  measure(fromWallMs: number, toWallMs: number) {
    from = fromWallMs;
    to = toWallMs;
    scheduleWindow(measured, fromWallMs, toWallMs, wallClockMs());
  },
  sink: (name: string, options?: SinkOptions) => startSink(name, options),
  sinkResult: (name: string) => sinkResult(name),
  /** Zero a sink's window counters and latencies (a new step of the same run). */
  sinkReset(name: string) {
    const s = sinks.get(name);
    if (!s) throw new Error(`no sink ${name}`);
    s.counted = 0;
    s.bytes = 0;
    s.histogram.reset();
    return true;
  },
  /** Cheap progress probe. */
  sinkCount: (name: string) => sinks.get(name)?.total ?? 0,
  flood: (o: LoadOptions) => flood(o),
  paced: (o: LoadOptions & { ratePerSec: number; tickMs?: number }) => paced(o),
  bulk: (o: LoadOptions) => bulk(o),
  rpcServe() {
    rpc ??= createRpc(need());
    rpc.register('bench.echo', (x: unknown) => x);
    return true;
  },
  rpcLoop: (o: { peer: string; inFlight: number; untilWallMs: number }) => rpcLoop(o),
  /** Wire counters, dead letters, and outbound queue totals when the node keeps them. */
  stats() {
    const n = need();
    const queues = (n as unknown as { queues?: { totals(): Array<Record<string, number | string>> } }).queues?.totals();
    return { ...n.stats(), queues: queues ?? [] };
  },
  async stop() {
    await node?.stop();
    node = undefined;
    return true;
  },
});
