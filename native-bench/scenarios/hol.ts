/**
 * hol — head-of-line blocking, the Partisan paper's headline. On one peer pair, `bulk` carries
 * 512 KiB (and 8 MiB) messages back to back while `gps` carries 100 B records at a fixed rate;
 * gps one-way latency is the figure. Variants, in one run:
 *
 * - `quic-idle`: gps alone over quic (the reference the inflation is a ratio of);
 * - `quic-channels`: partisan-ts quic, gps and bulk on their own streams (channel lanes with
 *   receiver credits bounding bulk bytes in flight);
 * - `tcp-channels`: partisan-ts tcp, a socket per (channel, slot);
 * - `tcp-single`: one node:net connection carrying both, whole messages in order — distributed
 *   Erlang's shape (native-bench/roles/raw.ts).
 *
 * With --rtt, each runs again through the userspace delay proxy (roles/proxy.ts): UDP for
 * quic, TCP for the tcp variants. Target: quic-channels gps p99 ≤ 2 × quic-idle p99.
 */
import { BenchChild, stopAll } from '../lib/child.js';
import { benchEnv, finishEnv } from '../lib/env.js';
import { fixed, ms, sizeLabel, table } from '../lib/format.js';
import type { LatencySummary } from '../lib/histogram.js';
import { type BenchDocument, type BenchRun, type BenchSkip } from '../lib/result.js';
import { attempt, planWindow, round, sleep, sleepUntil, startRole, usageOf, type Scenario, type ScenarioContext } from '../lib/scenario.js';
import { connect, startNodeRoles, stopNodes, type SinkAnswer, type StartedNode } from './common.js';

/**
 * `quic-channels` and `tcp-channels` follow every head-of-line rule, bulk decoded in the
 * receiver's decode worker (`decode: 'worker'`); `quic-channels-main` is quic-channels with bulk
 * decoded on the main thread, so what the decode worker buys is a ratio from the same run.
 */
export const HOL_VARIANTS = ['quic-idle', 'quic-channels', 'quic-channels-main', 'tcp-channels', 'tcp-single'] as const;
export type HolVariant = (typeof HOL_VARIANTS)[number];
const TARGET_RATIO = 2;
const GPS_BYTES = 100;
/**
 * Receiver credits on the bulk channel (DESIGN.md: 256 KiB–1 MiB). The low end: bulk bytes in
 * flight sit ahead of gps packets in the connection's single packet stream (the binding has no
 * stream priorities), and measured here 256 KiB cut gps p99 under 512 KiB bulk from ~12 to
 * ~9 ms at loopback with no loss of bulk MB/s.
 */
const BULK_CREDIT_BYTES = 256 * 1024;

export interface HolLoad {
  variant: HolVariant;
  bulkBytes: number;
  rttMs: number;
  gpsRate: number;
}

function gpsLatency(l: LatencySummary): Record<string, number> {
  return { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p999, max: l.max };
}

async function startProxy(ctx: ScenarioContext, protocol: 'udp' | 'tcp', port: number, rttMs: number): Promise<{ proxy: BenchChild; port: number }> {
  const proxy = await startRole(ctx, 'proxy', 'proxy');
  try {
    return { proxy, port: await proxy.call<number>('start', protocol, port, rttMs / 2) };
  } catch (err) {
    proxy.kill();
    throw err;
  }
}

