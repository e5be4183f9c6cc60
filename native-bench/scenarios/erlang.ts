/**
 * erlang — the p2p and hol loads between two distributed Erlang nodes (Debian package
 * `erlang-nox` or `erlang`; skipped with a message when `escript`/`epmd` are absent). The
 * scenario starts a private epmd on a free loopback port (ERL_EPMD_PORT, so no system epmd is
 * touched), a receiver node and, per variant, a sender node running
 * native-bench/erlang/bench.escript (compiled on start). partisan-ts quic runs the same loads
 * in the same run:
 *
 * - `erlang/p2p`, `partisan-quic/p2p`: GPS records (100 B, 16 KiB) A → a process on B, flat out;
 *   Erlang's own backpressure is the distribution port's busy limit.
 * - `erlang-dist/idle`, `erlang-dist/bulk`: gps 1000/s alone, then with bulk binaries (512 KiB,
 *   8 MiB) back to back on the same distribution connection (OTP fragments large messages);
 *   `quic-idle`, `quic-channels` beside them.
 *
 * Loopback only: distribution dials the port epmd hands out, which the delay proxy cannot sit in front of.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exited } from '../lib/child.js';
import { benchEnv, finishEnv, repoRoot } from '../lib/env.js';
import { externalWindow, freePort, hasCommand, waitForPort } from '../lib/external.js';
import { fixed, ms, rate, sizeLabel, table } from '../lib/format.js';
import { summarizeSamples, type LatencySummary } from '../lib/histogram.js';
import { type BenchDocument, type BenchRun, type BenchSkip } from '../lib/result.js';
import { attempt, round, sleep, type Scenario, type ScenarioContext } from '../lib/scenario.js';
import { runChannels } from './hol.js';
import { measureRuntime } from './p2p.js';

const SCRIPT = join(repoRoot, 'native-bench/erlang/bench.escript');
const COOKIE = `pbench${randomBytes(4).toString('hex')}`;

interface ErlangCluster {
  epmd: ChildProcess;
  receiver: ChildProcess;
  receiverName: string;
  env: NodeJS.ProcessEnv;
  dir: string;
}

async function startCluster(): Promise<ErlangCluster> {
  const port = await freePort();
  const epmd = spawn('epmd', ['-port', String(port)], { stdio: 'ignore' });
  const env = { ...process.env, ERL_EPMD_PORT: String(port) };
  const dir = await mkdtemp(join(tmpdir(), 'partisan-erlang-'));
  try {
    await waitForPort(port, 10_000, epmd);
    const receiverName = `recv${randomBytes(3).toString('hex')}@127.0.0.1`;
    const receiver = spawn('escript', [SCRIPT, 'receiver', receiverName, COOKIE], { stdio: ['pipe', 'pipe', 'inherit'], env });
    const lines = createInterface({ input: receiver.stdout! });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the Erlang receiver did not start within 60 s')), 60_000);
      lines.on('line', (l) => {
        if (l.trim() === 'READY') {
          clearTimeout(timer);
          resolve();
        }
      });
      receiver.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the Erlang receiver exited (${code})`));
      });
    });
    return { epmd, receiver, receiverName, env, dir };
  } catch (err) {
    epmd.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopCluster(c: ErlangCluster): Promise<void> {
  c.receiver.stdin?.end();
  const timer = setTimeout(() => c.receiver.kill('SIGKILL'), 5_000);
  await exited(c.receiver);
  clearTimeout(timer);
  c.epmd.kill('SIGTERM');
  await exited(c.epmd);
  await rm(c.dir, { recursive: true, force: true });
}

/** Run one sender escript to completion; its RESULT line, the latency samples (µs) and CPU of both nodes. */
async function runSender(ctx: ScenarioContext, c: ErlangCluster, args: string[]): Promise<{ result: Record<string, number>; latency: LatencySummary; processes: ReturnType<ReturnType<typeof externalWindow>['usage']>[] }> {
  const file = join(c.dir, `lat-${Date.now()}.txt`);
  const name = `send${randomBytes(3).toString('hex')}@127.0.0.1`;
  const [mode, ...rest] = args;
  const sender = spawn('escript', [SCRIPT, mode!, name, COOKIE, c.receiverName, String(ctx.warmupMs), String(ctx.durationMs), ...rest, file], { stdio: ['ignore', 'pipe', 'inherit'], env: c.env });
  const windows = [externalWindow('sender', sender.pid!), externalWindow('receiver', c.receiver.pid!)];
  // The sender prints its window (µs, wall clock) once the receiver is armed: CPU is read at its ends.
  let result: Record<string, number> | undefined;
  const timers: NodeJS.Timeout[] = [];
  const lines = createInterface({ input: sender.stdout! });
  lines.on('line', (l) => {
    if (l.startsWith('RESULT ')) result = JSON.parse(l.slice(7)) as Record<string, number>;
    const w = /^WINDOW (\d+) (\d+)/.exec(l);
    if (w) {
      timers.push(setTimeout(() => windows.forEach((x) => x.start()), Math.max(0, Number(w[1]) / 1000 - Date.now())));
      timers.push(setTimeout(() => windows.forEach((x) => x.stop()), Math.max(0, Number(w[2]) / 1000 - Date.now())));
    }
  });
  const killer = setTimeout(() => sender.kill('SIGKILL'), ctx.warmupMs + ctx.durationMs + 60_000);
  try {
    const [code] = (await once(sender, 'exit')) as [number | null];
    if (code !== 0 || !result) throw new Error(`the Erlang sender exited (${code}) without a result`);
  } finally {
    timers.forEach(clearTimeout);
    clearTimeout(killer);
  }
  const text = await readFile(file, 'utf8').catch(() => '');
  const samples = text.split('\n').filter(Boolean).map((l) => Number(l) / 1000);
  return { result, latency: summarizeSamples(samples), processes: windows.map((w) => w.usage()) };
}

