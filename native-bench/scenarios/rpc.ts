/**
 * rpc — issue 6's benchmark, one run: RPC round trips (createRpc().call of a registered echo)
 * with 1 and 64 calls in flight, then forwardMessage throughput acked (`ack: true`, at most
 * 4096 unacknowledged) and unacked, all between the same two node processes over quic.
 */
import { benchEnv, finishEnv } from '../lib/env.js';
import { fixed, ms, rate, table } from '../lib/format.js';
import type { LatencySummary } from '../lib/histogram.js';
import { type BenchDocument, type BenchRun, type BenchSkip } from '../lib/result.js';
import { attempt, planWindow, round, sleep, sleepUntil, usageOf, type Scenario, type ScenarioContext } from '../lib/scenario.js';
import { connect, rateProbe, startNodeRoles, stopNodes, type SinkAnswer, type StartedNode } from './common.js';
import { wireBytes } from './p2p.js';

const IN_FLIGHT = [1, 64];
const ACK_WINDOW = 4096;

export async function runRpc(ctx: ScenarioContext): Promise<BenchDocument> {
  const env = benchEnv();
  const transport = ctx.transports?.[0] ?? 'quic';
  const runs: BenchRun[] = [];
  const skipped: BenchSkip[] = [];
  const nodes: StartedNode[] = [];
  try {
    nodes.push(...(await startNodeRoles(ctx, ['server', 'client'], { transport })));
    const [b, a] = nodes as [StartedNode, StartedNode];
    await b.child.call('rpcServe');
    await connect(a, b, ['default']);
    const children = nodes.map((n) => n.child);
    for (const inFlight of IN_FLIGHT) {
      const variant = `rpc/${inFlight}-in-flight`;
      await attempt(ctx, skipped, variant, async () => {
        const w = planWindow(ctx);
        await Promise.all(children.map((c) => c.call('measure', w.from, w.to)));
        await sleepUntil(w.start);
        const r = await ctx.progress.during(variant, a.child.call<{ counted: number; errors: number; latency: LatencySummary }>('rpcLoop', { peer: b.name, inFlight, untilWallMs: w.to }));
        const processes = await usageOf(children);
        runs.push({ variant, inFlight, metrics: { callsPerSec: r.counted / (w.durationMs / 1000), latencyMs: r.latency, errors: r.errors, processes } });
        ctx.progress.log(`${variant}: ${rate(r.counted / (w.durationMs / 1000))} calls/s, p50 ${ms(r.latency.p50)} p99 ${ms(r.latency.p99)} ms`);
      });
    }
    const bytesPerMessage = wireBytes(100);
    let sinkIndex = 0;
    for (const ack of [false, true]) {
      const variant = `forward/${ack ? 'acked' : 'unacked'}`;
      await attempt(ctx, skipped, variant, async () => {
        const sink = `sink${sinkIndex++}`;
        await b.child.call('sink', sink, { messageBytes: bytesPerMessage, sampleEvery: 8 });
        const w = planWindow(ctx);
        await Promise.all(children.map((c) => c.call('measure', w.from, w.to)));
        await sleepUntil(w.start);
        const sent = await ctx.progress.during(
          variant,
          a.child.call<{ sent: number; acked: number; failed: number }>('flood', { dest: { name: sink, node: b.name }, messageBytes: 100, untilWallMs: w.to, ...(ack ? { ack: true, ackWindow: ACK_WINDOW } : {}) }),
          rateProbe(() => b.child.call<number>('sinkCount', sink)),
        );
        await sleep(200);
        const s = await b.child.call<SinkAnswer>('sinkResult', sink);
        const processes = await usageOf(children);
        const msgsPerSec = s.counted / (w.durationMs / 1000);
        runs.push({
          variant,
          ack,
          metrics: { msgsPerSec, mbPerSec: (msgsPerSec * bytesPerMessage) / 1e6, latencyMs: s.latency, sent: sent.sent, ...(ack ? { acked: sent.acked, ackFailed: sent.failed } : {}), processes },
        });
        ctx.progress.log(`${variant}: ${rate(msgsPerSec)} msgs/s`);
      });
    }
  } finally {
    await stopNodes(nodes);
  }
  finishEnv(env);
  const fwd = (ack: boolean) => runs.find((r) => r.variant === `forward/${ack ? 'acked' : 'unacked'}`)?.metrics.msgsPerSec;
  const acked = fwd(true);
  const unacked = fwd(false);
  return {
    scenario: 'rpc',
    env,
    options: {
      command: ctx.command,
      transport,
      durationMs: ctx.durationMs,
      warmupMs: ctx.warmupMs,
      inFlight: IN_FLIGHT,
      ackWindow: ACK_WINDOW,
      call: "createRpc(node).call(peer, 'bench.echo', [gpsRecord]) with a 10 s timeout; each caller loops call-after-answer",
      forward: '100 B GPS records forwardMessage to a sink process on the other node; acked = { ack: true } with at most 4096 unacknowledged',
    },
    runs,
    skipped,
    summary: acked !== undefined && unacked !== undefined ? { ackedOverUnacked: round(acked / unacked, 3) } : {},
  };
}

function rpcTable(doc: BenchDocument): string {
  return table(
    ['variant', 'calls/s or msgs/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'client CPU', 'server CPU'],
    doc.runs.map((r) => {
      const m = r.metrics;
      const proc = (role: string) => m.processes?.find((p) => p.role === role)?.cpuCores;
      return [r.variant, rate((m.callsPerSec ?? m.msgsPerSec) as number), ms(m.latencyMs?.p50), ms(m.latencyMs?.p90), ms(m.latencyMs?.p99), ms(m.latencyMs?.p999), fixed(proc('client'), 2), fixed(proc('server'), 2)];
    }),
  );
}

export const rpc: Scenario = {
  name: 'rpc',
  title: 'RPC and acknowledged delivery',
  description: 'RPC round trips with 1 and 64 in flight; acked vs unacked forward throughput',
  run: runRpc,
  table: (doc) => `${rpcTable(doc)}\n\nacked / unacked throughput: ${fixed(doc.summary?.ackedOverUnacked as number | undefined, 2)}`,
  report: (doc) => ({
    markdown: [rpcTable(doc), '', `Acked forward throughput is ${fixed(doc.summary?.ackedOverUnacked as number | undefined, 2)}× the unacked one (same run, same processes).`, ''].join('\n'),
    charts: [
      {
        name: 'rpc-latency',
        title: 'RPC round trip (ms)',
        spec: {
          data: {
            values: doc.runs
              .filter((r) => r.variant.startsWith('rpc/'))
              .flatMap((r) => ['p50', 'p90', 'p99'].map((p) => ({ variant: r.variant, percentile: p, ms: (r.metrics.latencyMs as unknown as Record<string, number>)[p] }))),
          },
          width: 300,
          height: 200,
          mark: 'bar',
          encoding: {
            x: { field: 'variant', type: 'nominal', title: null },
            xOffset: { field: 'percentile', type: 'nominal' },
            y: { field: 'ms', type: 'quantitative', title: 'round trip ms' },
            color: { field: 'percentile', type: 'nominal' },
          },
        },
      },
    ],
  }),
};
