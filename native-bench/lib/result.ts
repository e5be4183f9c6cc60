/**
 * The result document every scenario writes, so other tools read any scenario the same way:
 * `{ scenario, env, options, runs: [{ variant, metrics }] }`. Baselines are runs of the same
 * document (measured in the same invocation), never figures from elsewhere.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { BenchEnv } from './env.js';
import type { LatencySummary } from './histogram.js';

/** CPU time and memory of one process over the measured window. */
export interface ProcessUsage {
  /** What the process was (`sender`, `receiver`, `gw1`, `nats-server`, …). */
  role: string;
  /** User + system CPU time during the measured window, ms. */
  cpuMs: number;
  /** cpuMs ÷ window: 1.0 is one core busy all the time. */
  cpuCores: number;
  /** Peak resident set size of the process's life, MB. */
  peakRssMB: number;
}

export interface BenchRun {
  /** What ran, e.g. `quic/100B`, `quinn-binding/100B`, `tcp-single`. */
  variant: string;
  /** Scenario-specific figures; latencies as LatencySummary in ms, throughput as msgsPerSec / mbPerSec. */
  metrics: Record<string, unknown> & { latencyMs?: LatencySummary; msgsPerSec?: number; mbPerSec?: number; processes?: ProcessUsage[] };
  /** Scenario-specific coordinates of the run (message size, RTT, transport, …). */
  [key: string]: unknown;
}

export interface BenchSkip {
  variant: string;
  reason: string;
}

export interface BenchDocument {
  scenario: string;
  env: BenchEnv;
  options: Record<string, unknown>;
  runs: BenchRun[];
  /** Variants that could not run here, with the reason (missing nats-server, a failed dial, …). */
  skipped: BenchSkip[];
  /** Derived figures (ratios to baselines, targets met) computed from `runs`. */
  summary?: Record<string, unknown>;
}

/** Write a result document as JSON (BenchDocument, or a standalone benchmark's own shape), creating its folder. */
export async function writeDocument(file: string, doc: object): Promise<void> {
  await writeReport(file, `${JSON.stringify(doc, null, 2)}\n`);
}

/** Write a rendered report (Markdown), creating its folder. */
export async function writeReport(file: string, text: string): Promise<void> {
  await mkdir(dirname(resolve(file)), { recursive: true });
  await writeFile(file, text);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
