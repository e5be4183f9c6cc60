/**
 * Transport throughput and latency, one way over one connection:
 *   npm run bench:transport -- [--quick] [--json <file>] [--markdown <file>]
 *     [--transports quic,quinn-binding,node-net] [--streams 1,4,16] [--sizes 100,16384,524288]
 *
 * Every transport with a factory in test/contract/factories/*.ts is measured, plus two
 * baselines in the same run: the bare quinn binding (our quic transport's ceiling) and plain
 * node:net. Sender and receiver run in two child processes (this one only orchestrates):
 * with both ends on one event loop, each side's work would be charged to the other and the
 * loop itself would be the bottleneck; real peers are separate processes. Both are fresh for
 * each transport, so nothing one transport leaves behind weighs on the next.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_WIRE_LIMITS } from '../../src/wire/index.js';
import { benchEnv, finishEnv } from '../lib/env.js';
import { writeDocument, writeReport } from '../lib/result.js';
import type { Transport } from '../../src/transport/transport.js';
import type { Target, Variant } from './endpoints.js';
import type { FromSide, ToSide } from './side.js';
import { BINDING, markdownReport, rate, ratioTable, resultsTable, variantName, type BenchResult, type Run } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const factoriesDir = join(root, 'test/contract/factories');

function numberList(value: string): number[] {
  const list = value.split(',').map((v) => Number(v.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n <= 0)) throw new InvalidArgumentError('expected positive integers, comma-separated');
  return list;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const program = new Command('bench:transport')
  .description('Transport throughput and latency, one way over one connection')
  .option('--quick', 'a ~1 s smoke run per transport: 1 stream, 100 B frames, 250 ms')
  .option('--json <file>', 'write the results as JSON')
  .option('--markdown <file>', 'write the results as a Markdown report')
  .option('--transports <names>', `comma-separated (default: every factory, ${BINDING}, node-net)`)
  .option('--streams <list>', 'streams per connection', numberList)
  .option('--sizes <list>', 'frame sizes in bytes, header included', numberList)
  .option('--duration <ms>', 'measured time per variant, after warm-up', positiveInt)
  .option('--repeat <n>', 'measure every variant n times (interleaved) and keep the median', positiveInt)
  .parse();

const opts = program.opts<{
  quick?: boolean;
  json?: string;
  markdown?: string;
  transports?: string;
  streams?: number[];
  sizes?: number[];
  duration?: number;
  repeat?: number;
}>();

const quick = opts.quick === true;
const durationMs = opts.duration ?? (quick ? 250 : 3_000);
const warmupMs = quick ? 50 : 500;
const streamsList = opts.streams ?? (quick ? [1] : [1, 4, 16]);
const sizes = opts.sizes ?? (quick ? [100] : [100, 16 * 1024, 512 * 1024]);
const repeat = opts.repeat ?? (quick ? 1 : 3);

function discoverTargets(): Target[] {
  const targets: Target[] = readdirSync(factoriesDir)
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map((f) => ({ kind: 'transport', name: basename(f, '.ts'), factory: join(factoriesDir, f) }));
  targets.push({ kind: 'quinn-binding', name: BINDING }, { kind: 'node-net', name: 'node-net' });
  if (!opts.transports) return targets;
  const wanted = opts.transports.split(',').map((s) => s.trim());
  const unknown = wanted.filter((w) => !targets.some((t) => t.name === w));
  if (unknown.length > 0) program.error(`unknown transport(s) ${unknown.join(', ')}; known: ${targets.map((t) => t.name).join(', ')}`);
  return targets.filter((t) => wanted.includes(t.name));
}

/**
 * Create (and close) one transport of each factory in this process before any side process
 * starts: factories share test credentials (a dev CA, a pinned certificate) with the
 * processes they spawn through the environment, and the side processes inherit it from here.
 */
async function primeFactory(factory: string): Promise<void> {
  const mod = (await import(pathToFileURL(factory).href)) as { createTransport(): Promise<Transport> };
  const transport = await mod.createTransport();
  await transport.close();
}

/** A benchmark side process (side.ts): one request at a time, answers in order. */
class SideProcess {
  private readonly child: ChildProcess;
  private readonly inbox: FromSide[] = [];
  private wake: (() => void) | undefined;
  private exited = false;

  constructor() {
    this.child = fork(join(here, 'side.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromSide) => this.push(m));
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.push({ type: 'error', message: `side process exited (${signal ?? code})` });
    });
  }

  async request<T extends FromSide['type']>(message: ToSide, expect: T, timeoutMs: number): Promise<Extract<FromSide, { type: T }>> {
    this.child.send(message);
    return this.answer(expect, timeoutMs);
  }

  async answer<T extends FromSide['type']>(expect: T, timeoutMs: number): Promise<Extract<FromSide, { type: T }>> {
    let timer: NodeJS.Timeout | undefined;
    try {
      while (this.inbox.length === 0) {
        await new Promise<void>((resolve, reject) => {
          this.wake = resolve;
          timer = setTimeout(() => reject(new Error(`no ${expect} from the side process within ${timeoutMs} ms`)), timeoutMs);
        });
        clearTimeout(timer);
      }
    } finally {
      clearTimeout(timer);
      this.wake = undefined;
    }
    const reply = this.inbox.shift()!;
    if (reply.type !== expect) throw new Error(reply.type === 'error' ? reply.message : `expected ${expect}, got ${reply.type}`);
    return reply as Extract<FromSide, { type: T }>;
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = once(this.child, 'exit');
    if (this.child.connected) this.child.disconnect();
    else this.child.kill('SIGKILL');
    await exited;
  }

  private push(message: FromSide): void {
    this.inbox.push(message);
    this.wake?.();
  }
}

