/**
 * Pieces the node-based scenarios share: starting a pair (or more) of partisan-ts nodes in
 * role processes, joined and connected, and turning a sink's answer into metrics.
 */
import { randomBytes } from 'node:crypto';
import { stopAll, type BenchChild } from '../lib/child.js';
import type { LatencySummary } from '../lib/histogram.js';
import { rate } from '../lib/format.js';
import { startRole, type ScenarioContext } from '../lib/scenario.js';

export interface NodeSpecJson {
  name: string;
  listenAddrs: Array<{ host: string; port: number }>;
}

export interface StartedNode {
  child: BenchChild;
  name: string;
  spec: NodeSpecJson;
}

export interface SinkAnswer {
  total: number;
  counted: number;
  bytes: number;
  bySource: Array<number | null>;
  latest?: number;
  dropped: number;
  queued: number;
  lastArrival: number;
  latency: LatencySummary;
  histogram: string;
}

/** Start a partisan-ts node in a fresh role process. Benchmarks use the static peer service: no gossip in the measurement. */
export async function startNodeRole(ctx: ScenarioContext, role: string, options: Record<string, unknown>): Promise<StartedNode> {
  const child = await startRole(ctx, role, 'node');
  try {
    const started = await child.call<{ node: string; spec: NodeSpecJson }>('start', {
      name: `${role}-${randomBytes(3).toString('hex')}@127.0.0.1`,
      peerService: 'static',
      ...options,
    });
    return { child, name: started.node, spec: started.spec };
  } catch (err) {
    child.kill();
    throw err;
  }
}

/**
 * Start several node roles side by side (each process spends most of its start-up compiling
 * TypeScript); if one fails, the others are stopped and the failure is thrown.
 */
export async function startNodeRoles(ctx: ScenarioContext, roles: ReadonlyArray<string>, options: Record<string, unknown>): Promise<StartedNode[]> {
  const started = await Promise.allSettled(roles.map((role) => startNodeRole(ctx, role, options)));
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopNodes(nodes);
    throw failed.reason;
  }
  return nodes;
}

/** `from` joins `to` (optionally through another address, e.g. a delay proxy) and waits for the channels. */
export async function connect(from: StartedNode, to: StartedNode, channels: string[], via?: { host: string; port: number }): Promise<void> {
  const spec = via ? { ...to.spec, listenAddrs: [via] } : to.spec;
  await from.child.call('join', spec);
  await from.child.call('waitConnected', to.name, channels);
}

export async function stopNodes(nodes: ReadonlyArray<StartedNode | undefined>): Promise<void> {
  await stopAll(nodes.map((n) => n?.child));
}

/** A progress detail: messages/s a counter grew by since the last call. */
export function rateProbe(count: () => Promise<number>): () => Promise<string> {
  let last: { n: number; t: number } | undefined;
  return async () => {
    const n = await count();
    const t = performance.now();
    const r = last ? ((n - last.n) / (t - last.t)) * 1000 : 0;
    last = { n, t };
    return `${rate(r)} msgs/s`;
  };
}
