/**
 * What every scenario gets from the entry point (native-bench/run.ts) and the helpers they
 * share: the measured window, role processes, per-process usage.
 */
import { join } from 'node:path';
import type { BenchChild } from './child.js';
import { BenchChild as Child } from './child.js';
import { repoRoot } from './env.js';
import { wallClockMs } from './histogram.js';
import type { Progress } from './progress.js';
import { errorMessage, type BenchDocument, type BenchSkip, type ProcessUsage } from './result.js';

export interface ScenarioContext {
  /** Measured time per variant, ms (after the warm-up). */
  durationMs: number;
  warmupMs: number;
  /** Nodes for scenarios that scale (fleet consumers, fan-out receivers); undefined = the scenario's default. */
  nodes: number | undefined;
  /** Tiny load, short windows: the smoke tests. */
  quick: boolean;
  /** Measure each variant this many times (interleaved) and keep the median. */
  repeat: number;
  /** Write a V8 CPU profile of every role process here (node --cpu-prof). */
  profileDir: string | undefined;
  /** Scenario filters from the command line (undefined = the scenario's default). */
  transports: string[] | undefined;
  sizes: number[] | undefined;
  rtts: number[] | undefined;
  /** A fixed message rate where a scenario has one (hol gps rate, fleet start rate). */
  rate: number | undefined;
  progress: Progress;
  /** The command line, for the report. */
  command: string;
}

export interface ScenarioReport {
  /** Markdown (tables and notes) for this scenario's section of docs/benchmarks/README.md. */
  markdown: string;
  /** Vega-Lite specs rendered to docs/benchmarks/charts/<name>.svg and linked from the section. */
  charts: Array<{ name: string; title: string; spec: Record<string, unknown> }>;
}

export interface Scenario {
  name: string;
  title: string;
  description: string;
  run(ctx: ScenarioContext): Promise<BenchDocument>;
  /** Markdown table for the terminal after a run. */
  table(doc: BenchDocument): string;
  report(doc: BenchDocument): ScenarioReport;
}

export const rolesDir = join(repoRoot, 'native-bench/roles');

/** Start a role script (native-bench/roles/<script>.ts), profiled when asked. */
export function startRole(ctx: ScenarioContext, role: string, script: string): Promise<BenchChild> {
  // One folder per role process: V8 writes a profile per thread (main, and tsx's loader thread).
  const execArgv = ctx.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(ctx.profileDir, `${ctx.progress.current || 'run'}-${role}-${Date.now()}`)}`] : [];
  return Child.start(role, join(rolesDir, `${script}.ts`), { execArgv });
}

/** The wall-clock plan of one measurement: start load at `start`, measure [from, to). */
export interface Window {
  start: number;
  from: number;
  to: number;
  durationMs: number;
}

export function planWindow(ctx: ScenarioContext, leadMs = 300): Window {
  const start = wallClockMs() + leadMs;
  const from = start + ctx.warmupMs;
  return { start, from, to: from + ctx.durationMs, durationMs: ctx.durationMs };
}

export async function sleepUntil(wallMs: number): Promise<void> {
  const wait = wallMs - wallClockMs();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU in the window and peak RSS of each role process. */
export async function usageOf(children: ReadonlyArray<BenchChild>): Promise<ProcessUsage[]> {
  return Promise.all(
    children.map(async (c) => {
      const u = await c.call<{ cpuMs: number; peakRssMB: number; windowMs: number }>('usage');
      return { role: c.role, cpuMs: Math.round(u.cpuMs), cpuCores: u.windowMs > 0 ? Math.round((u.cpuMs / u.windowMs) * 100) / 100 : 0, peakRssMB: Math.round(u.peakRssMB) };
    }),
  );
}

/** Median of repeated runs by a metric (interleaved repeats; the middle one is reported). */
export function median<T>(items: readonly T[], by: (t: T) => number): T {
  const sorted = [...items].sort((a, b) => by(a) - by(b));
  return sorted[(sorted.length - 1) >> 1]!;
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Run one variant. A failure (a transport that cannot connect here, a missing tool) does not
 * end the scenario: it is recorded in `skipped` with its first line, logged, and undefined returned.
 */
export async function attempt<T>(ctx: ScenarioContext, skipped: BenchSkip[], variant: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const reason = errorMessage(err).split('\n')[0]!;
    skipped.push({ variant, reason });
    ctx.progress.log(`${variant}: skipped: ${reason}`);
    return undefined;
  }
}
