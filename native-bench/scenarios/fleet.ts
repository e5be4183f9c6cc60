/**
 * fleet — the seed deployment at scale: 300,000 simulated vehicles reporting every 10 s
 * (30,000 msg/s) into 2 gateway nodes, each forwarding every record on channel `gps`
 * (monotonic: latest position per vehicle wins under backlog; partition key = vehicle) to
 * every consumer node (4 by default, --nodes), whose process keeps the latest position per
 * vehicle. Then the load steps up (×2, ×3, ×4, ×6, ×8) until end-to-end p99 exceeds 250 ms
 * or drops appear; the last step that passed is the maximum sustainable rate.
 *
 * Vehicles are simulated inside the gateway processes (a paced generator, as an ingest
 * endpoint would hand records over); end-to-end latency runs from the record's creation at
 * the gateway to its consumption by the consumer's process.
 */
import { benchEnv, finishEnv } from '../lib/env.js';
import { fixed, ms, rate, table } from '../lib/format.js';
import { mergeHistograms, summarize, type LatencySummary } from '../lib/histogram.js';
import { errorMessage, type BenchDocument, type BenchRun, type BenchSkip, type ProcessUsage } from '../lib/result.js';
import { planWindow, sleep, sleepUntil, usageOf, type Scenario, type ScenarioContext } from '../lib/scenario.js';
import { connect, startNodeRoles, stopNodes, type SinkAnswer, type StartedNode } from './common.js';
import { wireBytes } from './p2p.js';

const VEHICLES = 300_000;
const BASE_RATE = 30_000;
const STEPS = [1, 2, 3, 4, 6, 8];
const P99_LIMIT_MS = 250;
const GATEWAYS = 2;
const GPS_CHANNEL = { name: 'gps', parallelism: 2, monotonic: true };

interface QueueTotals {
  channel: string;
  droppedOldest: number;
  droppedStale: number;
  discarded: number;
  rejected: number;
}

async function queueDrops(n: StartedNode): Promise<number> {
  const s = await n.child.call<{ queues: QueueTotals[] }>('stats');
  return s.queues.filter((q) => q.channel === 'gps').reduce((t, q) => t + q.droppedOldest + q.droppedStale + q.discarded + q.rejected, 0);
}

export async function runFleet(ctx: ScenarioContext): Promise<BenchDocument> {
  const env = benchEnv();
  const consumersN = ctx.nodes ?? 4;
  const baseRate = ctx.rate ?? (ctx.quick ? 2_000 : BASE_RATE);
  const vehicles = ctx.quick ? 20_000 : VEHICLES;
  const steps = ctx.quick ? [1] : STEPS;
  const runs: BenchRun[] = [];
  const skipped: BenchSkip[] = [];
  const nodes: StartedNode[] = [];
  let maxSustainable = 0;
  let stoppedBecause = 'every step passed';
  try {
    const options = { transport: 'quic', channels: [GPS_CHANNEL] };
    const roles = [...Array.from({ length: consumersN }, (_, i) => `consumer${i + 1}`), ...Array.from({ length: GATEWAYS }, (_, g) => `gateway${g + 1}`)];
    nodes.push(...(await startNodeRoles(ctx, roles, options)));
    const consumers = nodes.slice(0, consumersN);
    const gateways = nodes.slice(consumersN);
    const bytesPerMessage = wireBytes(100);
    for (const c of consumers) await c.child.call('sink', 'positions', { latest: true, messageBytes: bytesPerMessage, sampleEvery: 1, mailboxCapacity: 1_000_000 });
    for (const g of gateways) for (const c of consumers) await connect(g, c, ['gps']);
    const received = new Array<number>(consumersN).fill(0);
    let queueDropped = 0;
    let mailboxDropped = 0;
    for (const factor of steps) {
      const offered = baseRate * factor;
      const variant = `${offered}/s`;
      try {
        await Promise.all(consumers.map((c) => c.child.call('sinkReset', 'positions')));
        const w = planWindow(ctx);
        await Promise.all(nodes.map((n) => n.child.call('measure', w.from, w.to)));
        await sleepUntil(w.start);
        const load = Promise.all(
          gateways.map((g, i) =>
            g.child.call<{ sent: number }>('paced', {
              dest: consumers.map((c) => ({ name: 'positions', node: c.name })),
              channel: 'gps',
              messageBytes: 100,
              ratePerSec: offered / GATEWAYS,
              vehicles: vehicles / GATEWAYS,
              vehicleBase: (i * vehicles) / GATEWAYS,
              src: i,
              tickMs: 10,
              untilWallMs: w.to,
            }),
          ),
        );
        const sent = await ctx.progress.during(`offered ${rate(offered)} msgs/s`, load);
        // In-flight records still belong to this step; then count.
        await sleep(1_000);
        const sinks = await Promise.all(consumers.map((c) => c.child.call<SinkAnswer>('sinkResult', 'positions')));
        const drops = (await Promise.all(gateways.map(queueDrops))).reduce((a, b) => a + b, 0);
        const expected = sent.reduce((t, s) => t + s.sent, 0) * consumersN;
        let got = 0;
        sinks.forEach((s, i) => {
          got += s.total - received[i]!;
          received[i] = s.total;
        });
        const mailboxNow = sinks.reduce((t, s) => t + s.dropped, 0);
        const stepQueueDrops = drops - queueDropped;
        const stepMailboxDrops = mailboxNow - mailboxDropped;
        queueDropped = drops;
        mailboxDropped = mailboxNow;
        const missing = Math.max(0, expected - got);
        const h = mergeHistograms(sinks.map((s) => s.histogram));
        const e2e: LatencySummary = summarize(h);
        h.destroy();
        const counted = sinks.reduce((t, s) => t + s.counted, 0);
        const processes: ProcessUsage[] = await usageOf(nodes.map((n) => n.child));
        const dropsTotal = Math.max(missing, stepQueueDrops + stepMailboxDrops);
        const ok = e2e.p99 <= P99_LIMIT_MS && dropsTotal === 0;
        runs.push({
          variant,
          offeredPerSec: offered,
          metrics: {
            offeredPerSec: offered,
            deliveredPerSec: counted / (w.durationMs / 1000),
            deliveriesPerRecord: consumersN,
            e2eLatencyMs: e2e,
            drops: dropsTotal,
            queueDrops: stepQueueDrops,
            mailboxDrops: stepMailboxDrops,
            missing,
            latestPositions: sinks.map((s) => s.latest ?? 0),
            sustained: ok,
            processes,
          },
        });
        ctx.progress.log(`${variant}: delivered ${rate(counted / (w.durationMs / 1000))}/s, e2e p99 ${ms(e2e.p99)} ms, drops ${dropsTotal}${ok ? '' : ' — limit reached'}`);
        if (!ok) {
          stoppedBecause = e2e.p99 > P99_LIMIT_MS ? `p99 ${ms(e2e.p99)} ms > ${P99_LIMIT_MS} ms at ${offered}/s` : `${dropsTotal} drops at ${offered}/s`;
          break;
        }
        maxSustainable = offered;
      } catch (err) {
        skipped.push({ variant, reason: errorMessage(err).split('\n')[0]! });
        stoppedBecause = `failed at ${offered}/s: ${errorMessage(err).split('\n')[0]}`;
        break;
      }
    }
  } finally {
    await stopNodes(nodes);
  }
  finishEnv(env);
  return {
    scenario: 'fleet',
    env,
    options: {
      command: ctx.command,
      vehicles,
      baseRatePerSec: baseRate,
      steps: steps.map((s) => s * baseRate),
      gateways: GATEWAYS,
      consumers: consumersN,
      channel: GPS_CHANNEL,
      durationMs: ctx.durationMs,
      warmupMs: ctx.warmupMs,
      p99LimitMs: P99_LIMIT_MS,
      fanout: 'each gateway forwardMessage()s every record to the positions process of every consumer (partition key = vehicle id)',
      drops: 'max(records sent × consumers − records received, outbound queue drops + mailbox drops) per step',
    },
    runs,
    skipped,
    summary: { maxSustainablePerSec: maxSustainable, baseRateSustained: maxSustainable >= baseRate, stoppedBecause },
  };
}

