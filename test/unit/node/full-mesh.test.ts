import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { startNode, type Node } from '../../../src/node/node.js';
import { MemoryNetwork } from '../../../src/transport/memory/memory-transport.js';

const nodes: Node[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function start(net: MemoryNetwork, name: string, port = 0): Promise<Node> {
  const n = await startNode({ name: `${name}@mem`, host: name, port, transport: 'memory', memoryNetwork: net, membership: { gossipIntervalMs: 200 } });
  nodes.push(n);
  return n;
}

/** Resolve once `cond` holds, re-checking on every membership-relevant event and a short poll. */
async function eventually(cond: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not reached: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('full-mesh peer service', () => {
  it('forms a cluster from one seed and converges on every member', async () => {
    const net = new MemoryNetwork();
    const seed = await start(net, 'n0');
    const others = [];
    for (let i = 1; i < 5; i++) {
      const n = await start(net, `n${i}`);
      n.join(seed.nodeSpec());
      others.push(n);
    }
    const all = [seed, ...others];
    const names = all.map((n) => n.node()).sort();
    await eventually(() => all.every((n) => JSON.stringify(n.members()) === JSON.stringify(names)), 'membership converges');
    await eventually(() => all.every((n) => n.nodes().length === 4), 'full mesh of connections');
  });

  it('removes a leaving node everywhere, and it does not come back on later gossip', async () => {
    const net = new MemoryNetwork();
    const [a, b, c] = [await start(net, 'a'), await start(net, 'b'), await start(net, 'c')];
    b!.join(a!.nodeSpec());
    c!.join(a!.nodeSpec());
    await eventually(() => [a, b, c].every((n) => n!.members().length === 3), '3 members');
    await c!.leave();
    await eventually(() => a!.members().length === 2 && b!.members().length === 2, 'c removed on a and b');
    assert.deepEqual(c!.members(), ['c@mem']);
    // Several gossip rounds later c is still gone, and its connections are closed.
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.deepEqual(a!.members(), ['a@mem', 'b@mem']);
    assert.deepEqual(b!.members(), ['a@mem', 'b@mem']);
    await eventually(() => !a!.isConnected('c@mem') && !b!.isConnected('c@mem'), 'connections to c closed');
  });

  it('removes another node on request (leave(node))', async () => {
    const net = new MemoryNetwork();
    const [a, b, c] = [await start(net, 'a'), await start(net, 'b'), await start(net, 'c')];
    b!.join(a!.nodeSpec());
    c!.join(a!.nodeSpec());
    await eventually(() => [a, b, c].every((n) => n!.members().length === 3), '3 members');
    await a!.leave('c@mem');
    await eventually(() => b!.members().length === 2 && c!.members().length === 1, 'c removed everywhere and reset');
  });

  it('keeps one entry for a node that restarts on a new address', async () => {
    const net = new MemoryNetwork();
    const a = await start(net, 'a');
    const b1 = await start(net, 'b');
    b1.join(a.nodeSpec());
    await eventually(() => a.members().length === 2, 'joined');
    const oldPort = b1.nodeSpec().listenAddrs[0]!.port;
    await b1.stop();
    nodes.splice(nodes.indexOf(b1), 1);
    const b2 = await start(net, 'b', oldPort + 1000);
    b2.join(a.nodeSpec());
    await eventually(() => a.membersForOrchestration().some((s) => s.name === 'b@mem' && s.listenAddrs[0]!.port === oldPort + 1000), 'new address known');
    assert.equal(a.membersForOrchestration().filter((s) => s.name === 'b@mem').length, 1);
    assert.deepEqual(a.members(), ['a@mem', 'b@mem']);
    await eventually(() => a.isConnected('b@mem'), 'reconnected to the new address');
  });

  it('fires onUp/onDown exactly once per transition', async () => {
    const net = new MemoryNetwork();
    const a = await start(net, 'a');
    const b = await start(net, 'b');
    const events: string[] = [];
    a.onUp('_', (n) => events.push(`up ${n}`));
    a.onDown('b@mem', (n) => events.push(`down ${n}`));
    b.join(a.nodeSpec());
    await eventually(() => events.includes('up b@mem'), 'up');
    net.crash('b');
    await b.stop(); // the crashed node's process is gone too
    await eventually(() => events.includes('down b@mem'), 'down');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(events, ['up b@mem', 'down b@mem']);
  });

  it('keeps monitors across a restart of the peer service (leave, then join again)', async () => {
    const net = new MemoryNetwork();
    const a = await start(net, 'a');
    const b = await start(net, 'b');
    b.join(a.nodeSpec());
    await eventually(() => a.members().length === 2 && b.members().length === 2, 'joined');
    const isType = (t: string) => (m: unknown) => (m as { type: string }).type === t;
    a.monitorNodes(true);
    const local = a.spawnMailbox();
    const localRef = a.monitor(local.pid);
    await a.leave();
    await a.receive({ match: isType('nodedown') });
    assert.deepEqual(a.members(), ['a@mem']);
    b.join(a.nodeSpec());
    const up = await a.receive<{ type: string; node: string }>({ match: isType('nodeup') });
    assert.equal(up.node, 'b@mem', 'the node subscription outlived the peer-service restart');
    local.exit('done');
    const down = await a.receive<{ type: string; ref: string; reason: unknown }>({ match: isType('DOWN') });
    assert.equal(down.ref, localRef);
    assert.equal(down.reason, 'done');
  });
});

describe('client/server peer service', () => {
  it('connects clients to servers only, and shows clients only the servers', async () => {
    const net = new MemoryNetwork();
    const mk = async (name: string, tag: string) => {
      const n = await startNode({ name: `${name}@mem`, host: name, transport: 'memory', memoryNetwork: net, peerService: 'clientServer', tag, membership: { gossipIntervalMs: 200 } });
      nodes.push(n);
      return n;
    };
    const s1 = await mk('s1', 'server');
    const s2 = await mk('s2', 'server');
    const c1 = await mk('c1', 'client');
    const c2 = await mk('c2', 'client');
    s2.join(s1.nodeSpec());
    c1.join(s1.nodeSpec());
    c2.join(s2.nodeSpec());
    await eventually(() => s1.members().length === 4 && s2.members().length === 4, 'servers see everyone');
    await eventually(() => JSON.stringify(c1.members()) === JSON.stringify(['c1@mem', 's1@mem', 's2@mem']), 'a client sees the servers');
    await eventually(() => s1.nodes().length === 3 && c1.nodes().length === 2 && c2.nodes().length === 2, 'connections: servers to all, clients to servers');
    assert.ok(!c1.isConnected('c2@mem'), 'clients never connect to each other');
    assert.deepEqual(c1.nodeSpec().tag, 'client');
  });
});
