/**
 * nats — the p2p and fan-out loads through a local nats-server (Debian package `nats-server`,
 * started here on loopback; the scenario is skipped with a message when it is absent), using
 * the `nats` npm client, with partisan-ts quic measured in the same run for the same loads:
 *
 * - `nats/p2p`: one publisher process, one subscriber process, one subject;
 * - `nats/fanout-N`: one publisher, N subscriber processes (--nodes, default 4);
 * - `partisan-quic/p2p`, `partisan-quic/fanout-N`: forwardMessage to a process on 1 or N nodes.
 *
 * Delivered msgs/s count every subscriber's (receiver's) messages inside the window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BenchChild, exited, stopAll } from '../lib/child.js';
import { benchEnv, finishEnv } from '../lib/env.js';
import { externalWindow, freePort, hasCommand, waitForPort } from '../lib/external.js';
import { fixed, ms, rate, table } from '../lib/format.js';
import type { LatencySummary } from '../lib/histogram.js';
import { type BenchDocument, type BenchRun, type BenchSkip } from '../lib/result.js';
import { attempt, planWindow, round, sleep, sleepUntil, startRole, usageOf, type Scenario, type ScenarioContext } from '../lib/scenario.js';
import { rateProbe } from './common.js';
import { measureRuntime } from './p2p.js';

const MESSAGE_BYTES = 100;

export async function startNatsServer(): Promise<{ server: ChildProcess; port: number }> {
  const port = await freePort();
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    await waitForPort(port, 10_000, server);
  } catch (err) {
    server.kill('SIGKILL');
    throw err;
  }
  return { server, port };
}

async function measureNats(ctx: ScenarioContext, server: ChildProcess, port: number, subscribers: number, label: string): Promise<Record<string, unknown>> {
  const subs: BenchChild[] = [];
  let pub: BenchChild | undefined;
  const subject = `gps.${label.replace(/[^a-z0-9]/gi, '')}`;
  try {
    for (let i = 0; i < subscribers; i++) {
      const s = await startRole(ctx, `subscriber${subscribers > 1 ? i + 1 : ''}`, 'nats');
      subs.push(s);
      await s.call('connect', port);
      await s.call('subscribe', subject, 8);
    }
    pub = await startRole(ctx, 'publisher', 'nats');
    await pub.call('connect', port);
    const w = planWindow(ctx);
    const serverWindow = externalWindow('nats-server', server.pid!);
    const startAt = setTimeout(() => serverWindow.start(), Math.max(0, w.from - Date.now()));
    const stopAt = setTimeout(() => serverWindow.stop(), Math.max(0, w.to - Date.now()));
    await Promise.all([...subs, pub].map((c) => c.call('measure', w.from, w.to)));
    await sleepUntil(w.start);
    const first = subs[0]!;
    const sent = await ctx.progress.during(label, pub.call<{ sent: number; bytesPerMessage: number }>('publish', subject, MESSAGE_BYTES, w.to), rateProbe(() => first.call<number>('count')));
    await sleep(300);
    clearTimeout(startAt);
    clearTimeout(stopAt);
    const results = await Promise.all(subs.map((s) => s.call<{ total: number; counted: number; latency: LatencySummary }>('result')));
    const processes = [...(await usageOf([pub, ...subs])), serverWindow.usage()];
    const counted = results.reduce((n, r) => n + r.counted, 0);
    const seconds = w.durationMs / 1000;
    return {
      msgsPerSec: counted / seconds,
      perReceiverMsgsPerSec: counted / seconds / subscribers,
      mbPerSec: (counted * sent.bytesPerMessage) / seconds / 1e6,
      latencyMs: results.reduce((a, b) => (b.latency.p99 > a.latency.p99 ? b : a)).latency,
      sent: sent.sent,
      received: results.reduce((n, r) => n + r.total, 0),
      lost: Math.max(0, sent.sent * subscribers - results.reduce((n, r) => n + r.total, 0)),
      bytesPerMessage: round(sent.bytesPerMessage, 1),
      processes,
    };
  } finally {
    await Promise.all([...subs, pub].map((c) => c?.call('close').catch(() => {})));
    await stopAll([pub, ...subs]);
  }
}

export async function runNats(ctx: ScenarioContext): Promise<BenchDocument> {
  const env = benchEnv();
  const fanout = ctx.nodes ?? (ctx.quick ? 2 : 4);
  const runs: BenchRun[] = [];
  const skipped: BenchSkip[] = [];
  const options = {
    command: ctx.command,
    durationMs: ctx.durationMs,
    warmupMs: ctx.warmupMs,
    messageBytes: MESSAGE_BYTES,
    fanout,
    nats: 'nats-server on 127.0.0.1 (defaults); nats npm client; one msgpack-encoded GPS record per message; publisher flushes every 8192 messages (one flush outstanding)',
    partisan: 'forwardMessage of the same records to a process on each receiving node (quic), as in p2p',
  };
  if (!hasCommand('nats-server')) {
    const reason = 'nats-server not found on PATH (Debian: apt-get install nats-server); scenario skipped';
    ctx.progress.log(reason);
    finishEnv(env);
    return { scenario: 'nats', env, options, runs, skipped: [{ variant: 'nats/*', reason }] };
  }
  const plan: Array<{ variant: string; receivers: number; nats: boolean }> = [
    { variant: 'nats/p2p', receivers: 1, nats: true },
    { variant: 'partisan-quic/p2p', receivers: 1, nats: false },
    { variant: `nats/fanout-${fanout}`, receivers: fanout, nats: true },
    { variant: `partisan-quic/fanout-${fanout}`, receivers: fanout, nats: false },
    // --quick (smoke tests): the partisan-ts fan-out path is the p2p one with more receivers.
  ].filter((p) => !(ctx.quick && !p.nats && p.receivers > 1));
  let server: ChildProcess | undefined;
  try {
    for (const p of plan) {
      const metrics = await attempt(ctx, skipped, p.variant, async () => {
        if (!p.nats) {
          const m = await measureRuntime(ctx, { transport: 'quic', messageBytes: MESSAGE_BYTES, receivers: p.receivers, label: p.variant });
          return { ...m, perReceiverMsgsPerSec: (m.msgsPerSec as number) / p.receivers };
        }
        // A fresh server per variant: nothing one load leaves behind weighs on the next.
        const s = await startNatsServer();
        server = s.server;
        const m = await measureNats(ctx, s.server, s.port, p.receivers, p.variant);
        server.kill('SIGTERM');
        await exited(server);
        server = undefined;
        return m;
      });
      if (!metrics) continue;
      runs.push({ variant: p.variant, system: p.nats ? 'nats' : 'partisan-ts', receivers: p.receivers, metrics });
      ctx.progress.log(`${p.variant}: ${rate(metrics.msgsPerSec as number)} msgs/s delivered`);
    }
  } finally {
    if (server) {
      server.kill('SIGKILL');
      await exited(server);
    }
  }
  finishEnv(env);
  const get = (v: string) => runs.find((r) => r.variant === v)?.metrics.msgsPerSec as number | undefined;
  const ratio = (a?: number, b?: number) => (a !== undefined && b ? round(a / b, 3) : undefined);
  return {
    scenario: 'nats',
    env,
    options,
    runs,
    skipped,
    summary: {
      partisanOverNatsP2p: ratio(get('partisan-quic/p2p'), get('nats/p2p')),
      partisanOverNatsFanout: ratio(get(`partisan-quic/fanout-${fanout}`), get(`nats/fanout-${fanout}`)),
    },
  };
}

function natsTable(doc: BenchDocument): string {
  return table(
    ['variant', 'delivered msgs/s', 'per receiver', 'p50 ms', 'p99 ms', 'lost', 'sender CPU', 'server CPU'],
    doc.runs.map((r) => {
      const m = r.metrics;
      const proc = (role: string) => m.processes?.find((p) => p.role === role)?.cpuCores;
      return [
        r.variant,
        rate(m.msgsPerSec ?? 0),
        rate((m.perReceiverMsgsPerSec ?? m.msgsPerSec) as number),
        ms(m.latencyMs?.p50),
        ms(m.latencyMs?.p99),
        String(m.lost ?? m.mailboxDropped ?? 0),
        fixed(proc('publisher') ?? proc('sender'), 2),
        fixed(proc('nats-server'), 2),
      ];
    }),
  );
}

export const nats: Scenario = {
  name: 'nats',
  title: 'NATS side by side',
  description: 'p2p and fan-out of 100 B records through a local nats-server vs partisan-ts quic, same run',
  run: runNats,
  table: (doc) =>
    `${natsTable(doc)}\n\npartisan-ts / NATS: p2p ${fixed(doc.summary?.partisanOverNatsP2p as number | undefined, 2)}, fan-out ${fixed(doc.summary?.partisanOverNatsFanout as number | undefined, 2)}`,
  report: (doc) => ({
    markdown: [
      natsTable(doc),
      '',
      `partisan-ts ÷ NATS delivered throughput: p2p ${fixed(doc.summary?.partisanOverNatsP2p as number | undefined, 2)}, fan-out ${fixed(doc.summary?.partisanOverNatsFanout as number | undefined, 2)}.`,
      '',
    ].join('\n'),
    charts: [
      {
        name: 'nats-throughput',
        title: 'partisan-ts vs NATS, delivered msgs/s',
        spec: {
          data: { values: doc.runs.map((r) => ({ load: r.variant.split('/')[1], system: r.system, msgsPerSec: r.metrics.msgsPerSec })) },
          width: 300,
          height: 200,
          mark: 'bar',
          encoding: {
            x: { field: 'load', type: 'nominal', title: null },
            xOffset: { field: 'system', type: 'nominal' },
            y: { field: 'msgsPerSec', type: 'quantitative', title: 'delivered msgs/s' },
            color: { field: 'system', type: 'nominal' },
          },
        },
      },
    ],
  }),
};