export async function runChannels(ctx: ScenarioContext, load: HolLoad, label: string): Promise<Record<string, unknown>> {
  const transport = load.variant === 'tcp-channels' ? 'tcp' : 'quic';
  const decode = load.variant === 'quic-channels-main' ? 'main' : 'worker';
  const options = {
    transport,
    channels: [
      { name: 'gps', parallelism: 1 },
      { name: 'bulk', parallelism: 1, creditBytes: BULK_CREDIT_BYTES, decode },
    ],
    wire: { maxFrameSize: 16 * 1024 * 1024 },
  };
  const nodes: StartedNode[] = [];
  let proxy: BenchChild | undefined;
  ctx.progress.update(label, 'starting');
  try {
    nodes.push(...(await startNodeRoles(ctx, ['receiver', 'sender'], options)));
    const [b, a] = nodes as [StartedNode, StartedNode];
    let via: { host: string; port: number } | undefined;
    if (load.rttMs > 0) {
      const p = await startProxy(ctx, transport === 'quic' ? 'udp' : 'tcp', b.spec.listenAddrs[0]!.port, load.rttMs);
      proxy = p.proxy;
      via = { host: '127.0.0.1', port: p.port };
    }
    await b.child.call('sink', 'gps', { messageBytes: GPS_BYTES, sampleEvery: 1 });
    await b.child.call('sink', 'bulk', { messageBytes: load.bulkBytes, sampleEvery: 1 });
    await connect(a, b, ['gps', 'bulk'], via);
    const w = planWindow(ctx);
    const all = [...nodes.map((n) => n.child), ...(proxy ? [proxy] : [])];
    await Promise.all(nodes.map((n) => n.child.call('measure', w.from, w.to)));
    if (proxy) await proxy.call('window', w.from, w.to);
    await sleepUntil(w.start);
    const gps = a.child.call<{ sent: number }>('paced', { dest: { name: 'gps', node: b.name }, channel: 'gps', messageBytes: GPS_BYTES, ratePerSec: load.gpsRate, untilWallMs: w.to });
    const bulk = load.bulkBytes > 0 ? a.child.call<{ sent: number }>('bulk', { dest: { name: 'bulk', node: b.name }, channel: 'bulk', messageBytes: load.bulkBytes, untilWallMs: w.to }) : Promise.resolve({ sent: 0 });
    const [g] = await ctx.progress.during(label, Promise.all([gps, bulk]));
    await sleep(300);
    const gpsSink = await b.child.call<SinkAnswer>('sinkResult', 'gps');
    const bulkSink = await b.child.call<SinkAnswer>('sinkResult', 'bulk');
    const processes = await usageOf(all);
    return {
      gpsLatencyMs: gpsLatency(gpsSink.latency),
      bulkMBps: round(bulkSink.bytes / (w.durationMs / 1000) / 1e6, 1),
      gpsSent: g.sent,
      gpsReceived: gpsSink.total,
      gpsSamples: gpsSink.latency.count,
      processes,
    };
  } finally {
    await proxy?.call('close').catch(() => {});
    await stopAll([proxy]);
    await stopNodes(nodes);
  }
}

async function runSingle(ctx: ScenarioContext, load: HolLoad, label: string): Promise<Record<string, unknown>> {
  let rx: BenchChild | undefined;
  let tx: BenchChild | undefined;
  let proxy: BenchChild | undefined;
  ctx.progress.update(label, 'starting');
  try {
    [rx, tx] = await Promise.all([startRole(ctx, 'receiver', 'raw'), startRole(ctx, 'sender', 'raw')]);
    let port = await rx.call<number>('singleReceive');
    if (load.rttMs > 0) {
      const p = await startProxy(ctx, 'tcp', port, load.rttMs);
      proxy = p.proxy;
      port = p.port;
    }
    const w = planWindow(ctx);
    const all = [rx, tx, ...(proxy ? [proxy] : [])];
    await Promise.all([rx.call('measure', w.from, w.to), tx.call('measure', w.from, w.to), proxy?.call('window', w.from, w.to)]);
    await sleepUntil(w.start);
    const sent = await ctx.progress.during(
      label,
      tx.call<{ gpsSent: number; bulkSent: number }>('singleSend', { port, gpsRate: load.gpsRate, gpsBytes: GPS_BYTES, bulkBytes: load.bulkBytes, untilWallMs: w.to }),
    );
    await sleep(300);
    const r = await rx.call<{ gpsTotal: number; bulkBytes: number; gpsLatency: LatencySummary }>('singleResult');
    const processes = await usageOf(all);
    return {
      gpsLatencyMs: gpsLatency(r.gpsLatency),
      bulkMBps: round(r.bulkBytes / (w.durationMs / 1000) / 1e6, 1),
      gpsSent: sent.gpsSent,
      gpsReceived: r.gpsTotal,
      gpsSamples: r.gpsLatency.count,
      processes,
    };
  } finally {
    await Promise.all([rx?.call('close').catch(() => {}), tx?.call('close').catch(() => {}), proxy?.call('close').catch(() => {})]);
    await stopAll([rx, tx, proxy]);
  }
}

