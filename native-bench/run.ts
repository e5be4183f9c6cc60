/**
 * The benchmark suite's one entry:
 *
 *   npm run bench -- <scenario> [--duration s] [--nodes n] [--json out.json] [--quick] …
 *   npm run bench:all        the standard set, results under docs/benchmarks/results/
 *
 * Every scenario starts its own processes on loopback, warms up, measures for a fixed
 * duration, prints a table (and a progress line while it runs) and, with --json, writes the
 * result document ({ scenario, env, options, runs: [{ variant, metrics }] }).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { repoRoot } from './lib/env.js';
import { Progress } from './lib/progress.js';
import { writeDocument } from './lib/result.js';
import type { Scenario, ScenarioContext } from './lib/scenario.js';
import { SCENARIOS, STANDARD_SET } from './scenarios/index.js';

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function numbers(value: string): number[] {
  const list = value.split(',').map((v) => Number(v.trim()));
  if (list.length === 0 || list.some((n) => !Number.isFinite(n) || n < 0)) throw new InvalidArgumentError('expected numbers, comma-separated');
  return list;
}

function names(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

const program = new Command('bench')
  .description(`partisan-ts benchmarks. Scenarios: ${Object.keys(SCENARIOS).join(', ')}; "all" runs the standard set (${STANDARD_SET.join(', ')}).`)
  .argument('<scenario>', 'scenario name, or "all"')
  .option('--duration <s>', 'measured seconds per variant (after warm-up)', positive)
  .option('--warmup <s>', 'warm-up seconds per variant', positive)
  .option('--nodes <n>', 'nodes where the scenario scales (fleet consumers, fan-out receivers)', positive)
  .option('--json <file>', 'write the result document here (with "all": a directory)')
  .option('--quick', 'tiny load and ~1 s windows (the smoke tests)')
  .option('--repeat <n>', 'measure each variant n times, interleaved, and report the median', positive)
  .option('--transports <list>', 'p2p/nats: transports or baselines to run', names)
  .option('--sizes <list>', 'p2p: message sizes in bytes; hol: bulk message sizes', numbers)
  .option('--rtt <list>', 'hol: round-trip times in ms through the delay proxy (0 = direct)', numbers)
  .option('--rate <n>', 'hol: gps msgs/s; fleet: first step msgs/s', positive)
  .addOption(new Option('--profile <dir>', 'write a V8 CPU profile of every process (node --cpu-prof)'))
  .action(async (scenario: string) => {
    const o = program.opts<{
      duration?: number;
      warmup?: number;
      nodes?: number;
      json?: string;
      quick?: boolean;
      repeat?: number;
      transports?: string[];
      sizes?: number[];
      rtt?: number[];
      rate?: number;
      profile?: string;
    }>();
    const list: Scenario[] = scenario === 'all' ? STANDARD_SET.map((n) => SCENARIOS[n]!) : [SCENARIOS[scenario]!];
    if (list.some((s) => s === undefined)) program.error(`unknown scenario ${scenario}; known: ${Object.keys(SCENARIOS).join(', ')}, all`);
    const quick = o.quick === true;
    let failed = false;
    for (const s of list) {
      const progress = new Progress(s.name);
      const ctx: ScenarioContext = {
        durationMs: (o.duration ?? (quick ? 0.6 : 5)) * 1000,
        warmupMs: (o.warmup ?? (quick ? 0.3 : 1)) * 1000,
        nodes: o.nodes,
        quick,
        repeat: o.repeat ?? 1,
        profileDir: o.profile,
        transports: o.transports,
        sizes: o.sizes,
        rtts: o.rtt,
        rate: o.rate,
        progress,
        command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      };
      progress.log(`${s.title}: ${s.description} (load average ${loadavg()[0]!.toFixed(2)})`);
      try {
        const doc = await s.run(ctx);
        console.log(`\n## ${s.name}\n\n${s.table(doc)}\n`);
        if (doc.skipped.length > 0) console.log(doc.skipped.map((k) => `skipped ${k.variant}: ${k.reason}`).join('\n'));
        if (o.json) await writeDocument(scenario === 'all' ? join(o.json, `${s.name}.json`) : o.json, doc);
        if (doc.runs.length === 0 && doc.skipped.length === 0) failed = true;
      } catch (err) {
        failed = true;
        progress.log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
    if (failed) process.exitCode = 1;
  });

await program.parseAsync();
// Role processes are gone; nothing should keep the loop alive, but a stray handle must not hang the run.
setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
export { repoRoot };