export async function runErlang(ctx: ScenarioContext): Promise<BenchDocument> {
  const env = benchEnv();
  const sizes = ctx.quick ? [100] : [100, 16 * 1024];
  const bulkSizes = ctx.sizes ?? (ctx.quick ? [512 * 1024] : [512 * 1024, 8 * 1024 * 1024]);
  const gpsRate = ctx.rate ?? (ctx.quick ? 200 : 1000);
  const runs: BenchRun[] = [];
  const skipped: BenchSkip[] = [];
  const options = {
    command: ctx.command,
    durationMs: ctx.durationMs,
    warmupMs: ctx.warmupMs,
    sizes,
    bulkBytes: bulkSizes,
    gpsRatePerSec: gpsRate,
    erlang: 'two beam nodes (escript, -name …@127.0.0.1, private epmd); records are tuples with the GPS fields; p2p latency every 8th message, gps every message; os:system_time(microsecond) stamps',
    partisan: 'quic, as the p2p and hol scenarios',
  };
  if (!hasCommand('escript') || !hasCommand('epmd')) {
    const reason = 'escript/epmd not found (Debian: apt-get install erlang-nox); scenario skipped';
    ctx.progress.log(reason);
    finishEnv(env);
    return { scenario: 'erlang', env, options, runs, skipped: [{ variant: 'erlang/*', reason }] };
  }
  const cluster = await startCluster();
  try {
    for (const size of sizes) {
      const variant = `erlang/p2p/${sizeLabel(size)}`;
      const r = await attempt(ctx, skipped, variant, () => ctx.progress.during(variant, runSender(ctx, cluster, ['p2p', String(size)])));
      if (r) {
        const msgsPerSec = r.result.counted! / (ctx.durationMs / 1000);
        runs.push({ variant, system: 'erlang', load: 'p2p', messageBytes: size, metrics: { msgsPerSec, mbPerSec: (msgsPerSec * r.result.termBytes!) / 1e6, latencyMs: r.latency, sent: r.result.sent, received: r.result.received, termBytes: r.result.termBytes, processes: r.processes } });
        ctx.progress.log(`${variant}: ${rate(msgsPerSec)} msgs/s`);
      }
      const pv = `partisan-quic/p2p/${sizeLabel(size)}`;
      const metrics = await attempt(ctx, skipped, pv, () => measureRuntime(ctx, { transport: 'quic', messageBytes: size, label: pv }));
      if (metrics) {
        runs.push({ variant: pv, system: 'partisan-ts', load: 'p2p', messageBytes: size, metrics });
        ctx.progress.log(`${pv}: ${rate(metrics.msgsPerSec as number)} msgs/s`);
      }
    }
    for (const bulkBytes of [0, ...bulkSizes]) {
      const variant = bulkBytes === 0 ? 'erlang-dist/idle' : `erlang-dist/bulk-${sizeLabel(bulkBytes)}`;
      const r = await attempt(ctx, skipped, variant, () => ctx.progress.during(variant, runSender(ctx, cluster, ['hol', String(gpsRate), String(bulkBytes)])));
      if (r) {
        const l = r.latency;
        runs.push({
          variant,
          system: 'erlang',
          load: 'hol',
          bulkBytes,
          metrics: { gpsLatencyMs: { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p999, max: l.max }, bulkMBps: round(r.result.bulkBytes! / (ctx.durationMs / 1000) / 1e6, 1), gpsSent: r.result.gpsSent, gpsReceived: r.result.gpsReceived, processes: r.processes },
        });
        ctx.progress.log(`${variant}: gps p99 ${ms(l.p99)} ms`);
      }
      // --quick (smoke tests): the partisan-ts side of hol is the hol scenario's own code path.
      if (ctx.quick) continue;
      const pv = bulkBytes === 0 ? 'quic-idle' : `quic-channels/bulk-${sizeLabel(bulkBytes)}`;
      const metrics = await attempt(ctx, skipped, pv, () => runChannels(ctx, { variant: bulkBytes === 0 ? 'quic-idle' : 'quic-channels', bulkBytes, rttMs: 0, gpsRate }, pv));
      if (metrics) runs.push({ variant: pv, system: 'partisan-ts', load: 'hol', bulkBytes, metrics });
      await sleep(100);
    }
  } finally {
    await stopCluster(cluster);
  }
  finishEnv(env);
  const get = (v: string) => runs.find((r) => r.variant === v);
  const p2pRatio = (() => {
    const e = get('erlang/p2p/100B')?.metrics.msgsPerSec as number | undefined;
    const p = get('partisan-quic/p2p/100B')?.metrics.msgsPerSec as number | undefined;
    return e && p ? round(p / e, 3) : undefined;
  })();
  return { scenario: 'erlang', env, options, runs, skipped, summary: { partisanOverErlangP2p100B: p2pRatio } };
}