export async function runHol(ctx: ScenarioContext): Promise<BenchDocument> {
  const env = benchEnv();
  const bulkSizes = ctx.sizes ?? (ctx.quick ? [512 * 1024] : [512 * 1024, 8 * 1024 * 1024]);
  const rtts = ctx.rtts ?? (ctx.quick ? [0] : [0, 1, 20]);
  const gpsRate = ctx.rate ?? (ctx.quick ? 200 : 1000);
  const wanted = (ctx.transports ?? [...HOL_VARIANTS]).filter((v): v is HolVariant => (HOL_VARIANTS as readonly string[]).includes(v));
  const runs: BenchRun[] = [];
  const skipped: BenchSkip[] = [];
  const loads: HolLoad[] = [];
  for (const rttMs of rtts) {
    if (wanted.includes('quic-idle')) loads.push({ variant: 'quic-idle', bulkBytes: 0, rttMs, gpsRate });
    for (const bulkBytes of bulkSizes) for (const v of wanted) if (v !== 'quic-idle') loads.push({ variant: v, bulkBytes, rttMs, gpsRate });
  }
  for (const load of loads) {
    const label = `${load.variant}${load.bulkBytes ? ` bulk ${sizeLabel(load.bulkBytes)}` : ''} rtt ${load.rttMs} ms`;
    const metrics = await attempt(ctx, skipped, label, () => (load.variant === 'tcp-single' ? runSingle(ctx, load, label) : runChannels(ctx, load, label)));
    if (!metrics) continue;
    runs.push({ variant: load.variant, bulkBytes: load.bulkBytes, rttMs: load.rttMs, metrics });
    const l = metrics.gpsLatencyMs as Record<string, number>;
    ctx.progress.log(`${label}: gps p50 ${ms(l.p50)} p99 ${ms(l.p99)} ms, bulk ${fixed(metrics.bulkMBps as number, 0)} MB/s`);
  }
  finishEnv(env);
  const doc: BenchDocument = {
    scenario: 'hol',
    env,
    options: {
      command: ctx.command,
      durationMs: ctx.durationMs,
      warmupMs: ctx.warmupMs,
      bulkBytes: bulkSizes,
      rttMs: rtts,
      gpsRatePerSec: gpsRate,
      gpsBytes: GPS_BYTES,
      bulkCreditBytes: BULK_CREDIT_BYTES,
      channels: `gps {parallelism 1}, bulk {parallelism 1, creditBytes ${BULK_CREDIT_BYTES / 1024} KiB, decode 'worker' (quic-channels-main: 'main')}; wire.maxFrameSize 16 MiB`,
      proxy: 'userspace delay proxy in its own process (UDP for quic, TCP for tcp), RTT/2 per direction, ~1 ms timer granularity',
      tcpSingle: 'one node:net connection, [u32 length][kind][f64 ts][payload] frames, gps and bulk whole messages interleaved in send order (no fragmentation)',
      latency: 'gps one-way: send time stamped in the record to consumption by the receiving process',
      targetRatio: TARGET_RATIO,
    },
    runs,
    skipped,
  };
  doc.summary = summarize(runs);
  return doc;
}

function p99(r: BenchRun): number {
  return (r.metrics.gpsLatencyMs as Record<string, number>).p99;
}

