/**
 * npm run bench:report — renders every result document under docs/benchmarks/results/ into
 * docs/benchmarks/README.md, with charts compiled from Vega-Lite and rendered to SVG by Vega in
 * Node (docs/benchmarks/charts/). Every figure comes from a committed JSON run; nothing is typed
 * by hand here. Each section states the machine, date, commit and load of its run.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { repoRoot } from './lib/env.js';
import { fixed, ms, rate, table } from './lib/format.js';
import type { BenchDocument } from './lib/result.js';
import { SCENARIOS, STANDARD_SET } from './scenarios/index.js';

const defaultDocsDir = join(repoRoot, 'docs/benchmarks');

async function renderSvg(spec: Record<string, unknown>, title: string): Promise<string> {
  const full = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title, background: 'white', config: { font: 'sans-serif' }, ...spec } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(full).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function machineLine(doc: BenchDocument): string {
  const e = doc.env;
  const load = `load average ${fixed(e.loadAverage, 2)} at start${e.loadAverageEnd !== undefined ? `, ${fixed(e.loadAverageEnd, 2)} at end` : ''}`;
  return `Machine: ${e.cpu}, ${e.cores} cores, ${e.os}, Node ${e.node}. Run ${e.date}, commit \`${e.commit}\`, ${load}.`;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The one-table overview of the standard set: the headline figure of each scenario. */
function overview(docs: Map<string, BenchDocument>): string {
  const rows: string[][] = [];
  const p2p = docs.get('p2p');
  if (p2p) {
    const q = p2p.runs.find((r) => r.variant === 'quic/100B');
    const all = (p2p.summary?.ratios ?? []) as Array<{ transport: string; baseline: string; messageBytes: number; ratio: number }>;
    const ratio = (baseline: string) => all.find((r) => r.transport === 'quic' && r.baseline === baseline && r.messageBytes === 100)?.ratio;
    const ratios = ratio('quinn-binding') !== undefined ? `; ${fixed(ratio('quinn-binding'), 2)}× the bare quinn binding (${fixed(ratio('quinn-binding+msgpack'), 2)}× with msgpack)` : '';
    if (q) rows.push(['p2p', 'quic 100 B delivered to a process', `${rate(q.metrics.msgsPerSec ?? 0)} msgs/s`, `≥ 1.2M msgs/s: ${p2p.summary?.targetMet ? 'met' : 'not met'}${ratios}`, fixed(p2p.env.loadAverage, 1)]);
  }
  const hol = docs.get('hol');
  if (hol) {
    const ratios = (hol.summary?.ratios ?? []) as Array<{ variant: string; bulkBytes: number; rttMs: number; ratio: number }>;
    const rtts = [...new Set(ratios.map((r) => r.rttMs))].sort((a, b) => a - b);
    // Per RTT, the worse of the bulk sizes.
    const worst = (v: string) => rtts.map((rtt) => `${fixed(ratios.filter((r) => r.variant === v && r.rttMs === rtt).reduce((a, r) => Math.max(a, r.ratio), 0), 1)}×`).join(' / ');
    rows.push([
      'hol',
      `gps p99 under bulk ÷ idle p99, worse bulk size, at RTT ${rtts.join(' / ')} ms`,
      `quic-channels ${worst('quic-channels')}; tcp-channels ${worst('tcp-channels')}; tcp-single ${worst('tcp-single')}`,
      `quic-channels ≤ 2× at every RTT: ${hol.summary?.quicChannelsTargetMet ? 'met' : 'not met'}`,
      fixed(hol.env.loadAverage, 1),
    ]);
  }
  const fanout = docs.get('fanout');
  if (fanout) {
    const best = fanout.runs.reduce<(typeof fanout.runs)[number] | undefined>((a, r) => (!a || (r.metrics.msgsPerSec ?? 0) > (a.metrics.msgsPerSec ?? 0) ? r : a), undefined);
    if (best) rows.push(['fanout', `broadcast deliveries/s (best: ${best.variant})`, `${rate(best.metrics.msgsPerSec ?? 0)} /s`, `p99 ${ms(best.metrics.latencyMs?.p99)} ms at 1k records/s`, fixed(fanout.env.loadAverage, 1)]);
  }
  const fleet = docs.get('fleet');
  if (fleet) rows.push(['fleet', 'max sustainable rate into 2 gateways → 4 consumers', `${rate(num(fleet.summary?.maxSustainablePerSec) ?? 0)} msgs/s`, `30k msgs/s ${fleet.summary?.baseRateSustained ? 'sustained' : 'not sustained'}`, fixed(fleet.env.loadAverage, 1)]);
  const rpc = docs.get('rpc');
  if (rpc) {
    const one = rpc.runs.find((r) => r.variant === 'rpc/1-in-flight');
    const many = rpc.runs.find((r) => r.variant === 'rpc/64-in-flight');
    rows.push(['rpc', 'RPC p50 / p99 (1 in flight; 64 in flight)', `${ms(one?.metrics.latencyMs?.p50)} / ${ms(one?.metrics.latencyMs?.p99)} ms; ${ms(many?.metrics.latencyMs?.p50)} / ${ms(many?.metrics.latencyMs?.p99)} ms`, `acked ÷ unacked throughput ${fixed(num(rpc.summary?.ackedOverUnacked), 2)}`, fixed(rpc.env.loadAverage, 1)]);
  }
  const nats = docs.get('nats');
  if (nats && nats.runs.length > 0) rows.push(['nats', 'partisan-ts ÷ NATS delivered msgs/s', `p2p ${fixed(num(nats.summary?.partisanOverNatsP2p), 2)}, fan-out ${fixed(num(nats.summary?.partisanOverNatsFanout), 2)}`, '', fixed(nats.env.loadAverage, 1)]);
  const erlang = docs.get('erlang');
  if (erlang && erlang.runs.length > 0) rows.push(['erlang', 'partisan-ts ÷ distributed Erlang, p2p 100 B', fixed(num(erlang.summary?.partisanOverErlangP2p100B), 2), '', fixed(erlang.env.loadAverage, 1)]);
  return table(['scenario', 'figure', 'measured', 'target / note', 'load at start'], rows);
}

