/**
 * fanout — one origin broadcasting 100 B GPS records on a Plumtree channel to 4 and 8 other
 * nodes. The measurement is native-bench/broadcast (its own engineer's bench: worker-thread
 * vs main-thread Plumtree, throughput then fixed-rate latency); this wraps its
 * `runBroadcastBench()` and maps its result onto the suite's document shape.
 */
import { runBroadcastBench, type BroadcastBenchResult } from '../broadcast/bench.js';
import { fixed, ms, rate, table } from '../lib/format.js';
import type { BenchDocument, BenchRun } from '../lib/result.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

export function fromBroadcastResult(result: BroadcastBenchResult, command: string): BenchDocument {
  const runs: BenchRun[] = result.runs.map((r) => ({
    variant: `${r.mode}/${r.nodes - 1}-receivers`,
    mode: r.mode,
    receivers: r.nodes - 1,
    metrics: {
      ...r.metrics,
      msgsPerSec: r.metrics.deliveriesPerSec,
      latencyMs: { p50: r.metrics.latencyP50Ms, p90: Number.NaN, p99: r.metrics.latencyP99Ms, p999: Number.NaN, max: r.metrics.latencyMaxMs, count: 0 },
      processes: r.cpuPerNodePct.map((pct, i) => ({ role: i === 0 ? 'origin' : `receiver${i}`, cpuMs: 0, cpuCores: Math.round(pct) / 100, peakRssMB: 0 })),
      ...(r.samplesDeliveriesPerSec ? { samplesDeliveriesPerSec: r.samplesDeliveriesPerSec } : {}),
    },
  }));
  const { loadAverageEnd, ...env } = result.env;
  return {
    scenario: 'fanout',
    env: { ...env, loadAverageEnd },
    options: { command, source: 'native-bench/broadcast (runBroadcastBench)', ...result.options },
    runs,
    skipped: result.skipped,
  };
}

export async function runFanout(ctx: ScenarioContext): Promise<BenchDocument> {
  const receivers = ctx.nodes !== undefined ? [ctx.nodes] : ctx.quick ? [2] : [4, 8];
  const result = await runBroadcastBench({
    quick: ctx.quick,
    nodes: receivers.map((n) => n + 1),
    repeat: ctx.repeat,
    ...(ctx.quick ? {} : { latencyMs: ctx.durationMs }),
    ...(ctx.transports?.[0] === 'tcp' ? { transport: 'tcp' as const } : {}),
    log: (line) => ctx.progress.update(line),
  });
  return fromBroadcastResult(result, ctx.command);
}

function fanoutTable(doc: BenchDocument): string {
  return table(
    ['variant', 'deliveries/s', 'records/s', 'latency p50 ms', 'p99 ms', 'saturated p99 ms', 'RMR', 'origin CPU'],
    doc.runs.map((r) => {
      const m = r.metrics as Record<string, number>;
      return [r.variant, rate(m.deliveriesPerSec!), rate(m.recordsPerSec!), ms(m.latencyP50Ms), ms(m.latencyP99Ms), ms(m.saturatedP99Ms), fixed(m.rmr, 2), fixed(m.cpuOriginPct! / 100, 2)];
    }),
  );
}

export const fanout: Scenario = {
  name: 'fanout',
  title: 'Broadcast fan-out',
  description: 'one origin broadcasting GPS records (Plumtree, latestPosition) to 4 and 8 nodes; worker vs main-thread Plumtree',
  run: runFanout,
  table: fanoutTable,
  report: (doc) => ({
    markdown: [fanoutTable(doc), '', 'Latency is at a fixed 1,000 records/s; "saturated" is under the closed-loop throughput phase. Details: native-bench/broadcast.', ''].join('\n'),
    charts: [
      {
        name: 'fanout-deliveries',
        title: 'broadcast deliveries/s (records × receivers)',
        spec: {
          data: { values: doc.runs.map((r) => ({ mode: r.mode, receivers: String(r.receivers), deliveriesPerSec: r.metrics.msgsPerSec })) },
          width: 260,
          height: 200,
          mark: 'bar',
          encoding: {
            x: { field: 'receivers', type: 'nominal', title: 'receivers' },
            xOffset: { field: 'mode', type: 'nominal' },
            y: { field: 'deliveriesPerSec', type: 'quantitative', title: 'deliveries/s' },
            color: { field: 'mode', type: 'nominal', title: 'Plumtree on' },
          },
        },
      },
    ],
  }),
};
