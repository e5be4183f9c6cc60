/**
 * Compression off the event loop (issue 6): a `bulk` channel with `compression: 6` sends
 * compressible 512 KiB payloads flat out between two node processes, while the sender also
 * ticks a 10 ms timer standing in for a latency-sensitive channel. Run twice in one go —
 * deflate/inflate in the piscina pool, then inline on the event loop — and compare the main
 * thread's busy time (event-loop utilisation), its timer lateness, and throughput.
 *
 *   npm run bench:compression -- [--duration s] [--json file] [--markdown file] [--quick]
 */
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { BenchChild, stopAll } from '../lib/child.js';
import { benchEnv, finishEnv } from '../lib/env.js';
import { writeDocument, writeReport } from '../lib/result.js';

const self = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

interface SideResult {
  messages: number;
  wallMs: number;
  /** Main-thread event-loop utilisation over the window (0..1). */
  elu: number;
  /** Process CPU (all threads, pool included), ms. */
  cpuMs: number;
  /** 10 ms timer lateness on the main thread, ms. */
  lagP50: number;
  lagP99: number;
  lagMax: number;
}

/** A payload that compresses like real telemetry batches (JSON-ish text, ~6:1). */
function payload(seq: number, bytes: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const s = `{"vehicle":"veh-${(seq * 31 + i) % 5000}","lat":${(52 + i * 1e-5).toFixed(5)},"lon":${(4 + i * 2e-5).toFixed(5)},"speed":${(i * 7) % 130}},`;
    parts.push(s);
    n += s.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

/** One side, in its own process (a serve() role): a node whose `bulk` channel compresses. */
async function role(): Promise<void> {
  const { startNode } = await import('../../src/node/node.js');
  const { serve } = await import('../lib/serve.js');
  const mode = process.env.MODE as 'pool' | 'inline';
  const side = process.env.ROLE as 'sender' | 'receiver';
  const node = await startNode({
    name: `${side}-${mode}@127.0.0.1`,
    channels: [{ name: 'bulk', compression: 6 }],
    compression: { mode, thresholdBytes: 16 * 1024 },
  });
  const sink = side === 'receiver' ? node.spawnMailbox({ name: 'sink' }) : undefined;
  serve({
    spec: () => node.nodeSpec(),
    async join(spec: Parameters<typeof node.join>[0]) {
      node.join(spec);
      while (!node.isFullyConnected(String(spec.name))) await new Promise((r) => setTimeout(r, 20));
      return true;
    },
    async run(durationMs: number, bytes: number, peer: string): Promise<SideResult> {
      const lag = monitorEventLoopDelay({ resolution: 1 });
      const tick = setInterval(() => {}, 10); // the "gps" work whose lateness we watch
      lag.enable();
      const elu0 = performance.eventLoopUtilization();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let messages = 0;
      if (side === 'sender') {
        const dest = { name: 'sink', node: peer };
        const blobs = Array.from({ length: 8 }, (_, i) => payload(i, bytes));
        while (performance.now() - t0 < durationMs) {
          const r = node.forwardMessage(dest, { seq: messages, blob: blobs[messages % blobs.length] }, { channel: 'bulk' });
          messages++;
          if (r) await r;
          else await new Promise((resolve) => setImmediate(resolve));
        }
      } else {
        while (performance.now() - t0 < durationMs) {
          const batch = await sink!.receiveMany(64, { timeoutMs: Math.max(1, durationMs - (performance.now() - t0)) }).catch(() => []);
          messages += batch.length;
        }
      }
      const wallMs = performance.now() - t0;
      const elu = performance.eventLoopUtilization(elu0).utilization;
      const cpu = process.cpuUsage(cpu0);
      clearInterval(tick);
      lag.disable();
      return {
        messages,
        wallMs,
        elu,
        cpuMs: (cpu.user + cpu.system) / 1000,
        lagP50: lag.percentile(50) / 1e6,
        lagP99: lag.percentile(99) / 1e6,
        lagMax: lag.max / 1e6,
      };
    },
    async stopNode() {
      await node.stop();
      return true;
    },
  });
}

async function measure(mode: 'pool' | 'inline', durationMs: number, bytes: number): Promise<{ sender: SideResult; receiver: SideResult }> {
  const start = (side: string) => BenchChild.start(`${side}-${mode}`, self, { env: { ROLE: side, MODE: mode } });
  const [receiver, sender] = await Promise.all([start('receiver'), start('sender')]);
  try {
    const receiverSpec = await receiver.call<{ name: string }>('spec');
    await sender.call('join', receiverSpec);
    // The receiver starts first and listens half a second longer, so it sees everything sent.
    const [r, s] = await Promise.all([
      receiver.call<SideResult>('run', durationMs + 500, bytes, ''),
      sender.call<SideResult>('run', durationMs, bytes, receiverSpec.name),
    ]);
    await Promise.all([sender.call('stopNode'), receiver.call('stopNode')]);
    return { sender: s, receiver: r };
  } finally {
    await stopAll([sender, receiver]);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const quick = args.includes('--quick');
  const durationMs = quick ? 1000 : Number(arg('--duration') ?? 10) * 1000;
  const bytes = quick ? 64 * 1024 : 512 * 1024;
  const env = benchEnv();
  const runs = [];
  for (const mode of ['pool', 'inline'] as const) {
    const { sender, receiver } = await measure(mode, durationMs, bytes);
    runs.push({ variant: `compression-${mode}`, mode, payloadBytes: bytes, metrics: { msgsPerSec: receiver.messages / (sender.wallMs / 1000), mbPerSec: (receiver.messages * bytes) / MiB / (sender.wallMs / 1000), sender, receiver } });
    process.stderr.write(`[compression] ${mode}: ${receiver.messages} × ${bytes / 1024} KiB, sender main-thread busy ${(sender.elu * 100).toFixed(0)}%, timer lag p99 ${sender.lagP99.toFixed(1)} ms\n`);
  }
  finishEnv(env);
  const pool = runs[0]!.metrics;
  const inline = runs[1]!.metrics;
  // Main-thread busy time per MiB moved: what the pool saves the event loop.
  const busyPerMiB = (m: typeof pool) => (m.sender.elu * m.sender.wallMs) / Math.max(1e-9, m.mbPerSec * (m.sender.wallMs / 1000));
  const doc = {
    scenario: 'compression',
    env,
    options: { command: `npm run bench:compression -- ${args.join(' ')}`.trim(), durationMs, payloadBytes: bytes, level: 6, transport: 'quic' },
    runs,
    summary: {
      senderMainThreadMsPerMiB: { pool: busyPerMiB(pool), inline: busyPerMiB(inline) },
      mainThreadSaved: 1 - busyPerMiB(pool) / busyPerMiB(inline),
      timerLagP99Ms: { pool: pool.sender.lagP99, inline: inline.sender.lagP99 },
    },
  };
  const json = arg('--json');
  if (json) await writeDocument(json, doc);
  const md = arg('--markdown');
  const f = (x: number, d = 1) => x.toFixed(d);
  const table = [
    '| mode | MB/s | sender main-thread busy | sender main ms per MiB | sender timer lag p50 / p99 / max ms | receiver main-thread busy | receiver timer lag p99 ms | sender CPU ms (all threads) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...runs.map((r) => {
      const m = r.metrics;
      return `| ${r.mode} | ${f(m.mbPerSec)} | ${f(m.sender.elu * 100, 0)}% | ${f(busyPerMiB(m), 2)} | ${f(m.sender.lagP50)} / ${f(m.sender.lagP99)} / ${f(m.sender.lagMax)} | ${f(m.receiver.elu * 100, 0)}% | ${f(m.receiver.lagP99)} | ${f(m.sender.cpuMs, 0)} |`;
    }),
  ].join('\n');
  process.stdout.write(`${table}\n\nmain-thread time per MiB saved by the pool: ${f(doc.summary.mainThreadSaved * 100, 0)}%\n`);
  if (md) {
    await writeReport(
      md,
      [
        '# Compression: pool vs inline',
        '',
        `- Machine: ${env.cpu}, ${env.cores} cores, ${env.os}; Node ${env.node}`,
        `- Run ${env.date}, commit \`${env.commit}\`, load average ${f(env.loadAverage, 2)} at start, ${f(env.loadAverageEnd ?? NaN, 2)} at end`,
        `- Command: \`${doc.options.command}\``,
        `- A \`bulk\` channel with \`compression: 6\`, ${bytes / 1024} KiB compressible payloads flat out between two node processes over QUIC, ${durationMs / 1000} s per mode, both modes in one run. "Busy" is the main thread's event-loop utilisation; timer lag is how late a 10 ms interval fired on the main thread (what a latency-sensitive channel would feel).`,
        '',
        table,
        '',
        `Main-thread time per MiB moved, pool vs inline: ${f(busyPerMiB(pool), 2)} vs ${f(busyPerMiB(inline), 2)} ms — ${f(doc.summary.mainThreadSaved * 100, 0)}% saved by compressing in the pool.`,
        '',
      ].join('\n'),
    );
  }
}

if (process.env.ROLE) await role();
else await main();
