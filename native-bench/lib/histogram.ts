/**
 * Latency recording shared by every scenario: hdr-histogram-js in µs, summarised in ms, and
 * moved between processes in hdr's compressed encoding so the orchestrator can merge them.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

/**
 * Wall-clock ms with sub-ms resolution. Senders and receivers are processes on one machine:
 * both derive it from the same system clock, so a difference is a one-way latency.
 */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Latency in µs, 1 µs to 10 min, 3 significant digits. */
export function latencyHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

/** Record a latency in ms (clamped into the histogram's range), `count` times. */
export function recordMs(h: Histogram, latencyMs: number, count = 1): void {
  const us = Math.min(600_000_000, Math.max(1, Math.round(latencyMs * 1000)));
  if (count === 1) h.recordValue(us);
  else h.recordValueWithCount(us, count);
}

/** The percentiles every result reports, in ms. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Samples recorded. */
  count: number;
}

export function summarize(h: Histogram): LatencySummary {
  const at = (p: number): number => (h.totalCount === 0 ? 0 : h.getValueAtPercentile(p) / 1000);
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: h.totalCount === 0 ? 0 : h.maxValue / 1000, count: h.totalCount };
}

export function encodeHistogram(h: Histogram): string {
  return encodeIntoCompressedBase64(h);
}

/** Merge encoded histograms (from several processes) into one. */
export function mergeHistograms(encoded: readonly string[]): Histogram {
  const total = latencyHistogram();
  for (const e of encoded) {
    const h = decodeFromCompressedBase64(e, 32, false);
    total.add(h);
    h.destroy();
  }
  return total;
}

/** Summary of latencies in ms given as plain numbers (an external tool's samples). */
export function summarizeSamples(samplesMs: Iterable<number>): LatencySummary {
  const h = latencyHistogram();
  for (const v of samplesMs) recordMs(h, v);
  return summarize(h);
}
