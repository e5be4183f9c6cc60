// Test helpers shared by the rpc and gen suites: a small cluster on the memory transport, and a
// per-channel observer of the messages a node receives.
import { afterEach } from 'node:test';
import { startNode, type Node } from '../../../src/node/node.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';
import { isPartisanError, type ErrorCode } from '../../../src/util/errors.js';
import { FakeClock, type Clock } from '../../../src/util/clock.js';

export interface Cluster {
  nodes: Node[];
  memoryNetwork: MemoryNetwork;
  stop(): Promise<void>;
}

/** `names.length` nodes (`<name>@mem` on host `<name>`), static peer service, all joined both ways. */
export async function cluster(names: readonly string[], options: { clock?: Clock } = {}): Promise<Cluster> {
  const memoryNetwork = new MemoryNetwork();
  const common = {
    transport: 'memory' as const,
    memoryNetwork,
    peerService: 'static' as const,
    channels: [{ name: 'gps', parallelism: 2 }],
    // A fake clock moves in jumps with no traffic in between: keep keepalive out of the way.
    ...(options.clock ? { clock: options.clock, keepalive: { idleMs: 3_600_000, timeoutMs: 3_600_000 } } : {}),
  };
  const nodes: Node[] = [];
  try {
    for (const name of names) nodes.push(await startNode({ ...common, name: `${name}@mem`, host: name }));
    const ups: Promise<unknown>[] = [];
    for (const x of nodes) {
      for (const y of nodes) {
        if (x === y) continue;
        ups.push(new Promise<string>((resolve) => x.onUp(y.node(), resolve)));
      }
    }
    for (const x of nodes) for (const y of nodes) if (x !== y) x.join(y.nodeSpec());
    // Dials are scheduled on the node clock (delay 0): a fake one must be told to fire them.
    const fake = options.clock instanceof FakeClock ? options.clock : undefined;
    const pump = fake ? setInterval(() => fake.advance(0), 1) : undefined;
    try {
      await Promise.all(ups);
    } finally {
      if (pump) clearInterval(pump);
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  const stop = async (): Promise<void> => {
    // Graceful close waits on the node clock too (bye handshake grace): let a fake one run.
    const fake = options.clock instanceof FakeClock ? options.clock : undefined;
    const pump = fake ? setInterval(() => fake.advance(100), 1) : undefined;
    try {
      // One at a time: a peer that is not closing itself answers `bye` at once, while two
      // closing peers would each wait out the other's grace period.
      for (const n of nodes) await n.stop();
    } finally {
      if (pump) clearInterval(pump);
    }
  };
  return { nodes, memoryNetwork, stop };
}

/** A `start(names, options)` for one test file; every cluster it made is stopped after each test. */
export function clusters(): (names: readonly string[], options?: { clock?: Clock }) => Promise<Cluster> {
  const running: Cluster[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()));
  });
  return async (names, options = {}) => {
    const c = await cluster(names, options);
    running.push(c);
    return c;
  };
}

/** An assert.rejects / assert.throws validator for a PartisanError code. */
export function code(expected: ErrorCode): (err: unknown) => boolean {
  return (err) => isPartisanError(err, expected);
}

export interface Received {
  from: string;
  channel: string;
  payload: unknown;
}

/**
 * Record every message `node` receives with the channel of the lane it came on. Wire-level
 * evidence that traffic used a channel; it taps the node's connection events (test only).
 */
export function observeChannels(node: Node): Received[] {
  type Messages = (from: string, lane: { channel: { name: string } }, envelopes: ReadonlyArray<readonly [unknown, unknown, ...unknown[]]>) => void;
  const events = (node as unknown as { connectionEvents?: { messages: Messages } }).connectionEvents;
  if (!events) throw new Error('node has no connectionEvents to observe');
  const seen: Received[] = [];
  const deliver = events.messages;
  events.messages = (from, lane, envelopes) => {
    for (const e of envelopes) seen.push({ from, channel: lane.channel.name, payload: e[1] });
    deliver(from, lane, envelopes);
  };
  return seen;
}

/** A promise with its resolve, for gates that tests open when they choose. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export function totalMonitors(node: Node): Record<string, number> {
  return Object.fromEntries(Object.entries(node.monitorTableSizes()).filter(([, v]) => v !== 0));
}
