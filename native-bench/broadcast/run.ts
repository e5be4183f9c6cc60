/**
 * Broadcast fan-out benchmark (see bench.ts):
 *   npm run bench:broadcast -- [--quick] [--json <file>] [--markdown <file>] [--receivers 4,8]
 *     [--modes worker,main] [--records N] [--window N] [--latency-rate R] [--repeat N]
 */
import { Command, InvalidArgumentError } from 'commander';
import { writeDocument, writeReport } from '../lib/result.js';
import { runBroadcastBench } from './bench.js';
import { markdownReport, ratioTable, resultsTable, type PlumtreeMode } from './report.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function numberList(value: string): number[] {
  const list = value.split(',').map((v) => Number(v.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) throw new InvalidArgumentError('expected positive integers, comma-separated');
  return list;
}

function modeList(value: string): PlumtreeMode[] {
  const list = value.split(',').map((v) => v.trim());
  if (list.length === 0 || list.some((m) => m !== 'worker' && m !== 'main')) throw new InvalidArgumentError("expected 'worker' and/or 'main'");
  return list as PlumtreeMode[];
}

const program = new Command('bench:broadcast')
  .description('Plumtree fan-out of 100-byte GPS records from one origin to N local node processes, worker thread vs main thread')
  .option('--quick', 'a smoke run: 2 receivers, 1,000 records, 0.5 s latency phase')
  .option('--json <file>', 'write the results as JSON')
  .option('--markdown <file>', 'write the results as a Markdown report')
  .option('--receivers <list>', 'receiver counts (default 4,8; the origin is one more process)', numberList)
  .option('--modes <list>', 'worker,main (default both)', modeList)
  .option('--records <n>', 'records in the throughput phase', positiveInt)
  .option('--warmup <n>', 'warm-up records', positiveInt)
  .option('--window <n>', 'records in flight at most', positiveInt)
  .option('--chunk <n>', 'records per origin call', positiveInt)
  .option('--latency-rate <n>', 'records/s in the latency phase', positiveInt)
  .option('--latency-ms <n>', 'length of the latency phase', positiveInt)
  .option('--peer-service <name>', 'fullMesh or hyparview (default fullMesh)')
  .option('--transport <name>', 'quic or tcp (default quic)')
  .option('--repeat <n>', 'measure every variant n times (interleaved) and keep the median', positiveInt)
  .parse();

const opts = program.opts<{
  quick?: boolean;
  json?: string;
  markdown?: string;
  receivers?: number[];
  modes?: PlumtreeMode[];
  records?: number;
  warmup?: number;
  window?: number;
  chunk?: number;
  latencyRate?: number;
  latencyMs?: number;
  peerService?: string;
  transport?: string;
  repeat?: number;
}>();

if (opts.peerService !== undefined && opts.peerService !== 'fullMesh' && opts.peerService !== 'hyparview') program.error('--peer-service: fullMesh or hyparview');
if (opts.transport !== undefined && opts.transport !== 'quic' && opts.transport !== 'tcp') program.error('--transport: quic or tcp');

const result = await runBroadcastBench({
  quick: opts.quick === true,
  ...(opts.receivers ? { nodes: opts.receivers.map((r) => r + 1) } : {}),
  ...(opts.modes ? { modes: opts.modes } : {}),
  ...(opts.records ? { records: opts.records } : {}),
  ...(opts.warmup ? { warmupRecords: opts.warmup } : {}),
  ...(opts.window ? { window: opts.window } : {}),
  ...(opts.chunk ? { chunk: opts.chunk } : {}),
  ...(opts.latencyRate ? { latencyRate: opts.latencyRate } : {}),
  ...(opts.latencyMs ? { latencyMs: opts.latencyMs } : {}),
  ...(opts.peerService ? { peerService: opts.peerService as 'fullMesh' | 'hyparview' } : {}),
  ...(opts.transport ? { transport: opts.transport as 'quic' | 'tcp' } : {}),
  ...(opts.repeat ? { repeat: opts.repeat } : {}),
  log: (line) => process.stderr.write(`${line}\n`),
});

console.log(resultsTable(result.runs));
const ratio = ratioTable(result.runs);
if (ratio) console.log(`\n${ratio}`);
for (const s of result.skipped) console.log(`skipped ${s.variant}: ${s.reason.split('\n')[0]}`);
if (opts.json) {
  await writeDocument(opts.json, result);
}
if (opts.markdown) {
  await writeReport(opts.markdown, markdownReport(result, `npm run bench:broadcast -- ${process.argv.slice(2).join(' ')}`.trim()));
}
// Nothing measured at all is a failure (the smoke test relies on the exit code too).
if (result.runs.length === 0) process.exitCode = 1;