function erlangTable(doc: BenchDocument): string {
  return table(
    ['variant', 'msgs/s', 'latency p50 ms', 'p99 ms', 'p99.9 ms', 'bulk MB/s', 'sender CPU', 'receiver CPU'],
    doc.runs.map((r) => {
      const m = r.metrics;
      const l = (m.latencyMs ?? m.gpsLatencyMs) as LatencySummary | undefined;
      const proc = (role: string) => m.processes?.find((p) => p.role === role)?.cpuCores;
      return [r.variant, m.msgsPerSec !== undefined ? rate(m.msgsPerSec) : '–', ms(l?.p50), ms(l?.p99), ms(l?.p999), m.bulkMBps !== undefined ? fixed(m.bulkMBps as number, 0) : '–', fixed(proc('sender'), 2), fixed(proc('receiver'), 2)];
    }),
  );
}

export const erlang: Scenario = {
  name: 'erlang',
  title: 'Distributed Erlang side by side',
  description: 'p2p and hol loads between two distributed Erlang nodes vs partisan-ts quic, same run',
  run: runErlang,
  table: (doc) => `${erlangTable(doc)}\n\npartisan-ts / Erlang p2p 100 B: ${fixed(doc.summary?.partisanOverErlangP2p100B as number | undefined, 2)}`,
  report: (doc) => ({
    markdown: [erlangTable(doc), '', `partisan-ts ÷ distributed Erlang, p2p 100 B delivered throughput: ${fixed(doc.summary?.partisanOverErlangP2p100B as number | undefined, 2)}. Latency is p2p one-way under flat-out load, or gps one-way for the hol rows.`, ''].join('\n'),
    charts: [
      {
        name: 'erlang-hol',
        title: 'gps p99 (ms, log scale): distributed Erlang vs partisan-ts quic',
        spec: {
          data: {
            values: doc.runs
              .filter((r) => r.load === 'hol')
              .map((r) => ({ system: r.system, bulk: r.bulkBytes ? sizeLabel(r.bulkBytes as number) : 'none', p99: (r.metrics.gpsLatencyMs as LatencySummary).p99 })),
          },
          width: 300,
          height: 200,
          mark: 'bar',
          encoding: {
            x: { field: 'bulk', type: 'nominal', title: 'bulk message size', sort: null },
            xOffset: { field: 'system', type: 'nominal' },
            y: { field: 'p99', type: 'quantitative', scale: { type: 'log' }, title: 'gps p99 ms' },
            color: { field: 'system', type: 'nominal' },
          },
        },
      },
    ],
  }),
};