/** The two processes of one transport's variants. */
interface Sides {
  sender: SideProcess;
  receiver: SideProcess;
}

async function measure(sides: Sides, variant: Variant): Promise<Run> {
  const { port } = await sides.receiver.request({ type: 'receive', variant }, 'ready', 30_000);
  const { framesSent } = await sides.sender.request({ type: 'send', variant, port }, 'sent', variant.warmupMs + variant.durationMs + 60_000);
  // The receiver answers once every stream ended: whatever was queued has arrived.
  const r = (await sides.receiver.answer('result', 60_000)).result;
  await sides.sender.request({ type: 'release' }, 'released', 30_000);
  if (r.totalFrames !== framesSent) throw new Error(`sent ${framesSent} frames but ${r.totalFrames} arrived`);
  if (r.seconds <= 0) throw new Error('nothing arrived after the warm-up');
  const { streams, frameBytes } = variant;
  return {
    variant: variantName(variant.target.name, streams, frameBytes),
    transport: variant.target.name,
    streams,
    frameBytes,
    metrics: {
      msgsPerSec: r.frames / r.seconds,
      mbPerSec: r.bytes / r.seconds / 1e6,
      frames: r.frames,
      bytes: r.bytes,
      seconds: r.seconds,
      latencyP50Ms: r.latencyP50Ms,
      latencyP99Ms: r.latencyP99Ms,
      latencyMaxMs: r.latencyMaxMs,
    },
  };
}

async function main(): Promise<void> {
  const targets = discoverTargets();
  const result: BenchResult = {
    scenario: 'transport',
    env: benchEnv(),
    options: {
      quick,
      transports: targets.map((t) => t.name),
      streams: streamsList,
      frameBytes: sizes,
      durationMs,
      warmupMs,
      repeat,
      batchBytes: DEFAULT_WIRE_LIMITS.writeBatchBytes,
      readChunkBytes: DEFAULT_WIRE_LIMITS.readChunkBytes,
      framing:
        'partisan-ts Message frames (5-byte header + msgpack body) batched by FrameWriter into 64 KiB writes; the receiver counts frames by length prefix and checks the type byte (bodies are not msgpack-decoded: that would measure msgpackr)',
      processes: 'sender and receiver each in a fresh child process per transport (separate event loops, as real peers; nothing left over from the previous transport)',
      latency: 'send time stamped into each frame when its batch is built, minus receive time of the chunk; both performance.timeOrigin + performance.now() on one machine',
    },
    runs: [],
    skipped: [],
  };
  const samples = new Map<string, Run[]>();
  const failures = new Map<string, string>();
  const spawnSides = (): Sides => ({ sender: new SideProcess(), receiver: new SideProcess() });
  const stopSides = (sides: Sides): Promise<unknown> => Promise.all([sides.sender.stop(), sides.receiver.stop()]);
  for (const target of targets) {
    if (target.kind !== 'transport') continue;
    try {
      await primeFactory(target.factory);
    } catch (err) {
      const reason = `factory failed: ${err instanceof Error ? err.message : String(err)}`;
      for (const frameBytes of sizes) for (const streams of streamsList) failures.set(variantName(target.name, streams, frameBytes), reason);
      process.stderr.write(`${target.name}: skipped: ${reason.split('\n')[0]}\n`);
    }
  }
  // Repeats outermost: variants interleave, so a burst of load elsewhere hits them all alike.
  for (let round = 0; round < repeat; round++) {
    for (const target of targets) {
      let sides = spawnSides();
      try {
        for (const frameBytes of sizes) {
          for (const streams of streamsList) {
            const name = variantName(target.name, streams, frameBytes);
            if (failures.has(name)) continue;
            const variant: Variant = {
              target,
              streams,
              frameBytes,
              durationMs,
              warmupMs,
              batchBytes: DEFAULT_WIRE_LIMITS.writeBatchBytes,
              readChunkBytes: DEFAULT_WIRE_LIMITS.readChunkBytes,
            };
            try {
              const run = await measure(sides, variant);
              samples.set(name, [...(samples.get(name) ?? []), run]);
              process.stderr.write(`${name}: ${rate(run.metrics.msgsPerSec)} msgs/s, ${run.metrics.mbPerSec.toFixed(0)} MB/s\n`);
            } catch (err) {
              const reason = err instanceof Error ? err.message : String(err);
              failures.set(name, reason);
              process.stderr.write(`${name}: skipped: ${reason.split('\n')[0]}\n`);
              // Whatever state the failure left behind must not taint the next variant.
              sides.sender.kill();
              sides.receiver.kill();
              await stopSides(sides);
              sides = spawnSides();
            }
          }
        }
      } finally {
        await stopSides(sides);
      }
    }
  }
  for (const [name, runs] of samples) {
    if (failures.has(name)) continue;
    const sorted = [...runs].sort((x, y) => x.metrics.msgsPerSec - y.metrics.msgsPerSec);
    const median = sorted[(sorted.length - 1) >> 1]!;
    result.runs.push({ ...median, samplesMsgsPerSec: runs.map((r) => r.metrics.msgsPerSec) });
  }
  for (const [variant, reason] of failures) result.skipped.push({ variant, reason });

  finishEnv(result.env);
  console.log(resultsTable(result.runs));
  const ratio = ratioTable(result.runs);
  if (ratio) console.log(`\n${ratio}`);
  if (opts.json) {
    await writeDocument(opts.json, result);
  }
  if (opts.markdown) {
    await writeReport(opts.markdown, markdownReport(result, `npm run bench:transport -- ${process.argv.slice(2).join(' ')}`.trim()));
  }
  // Nothing measured at all is a failure (the smoke test relies on the exit code too).
  if (result.runs.length === 0) process.exitCode = 1;
}

await main();