function fleetTable(doc: BenchDocument): string {
  return table(
    ['offered msgs/s', 'delivered/s (all consumers)', 'e2e p50 ms', 'e2e p99 ms', 'e2e max ms', 'drops', 'gateway CPU', 'consumer CPU', 'max RSS MB'],
    doc.runs.map((r) => {
      const m = r.metrics;
      const l = m.e2eLatencyMs as LatencySummary;
      const p = m.processes ?? [];
      const cpu = (prefix: string) => Math.max(0, ...p.filter((x) => x.role.startsWith(prefix)).map((x) => x.cpuCores));
      return [rate(m.offeredPerSec as number), rate(m.deliveredPerSec as number), ms(l.p50), ms(l.p99), ms(l.max), String(m.drops), fixed(cpu('gateway'), 2), fixed(cpu('consumer'), 2), fixed(Math.max(0, ...p.map((x) => x.peakRssMB)), 0)];
    }),
  );
}

export const fleet: Scenario = {
  name: 'fleet',
  title: 'Fleet',
  description: '300k vehicles / 10 s into 2 gateways, fanned out on gps to 4 consumers; stepped up to the max sustainable rate',
  run: runFleet,
  table: (doc) => `${fleetTable(doc)}\n\nmax sustainable: ${rate(doc.summary?.maxSustainablePerSec as number)} msgs/s (${doc.summary?.stoppedBecause as string})`,
  report: (doc) => ({
    markdown: [
      fleetTable(doc),
      '',
      `CPU is cores busy over the window (highest gateway, highest consumer); RSS is the highest of all ${(doc.options.consumers as number) + GATEWAYS} node processes. Maximum sustainable rate: **${rate(doc.summary?.maxSustainablePerSec as number)} msgs/s** (stopped: ${doc.summary?.stoppedBecause as string}); the 30,000 msg/s deployment ${doc.summary?.baseRateSustained ? 'is' : 'is **not**'} sustained.`,
      '',
    ].join('\n'),
    charts: [
      {
        name: 'fleet-steps',
        title: 'fleet: end-to-end p99 (ms) per offered rate',
        spec: {
          data: { values: doc.runs.map((r) => ({ offered: r.metrics.offeredPerSec, p99: (r.metrics.e2eLatencyMs as LatencySummary).p99, p50: (r.metrics.e2eLatencyMs as LatencySummary).p50 })) },
          transform: [{ fold: ['p50', 'p99'], as: ['percentile', 'ms'] }],
          width: 360,
          height: 200,
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'offered', type: 'quantitative', title: 'offered msgs/s (into the gateways)' },
            y: { field: 'ms', type: 'quantitative', title: 'end-to-end latency ms' },
            color: { field: 'percentile', type: 'nominal' },
          },
        },
      },
    ],
  }),
};