function summarize(runs: readonly BenchRun[]): Record<string, unknown> {
  const ratios: Array<Record<string, unknown>> = [];
  for (const r of runs) {
    if (r.variant === 'quic-idle') continue;
    const idle = runs.find((x) => x.variant === 'quic-idle' && x.rttMs === r.rttMs);
    if (!idle || p99(idle) <= 0) continue;
    ratios.push({ variant: r.variant, bulkBytes: r.bulkBytes, rttMs: r.rttMs, p99: p99(r), idleP99: p99(idle), ratio: round(p99(r) / p99(idle), 2) });
  }
  const quic = ratios.filter((r) => r.variant === 'quic-channels');
  return { ratios, targetRatio: TARGET_RATIO, quicChannelsTargetMet: quic.length > 0 && quic.every((r) => (r.ratio as number) <= TARGET_RATIO) };
}

function holTable(doc: BenchDocument): string {
  const ratios = (doc.summary?.ratios ?? []) as Array<{ variant: string; bulkBytes: number; rttMs: number; ratio: number }>;
  return table(
    ['variant', 'bulk', 'RTT ms', 'gps p50 ms', 'gps p90', 'gps p99', 'gps p99.9', 'gps max', 'p99 / idle p99', 'bulk MB/s', 'sender CPU', 'receiver CPU'],
    doc.runs.map((r) => {
      const l = r.metrics.gpsLatencyMs as Record<string, number>;
      const ratio = ratios.find((x) => x.variant === r.variant && x.bulkBytes === r.bulkBytes && x.rttMs === r.rttMs);
      const proc = (role: string) => r.metrics.processes?.find((p) => p.role === role)?.cpuCores;
      return [
        r.variant,
        r.bulkBytes ? sizeLabel(r.bulkBytes as number) : '–',
        String(r.rttMs),
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p999),
        ms(l.max),
        ratio ? fixed(ratio.ratio, 1) : '1',
        fixed(r.metrics.bulkMBps as number, 0),
        fixed(proc('sender'), 2),
        fixed(proc('receiver'), 2),
      ];
    }),
  );
}

export const hol: Scenario = {
  name: 'hol',
  title: 'Head-of-line blocking',
  description: 'gps 100 B at a fixed rate while bulk saturates the pair: quic channels vs tcp channels vs one tcp connection',
  run: runHol,
  table: (doc) => `${holTable(doc)}\n\nquic-channels gps p99 ≤ ${TARGET_RATIO}× idle: ${doc.summary?.quicChannelsTargetMet ? 'met' : 'NOT met'}`,
  report: (doc) => {
    const data = doc.runs.map((r) => ({
      variant: r.variant,
      case: `RTT ${r.rttMs} ms${r.bulkBytes ? `, bulk ${sizeLabel(r.bulkBytes as number)}` : ', no bulk'}`,
      p99: (r.metrics.gpsLatencyMs as Record<string, number>).p99,
      p50: (r.metrics.gpsLatencyMs as Record<string, number>).p50,
    }));
    return {
      markdown: [
        holTable(doc),
        '',
        `Target: quic-channels gps p99 under saturating bulk ≤ ${TARGET_RATIO}× quic-idle p99 at the same RTT — **${doc.summary?.quicChannelsTargetMet ? 'met' : 'not met'}**.`,
        '',
      ].join('\n'),
      charts: [
        {
          name: 'hol-gps-p99',
          title: 'gps p99 latency (ms, log scale) under bulk',
          spec: {
            data: { values: data },
            facet: { column: { field: 'case', type: 'nominal', title: null, sort: null } },
            spec: {
              width: 150,
              height: 200,
              mark: 'bar',
              encoding: {
                x: { field: 'variant', type: 'nominal', sort: [...HOL_VARIANTS], title: null, axis: { labelAngle: -40 } },
                y: { field: 'p99', type: 'quantitative', scale: { type: 'log' }, title: 'gps p99 ms' },
                color: { field: 'variant', type: 'nominal', sort: [...HOL_VARIANTS] },
              },
            },
          },
        },
      ],
    };
  },
};