/**
 * Render `<docsDir>/results/*.json` into `<docsDir>/README.md` and `<docsDir>/charts/*.svg`.
 * Returns the scenarios rendered.
 */
export async function renderReport(docsDir = defaultDocsDir): Promise<string[]> {
  const resultsDir = join(docsDir, 'results');
  const chartsDir = join(docsDir, 'charts');
  const files = (await readdir(resultsDir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  const docs = new Map<string, BenchDocument>();
  for (const f of files) {
    const doc = JSON.parse(await readFile(join(resultsDir, f), 'utf8')) as BenchDocument;
    if (typeof doc.scenario === 'string' && Array.isArray(doc.runs)) docs.set(doc.scenario, doc);
  }
  await mkdir(chartsDir, { recursive: true });
  const order = [...STANDARD_SET, ...[...docs.keys()].filter((k) => !STANDARD_SET.includes(k))];
  const out: string[] = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench:report` from the result documents in [results/](results/) — every figure below comes from one of those committed runs; nothing is typed by hand. Run a scenario with `npm run bench -- <scenario> [--duration s] [--nodes n] [--json out.json]`, the standard set with `npm run bench:all` (writes results/). Methods: [native-bench/](../../native-bench/).',
    '',
    'The machine is shared with other work: each section gives the load average at the start and end of its run; figures from a loaded run are lower and noisier than the machine can do.',
    '',
    '## Standard set',
    '',
    overview(docs),
    '',
  ];
  for (const name of order) {
    const doc = docs.get(name);
    if (!doc) continue;
    const scenario = SCENARIOS[name];
    out.push(`## ${scenario?.title ?? name} (\`${name}\`)`, '', scenario?.description ? `${scenario.description}.` : '', '', machineLine(doc), '', `Command: \`${String(doc.options.command ?? '')}\``, '');
    if (scenario) {
      const section = scenario.report(doc);
      out.push(section.markdown, '');
      for (const chart of section.charts) {
        if (doc.runs.length === 0) break;
        const svg = await renderSvg(chart.spec, chart.title);
        await writeFile(join(chartsDir, `${chart.name}.svg`), svg);
        out.push(`![${chart.title}](charts/${chart.name}.svg)`, '');
      }
    }
    if (doc.skipped.length > 0) out.push('Not measured in this run:', '', ...doc.skipped.map((s) => `- ${s.variant}: ${s.reason}`), '');
  }
  for (const other of ['transport.md', 'broadcast.md', 'compression.md']) {
    if ((await readdir(docsDir)).includes(other)) out.push(`See also [${other}](${other}).`, '');
  }
  await writeFile(join(docsDir, 'README.md'), `${out.join('\n').replace(/\n{3,}/g, '\n\n').trim()}\n`);
  return [...docs.keys()];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rendered = await renderReport();
  console.log(`rendered ${rendered.length} result document(s) (${rendered.join(', ')}) into docs/benchmarks/README.md`);
}
