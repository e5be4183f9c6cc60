/** The broadcast fan-out benchmark's result document, and its Markdown rendering. */
import type { BenchEnv } from '../lib/env.js';

export type PlumtreeMode = 'worker' | 'main';

export interface BroadcastRunMetrics {
  /** Records merged by the receivers (N − 1 per record), per second of the throughput phase. */
  deliveriesPerSec: number;
  /** Records broadcast by the origin per second of the throughput phase. */
  recordsPerSec: number;
  records: number;
  deliveries: number;
  seconds: number;
  /** Origin → subscriber latency at the fixed `latencyRate` (latency phase), ms. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  /** The same under saturation (throughput phase: bounded by the in-flight window), ms. */
  saturatedP50Ms: number;
  saturatedP99Ms: number;
  /** Relative message redundancy of the throughput phase: payloads received / deliveries − 1 (0 = a perfect tree). */
  rmr: number;
  /** CPU time / wall time during the throughput phase, % of one core (main and worker threads). */
  cpuOriginPct: number;
  cpuReceiverMeanPct: number;
  cpuReceiverMaxPct: number;
  /** Sends the node refused (lane full) and local broadcasts dropped, summed over nodes: lost to lazy push / anti-entropy. */
  sendsRefused: number;
  broadcastsDropped: number;
  grafts: number;
}

export interface BroadcastRun {
  /** `<mode>/<receivers>-receivers`, e.g. `worker/8-receivers`. */
  variant: string;
  mode: PlumtreeMode;
  /** Node processes, origin included (receivers + 1). */
  nodes: number;
  /** The median repeat (by deliveries/s). */
  metrics: BroadcastRunMetrics;
  /** CPU % of one core per node in the throughput phase, origin first. */
  cpuPerNodePct: number[];
  /** deliveries/s of every repeat, in run order. */
  samplesDeliveriesPerSec?: number[];
}

export interface BroadcastBenchResolvedOptions {
  quick: boolean;
  nodes: number[];
  modes: PlumtreeMode[];
  records: number;
  warmupRecords: number;
  recordBytes: number;
  vehicles: number;
  chunk: number;
  window: number;
  latencyRate: number;
  latencyMs: number;
  peerService: 'fullMesh' | 'hyparview';
  transport: 'quic' | 'tcp';
  repeat: number;
  method: string;
}

export interface BroadcastBenchResult {
  scenario: 'broadcast';
  env: BenchEnv;
  options: BroadcastBenchResolvedOptions;
  runs: BroadcastRun[];
  skipped: Array<{ variant: string; reason: string }>;
}

export function variantName(mode: PlumtreeMode, nodes: number): string {
  return `${mode}/${nodes - 1}-receivers`;
}

export function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

function ms(n: number): string {
  return n < 10 ? n.toFixed(2) : n.toFixed(1);
}

function table(header: string[], rows: string[][]): string {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [header, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export function resultsTable(runs: readonly BroadcastRun[]): string {
  return table(
    ['plumtree', 'receivers', 'deliveries/s', 'records/s', 'p50 ms', 'p99 ms', 'sat. p50 ms', 'sat. p99 ms', 'RMR', 'CPU origin', 'CPU receiver (mean / max)', 'refused'],
    runs.map((r) => {
      const m = r.metrics;
      return [
        r.mode === 'worker' ? 'worker thread' : 'main thread',
        String(r.nodes - 1),
        rate(m.deliveriesPerSec),
        rate(m.recordsPerSec),
        ms(m.latencyP50Ms),
        ms(m.latencyP99Ms),
        ms(m.saturatedP50Ms),
        ms(m.saturatedP99Ms),
        m.rmr.toFixed(2),
        `${m.cpuOriginPct.toFixed(0)}%`,
        `${m.cpuReceiverMeanPct.toFixed(0)}% / ${m.cpuReceiverMaxPct.toFixed(0)}%`,
        String(m.sendsRefused + m.broadcastsDropped),
      ];
    }),
  );
}

/** Worker thread ÷ main thread, per node count measured in both modes. */
export function ratioTable(runs: readonly BroadcastRun[]): string | undefined {
  const rows: string[][] = [];
  for (const w of runs.filter((r) => r.mode === 'worker')) {
    const m = runs.find((r) => r.mode === 'main' && r.nodes === w.nodes);
    if (!m || m.metrics.deliveriesPerSec === 0) continue;
    rows.push([
      String(w.nodes - 1),
      (w.metrics.deliveriesPerSec / m.metrics.deliveriesPerSec).toFixed(2),
      (w.metrics.latencyP99Ms / m.metrics.latencyP99Ms).toFixed(2),
      (w.metrics.saturatedP99Ms / m.metrics.saturatedP99Ms).toFixed(2),
      (w.metrics.cpuReceiverMeanPct / m.metrics.cpuReceiverMeanPct).toFixed(2),
    ]);
  }
  return rows.length === 0 ? undefined : table(['receivers', 'deliveries/s worker ÷ main', 'p99 worker ÷ main', 'sat. p99 worker ÷ main', 'receiver CPU worker ÷ main'], rows);
}

export function markdownReport(result: BroadcastBenchResult, command: string): string {
  const { env, options } = result;
  const ratio = ratioTable(result.runs);
  const lines = [
    '# Broadcast fan-out benchmark',
    '',
    `- Machine: ${env.cpu}, ${env.cores} cores, ${env.os}; Node ${env.node}`,
    `- Date: ${env.date}; commit ${env.commit}; load average ${env.loadAverage.toFixed(2)} at start, ${(env.loadAverageEnd ?? Number.NaN).toFixed(2)} at end`,
    `- Command: \`${command}\``,
    `- Method: ${options.method}`,
    '',
    resultsTable(result.runs),
    '',
  ];
  if (ratio) lines.push('## Plumtree in a worker thread vs on the main thread', '', ratio, '');
  if (result.skipped.length > 0) lines.push('## Not measured', '', ...result.skipped.map((s) => `- ${s.variant}: ${s.reason.split('\n')[0]}`), '');
  return lines.join('\n');
}
