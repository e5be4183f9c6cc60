/**
 * Cluster-CA authentication with real node processes, over QUIC and over TCP (mutual TLS):
 * a node with the right certificate is admitted; a certificate from another CA, a certificate
 * for another node, a certificate whose key the peer does not hold, and a node of another
 * cluster are refused with their codes, logged, and never appear in any membership.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { HandshakeRefusedMessage } from '../../src/observability/channels.js';
import { createDevCa, issueNodeCertificate, type CertificateAuthority } from '../../src/security/certificates.js';
import { generateNodeKey, type NodeKey } from '../../src/security/node-key.js';

const agentPath = fileURLToPath(new URL('./security-agent.ts', import.meta.url));

class Agent {
  stderr = '';
  spec: unknown;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly exited: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.on('message', (raw: unknown) => {
      const m = raw as { id?: number; ok?: boolean; value?: unknown; error?: string };
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id!);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error));
    });
  }

  static async start(config: Record<string, unknown>): Promise<Agent> {
    const child = fork(agentPath, [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const agent = new Agent(child);
    agent.spec = await new Promise((resolve, reject) => {
      child.once('message', (m: { spec?: unknown }) => resolve(m.spec));
      child.once('exit', (code) => reject(new Error(`agent ${String(config.name)} exited (${code}): ${agent.stderr}`)));
    });
    return agent;
  }

  call<T>(cmd: string, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, cmd, args });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await Promise.race([this.call('stop').catch(() => {}), this.exited]);
    await this.exited;
  }
}

async function eventually(probe: () => Promise<boolean>, what: string, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function issue(ca: CertificateAuthority, nodeName: string, key: NodeKey): Promise<string> {
  return (await issueNodeCertificate(ca, { nodeName, publicKey: key.publicKey })).certificatePem;
}

for (const transport of ['quic', 'tcp'] as const) {
  describe(`cluster CA authentication over ${transport}, real processes`, () => {
    const agents: Agent[] = [];
    let a: Agent;
    let b: Agent;
    const rogues = new Map<string, { agent: Agent; code: string }>();
    const name = (n: string): string => `${n}-${transport}@127.0.0.1`;

    before(async () => {
      const ca = await createDevCa();
      const otherCa = await createDevCa({ commonName: 'someone else' });
      const secure = async (n: string, authority: CertificateAuthority, clusterId = 'partisan'): Promise<Record<string, unknown>> => {
        const key = generateNodeKey();
        return { mode: 'secure', name: n, transport, clusterId, security: { ca: authority.certificatePem, cert: await issue(authority, n, key), key: key.toPem() } };
      };
      // An impostor sends `sendCert` in the handshake while proving `key` in TLS.
      const rogue = async (n: string, sendCert: string, key: NodeKey): Promise<Record<string, unknown>> => ({
        mode: 'rogue',
        name: n,
        transport,
        sendCertPem: sendCert,
        keyPem: key.toPem(),
        tlsCertPem: await issue(otherCa, n, key),
      });
      const stolenKey = generateNodeKey();
      const ownKey = generateNodeKey();
      const configs: Array<[string, Promise<Record<string, unknown>>]> = [
        ['ERR_AUTH_UNTRUSTED_CERTIFICATE', secure(name('wrongca'), otherCa)],
        // A valid certificate of the cluster, for another node name, with the key it names.
        ['ERR_AUTH_NODE_MISMATCH', issue(ca, name('victim'), ownKey).then((cert) => rogue(name('othername'), cert, ownKey))],
        // A valid certificate naming this node, whose key the peer does not hold.
        ['ERR_AUTH_KEY_MISMATCH', issue(ca, name('nokey'), stolenKey).then((cert) => rogue(name('nokey'), cert, generateNodeKey()))],
        ['ERR_HANDSHAKE_CLUSTER_MISMATCH', secure(name('othercluster'), ca, 'another-cluster')],
      ];
      const started = await Promise.all([
        secure(name('a'), ca).then((c) => Agent.start(c)),
        secure(name('b'), ca).then((c) => Agent.start(c)),
        ...configs.map(([, c]) => c.then((cfg) => Agent.start(cfg))),
      ]);
      agents.push(...started);
      [a, b] = started as [Agent, Agent];
      configs.forEach(([code], i) => rogues.set(code, { agent: started[i + 2]!, code }));
    });

    after(async () => {
      await Promise.all(agents.map((x) => x.stop()));
    });

    it('admits the right certificate and refuses the others with their codes; refused nodes never become members', async () => {
      await b.call('join', a.spec);
      for (const r of rogues.values()) await r.agent.call('join', a.spec);
      const expected = [...rogues.keys()].sort();
      const members = async (x: Agent): Promise<string[]> => x.call<string[]>('members');
      await eventually(async () => (await members(a)).length === 2 && (await members(b)).length === 2, 'b to become a member');
      await eventually(async () => {
        const codes = new Set((await a.call<HandshakeRefusedMessage[]>('refusals')).filter((r) => r.by === 'local').map((r) => r.code));
        return expected.every((c) => codes.has(c));
      }, `a to refuse ${expected.join(', ')}`);

      assert.deepEqual((await members(a)).sort(), [name('a'), name('b')]);
      assert.deepEqual((await members(b)).sort(), [name('a'), name('b')]);
      for (const [code, r] of rogues) {
        assert.deepEqual(await members(r.agent), [(r.agent.spec as { name: string }).name], `${code}: the refused node sees no cluster`);
        // The refused side learns why (the refusal carries the code back).
        await eventually(async () => {
          const theirs = await r.agent.call<HandshakeRefusedMessage[]>('refusals');
          return theirs.some((x) => x.by === 'peer' && x.code === code && x.peer === name('a'));
        }, `${code} reported to the refused node`);
      }
      // One log line per refusal, with the peer and the code.
      for (const code of expected.filter((c) => c.startsWith('ERR_AUTH_'))) assert.match(a.stderr, new RegExp(`refused peer [^ ]+: ${code}`));
      const localRefusals = (await a.call<HandshakeRefusedMessage[]>('refusals')).filter((r) => r.by === 'local');
      assert.ok(localRefusals.every((r) => r.peer !== name('b')), 'b was never refused');
    });
  });
}
