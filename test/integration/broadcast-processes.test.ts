/**
 * Eight real node processes on loopback over QUIC, once with the full-mesh peer service and
 * once with HyParView: 10,000 GPS records broadcast from two origins on channel `gps`
 * (latestPosition) reach every live node, while two nodes are killed (SIGKILL) mid-run and one
 * of them restarts (on a new port, with an empty store: it catches up by anti-entropy).
 *
 * "Reach", for latestPosition: every version an origin broadcast is, at every live node, either
 * merged or superseded by a newer version of the same vehicle. Versions only grow, so that is
 * exactly: each live node's newest version per vehicle equals the newest version broadcast —
 * checked on what each node's subscription delivered, so it is also what an application there
 * saw. Per node we log the merged updates (handler.accepted: local + broadcast + exchange) and
 * check that no version was merged twice. RMR is logged; the test asserts only that it is
 * finite and that the tree formed (duplicates were pruned), no absolute thresholds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeProcess, eventually } from './harness/node-process.js';

const NODES = 8;
const WAVES = 10;
const PER_WAVE = 500; // per origin: 2 × 10 × 500 = 10,000 broadcasts
const ORIGINS = [0, 1];
const KILLED = [6, 7];
const RESTARTED = 7;
const KILL_AT_WAVE = 3;
const RESTART_AT_WAVE = 6;

const base = {
  transport: 'quic',
  quic: { idleTimeoutMs: 3_000, keepAliveIntervalMs: 500 },
  keepalive: { idleMs: 1_000, timeoutMs: 1_000, attempts: 2 },
  channels: [{ name: 'gps', parallelism: 2 }],
  broadcast: { gps: { handler: 'latestPosition', plumtree: { lazyTickPeriod: 200, exchangeTickPeriod: 1_000 } } },
};

const VARIANTS = [
  { name: 'full mesh', peerService: 'fullMesh', membership: { gossipIntervalMs: 500 } },
  {
    name: 'hyparview',
    peerService: 'hyparview',
    membership: { shuffleInterval: 1_000, randomPromotionInterval: 300, contactTimeoutMs: 2_000, contactLingerMs: 1_000, rejoinIntervalMs: 5_000 },
  },
] as const;

type Metrics = Record<string, number>;

/** Vehicles of wave `w`: all 250 of an origin in the first half, the first 125 after, so the others' last versions predate the restart. */
const vehiclesIn = (wave: number): number => (wave < WAVES / 2 ? 250 : 125);

function waveSpec(origin: number, wave: number): Record<string, unknown> {
  return { prefix: `o${origin}-v`, vehicles: vehiclesIn(wave), count: PER_WAVE, from: wave * PER_WAVE, yieldEvery: 100 };
}

/** The newest version broadcast per vehicle (the agent's record i of a wave: vehicle (from+i) % vehicles, ts from+i). */
function expectedState(): Map<string, number> {
  const want = new Map<string, number>();
  for (const origin of ORIGINS) {
    for (let wave = 0; wave < WAVES; wave++) {
      for (let seq = wave * PER_WAVE; seq < (wave + 1) * PER_WAVE; seq++) {
        const v = `o${origin}-v${seq % vehiclesIn(wave)}`;
        want.set(v, Math.max(want.get(v) ?? -1, seq));
      }
    }
  }
  return want;
}

function differences(state: Record<string, number>, want: ReadonlyMap<string, number>): number {
  let diff = Object.keys(state).length === want.size ? 0 : 1;
  for (const [v, ts] of want) if (state[v] !== ts) diff++;
  return diff;
}

async function overlayReady(nodes: readonly NodeProcess[], peerService: string): Promise<void> {
  await eventually(
    async () => {
      const members = await Promise.all(nodes.map((n) => n.call<string[]>('broadcastMembers')));
      if (peerService === 'fullMesh' && !members.every((m) => m.length === nodes.length - 1)) return false;
      // Every node has tree neighbours, each on a live gps lane, and views are symmetric.
      const byName = new Map(nodes.map((n, i) => [n.name, members[i]!]));
      for (const [i, n] of nodes.entries()) {
        const mine = members[i]!;
        if (mine.length === 0) return false;
        if (!mine.every((p) => byName.get(p)?.includes(n.name))) return false;
        const up = await Promise.all(mine.map((p) => n.call<boolean>('isConnected', p, 'gps')));
        if (!up.every(Boolean)) return false;
      }
      return true;
    },
    `${peerService} overlay with gps lanes up`,
    30_000,
    100,
  );
}

/** `node` has a tree neighbour that lists it back, on a live gps lane. */
async function joined(node: NodeProcess, nodes: readonly NodeProcess[]): Promise<void> {
  await eventually(
    async () => {
      const mine = await node.call<string[]>('broadcastMembers');
      for (const p of mine) {
        // A killed node can still be listed until membership notices; ask only live ones.
        const peer = nodes.find((n) => n.name === p && n.alive);
        if (peer && (await peer.call<string[]>('broadcastMembers')).includes(node.name) && (await node.call<boolean>('isConnected', p, 'gps'))) return true;
      }
      return false;
    },
    `${node.name} joined the broadcast tree`,
    30_000,
    100,
  );
}

