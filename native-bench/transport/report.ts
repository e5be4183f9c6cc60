/** The transport benchmark's result document, and its Markdown rendering. */
import type { BenchEnv } from '../lib/env.js';
import { rate, sizeLabel, table } from '../lib/format.js';

export type { BenchEnv };
export { rate, sizeLabel };

export interface RunMetrics {
  msgsPerSec: number;
  mbPerSec: number;
  frames: number;
  bytes: number;
  seconds: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
}

export interface Run {
  /** `<transport>/<streams>s/<frame size>`, e.g. `quic/4s/16KiB`. */
  variant: string;
  transport: string;
  streams: number;
  frameBytes: number;
  /** The median repeat (by msgs/s). */
  metrics: RunMetrics;
  /** msgs/s of every repeat, in run order. */
  samplesMsgsPerSec?: number[];
}

export interface Skipped {
  variant: string;
  reason: string;
}

export interface BenchOptions {
  quick: boolean;
  transports: string[];
  streams: number[];
  frameBytes: number[];
  durationMs: number;
  warmupMs: number;
  repeat: number;
  batchBytes: number;
  readChunkBytes: number;
  framing: string;
  processes: string;
  latency: string;
}

export interface BenchResult {
  scenario: 'transport';
  env: BenchEnv;
  options: BenchOptions;
  runs: Run[];
  skipped: Skipped[];
}

export const QUIC = 'quic';
export const BINDING = 'quinn-binding';

export function variantName(transport: string, streams: number, frameBytes: number): string {
  return `${transport}/${streams}s/${sizeLabel(frameBytes)}`;
}

function ms(n: number): string {
  return n < 10 ? n.toFixed(2) : n.toFixed(1);
}

/** Highest msgs/s of the repeats: on a shared machine, the one least disturbed by others. */
export function bestMsgsPerSec(run: Run): number {
  return Math.max(run.metrics.msgsPerSec, ...(run.samplesMsgsPerSec ?? []));
}

export function resultsTable(runs: readonly Run[]): string {
  return table(
    ['transport', 'streams', 'frame', 'msgs/s', 'MB/s', 'p50 ms', 'p99 ms', 'best msgs/s'],
    runs.map((r) => [
      r.transport,
      String(r.streams),
      sizeLabel(r.frameBytes),
      rate(r.metrics.msgsPerSec),
      r.metrics.mbPerSec.toFixed(0),
      ms(r.metrics.latencyP50Ms),
      ms(r.metrics.latencyP99Ms),
      rate(bestMsgsPerSec(r)),
    ]),
  );
}

/** quic ÷ bare binding throughput, per (streams, frame size) measured for both, and their geometric mean. */
export function ratioTable(runs: readonly Run[]): string | undefined {
  const rows: string[][] = [];
  const medians: number[] = [];
  const bests: number[] = [];
  for (const q of runs.filter((r) => r.transport === QUIC)) {
    const b = runs.find((r) => r.transport === BINDING && r.streams === q.streams && r.frameBytes === q.frameBytes);
    if (!b || b.metrics.msgsPerSec === 0) continue;
    medians.push(q.metrics.msgsPerSec / b.metrics.msgsPerSec);
    bests.push(bestMsgsPerSec(q) / bestMsgsPerSec(b));
    rows.push([String(q.streams), sizeLabel(q.frameBytes), rate(q.metrics.msgsPerSec), rate(b.metrics.msgsPerSec), medians.at(-1)!.toFixed(2), bests.at(-1)!.toFixed(2)]);
  }
  if (rows.length === 0) return undefined;
  const geomean = (xs: number[]): string => Math.exp(xs.reduce((sum, x) => sum + Math.log(x), 0) / xs.length).toFixed(2);
  rows.push(['all', 'geometric mean', '', '', geomean(medians), geomean(bests)]);
  return table(['streams', 'frame', 'quic msgs/s', 'binding msgs/s', 'quic / binding (median)', 'quic / binding (best)'], rows);
}

export function markdownReport(result: BenchResult, command: string): string {
  const { env, options } = result;
  const ratio = ratioTable(result.runs);
  const lines = [
    '# Transport benchmark',
    '',
    `- Machine: ${env.cpu}, ${env.cores} cores, ${env.os}; Node ${env.node}`,
    `- Date: ${env.date}; commit ${env.commit}; load average at start ${env.loadAverage.toFixed(2)}`,
    `- Command: \`${command}\``,
    `- Each variant: ${options.warmupMs} ms warm-up, then ${options.durationMs} ms measured, ${options.repeat}× interleaved; the median repeat is shown, and the best msgs/s (least disturbed by other load). One connection, one way.`,
    `- Framing: ${options.framing}`,
    `- Processes: ${options.processes}`,
    `- Latency: ${options.latency}`,
    '',
    resultsTable(result.runs),
    '',
  ];
  if (ratio) lines.push('## quic transport vs the bare quinn binding', '', ratio, '');
  if (result.skipped.length > 0) {
    lines.push('## Not measured', '', ...result.skipped.map((s) => `- ${s.variant}: ${s.reason.split('\n')[0]}`), '');
  }
  return lines.join('\n');
}