describe('broadcast across 8 node processes over QUIC, with kills and a restart', { timeout: 170_000 }, () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: 10,000 broadcasts from two origins reach every live node`, async () => {
      const options = (i: number): Record<string, unknown> => ({
        ...base,
        name: `n${i}@127.0.0.1`,
        host: '127.0.0.1',
        port: 0,
        peerService: variant.peerService,
        membership: variant.membership,
      });
      const nodes: NodeProcess[] = [];
      const t0 = Date.now();
      try {
        nodes.push(...(await Promise.all(Array.from({ length: NODES }, (_, i) => NodeProcess.start(options(i))))));
        for (const n of nodes.slice(1)) await n.call('join', nodes[0]!.spec);
        await overlayReady(nodes, variant.peerService);
        await Promise.all(nodes.map((n) => n.call('track', 'gps')));
        const tReady = Date.now();

        for (let wave = 0; wave < WAVES; wave++) {
          if (wave === RESTART_AT_WAVE) {
            // Back on a new port with an empty store; the waves from here on reach it through the tree.
            const again = await NodeProcess.start(options(RESTARTED));
            nodes[RESTARTED] = again;
            await again.call('track', 'gps');
            await again.call('join', nodes[0]!.spec);
            await joined(again, nodes);
          }
          const sending = ORIGINS.map((o) => nodes[o]!.call('broadcastPositions', 'gps', waveSpec(o, wave)));
          // Killed while the wave is in flight.
          if (wave === KILL_AT_WAVE) await Promise.all(KILLED.map((k) => nodes[k]!.kill('SIGKILL')));
          await Promise.all(sending);
        }
        const tSent = Date.now();

        const live = nodes.filter((_, i) => !KILLED.includes(i) || i === RESTARTED);
        const want = expectedState();
        let lastDiff: number[] = [];
        await eventually(
          async () => {
            const states = await Promise.all(live.map((n) => n.call<{ state: Record<string, number> }>('tracked', 'gps', { state: true })));
            lastDiff = states.map((s) => differences(s.state, want));
            return lastDiff.every((d) => d === 0);
          },
          `every live node holds the newest version of all ${want.size} vehicles (differences so far: ${lastDiff.join(',')})`,
          60_000,
          250,
        );
        const tDone = Date.now();

        const metrics = await Promise.all(live.map((n) => n.call<Metrics>('broadcastMetrics', 'gps')));
        const tracked = await Promise.all(live.map((n) => n.call<{ updates: number }>('tracked', 'gps')));
        const throughout = live.map((_, i) => i).filter((i) => live[i] !== nodes[RESTARTED]);
        const sum = (key: string, which: readonly number[]) => which.reduce((s, i) => s + (metrics[i]![key] ?? 0), 0);
        // The paper's RMR over the run, on the nodes that saw all of it: payloads received / deliveries − 1.
        const rmr = sum('received', throughout) / sum('delivered', throughout) - 1;
        const lines = live.map(
          (n, i) =>
            `  ${n.name}: merged ${metrics[i]!['handler.accepted']} (repaired ${metrics[i]!['handler.repaired']}), delivered ${metrics[i]!.delivered}, ` +
            `received ${metrics[i]!.received}, duplicates ${metrics[i]!.duplicates}, grafts ${metrics[i]!.graftsSent}, prunes ${metrics[i]!.prunesSent}, ` +
            `updates seen ${tracked[i]!.updates}${n === nodes[RESTARTED] ? ' (restarted)' : ''}`,
        );
        console.log(
          `[${variant.name}] ready ${tReady - t0} ms, sent ${tSent - tReady} ms, converged ${tDone - tSent} ms after; RMR ${rmr.toFixed(3)} (${throughout.length} nodes that ran throughout)\n${lines.join('\n')}`,
        );

        assert.ok(Number.isFinite(rmr) && rmr >= 0, `RMR ${rmr}`);
        assert.ok(sum('prunesSent', throughout) > 0, 'duplicates were pruned: the tree formed');
        const restarted = live.indexOf(nodes[RESTARTED]!);
        assert.ok((metrics[restarted]!['handler.repaired'] ?? 0) > 0, 'the restarted node caught up through anti-entropy');
        assert.ok((metrics[restarted]!.delivered ?? 0) > 0, 'and got the later waves through the tree');
        for (const [i, m] of metrics.entries()) {
          const accepted = m['handler.accepted'] ?? 0;
          assert.ok(accepted > 0 && accepted <= ORIGINS.length * WAVES * PER_WAVE, `${live[i]!.name}: ${accepted} merged, never a version twice`);
          assert.ok(tracked[i]!.updates <= accepted, `${live[i]!.name}: the subscription saw no more than was merged`);
        }
      } finally {
        await Promise.all(nodes.map((n) => n.kill()));
      }
    });
  }
});
