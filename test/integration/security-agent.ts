/**
 * A node in its own process for the security tests, driven over IPC. argv[2] is JSON:
 * - `{ mode: 'secure', name, transport, clusterId?, security: { ca, cert, key } }`: a node as
 *   an operator would configure it (PEM text);
 * - `{ mode: 'rogue', name, transport, sendCertPem, keyPem, tlsCertPem }`: a node that sends
 *   `sendCertPem` in its handshake while proving `keyPem` in TLS (QUIC's key, or the TLS
 *   client certificate `tlsCertPem`) — what an impostor holding someone else's certificate,
 *   or a certificate for another name, can do. It bypasses the node's own-certificate check.
 * It records every `partisan:handshake:refused` diagnostics event of its node.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { startNode, type Node } from '../../src/node/node.js';
import type { HandshakeRefusedMessage } from '../../src/observability/channels.js';
import { pemToDer } from '../../src/security/certificates.js';
import { nodeKeyFromPem } from '../../src/security/node-key.js';

interface Config {
  mode: 'secure' | 'rogue';
  name: string;
  transport: 'quic' | 'tcp';
  clusterId?: string;
  security?: { ca: string; cert: string; key: string };
  sendCertPem?: string;
  keyPem?: string;
  tlsCertPem?: string;
}

const config = JSON.parse(process.argv[2]!) as Config;
const refusals: HandshakeRefusedMessage[] = [];
diagnosticsChannel.subscribe('partisan:handshake:refused', (m) => {
  if ((m as HandshakeRefusedMessage).node === config.name) refusals.push(m as HandshakeRefusedMessage);
});

function options(): Record<string, unknown> {
  const base = { name: config.name, transport: config.transport, clusterId: config.clusterId ?? 'partisan', logLevel: 'warn' };
  if (config.mode === 'secure') return { ...base, security: config.security };
  const key = nodeKeyFromPem(config.keyPem!);
  const sent = pemToDer(config.sendCertPem!);
  const tls = { cert: config.tlsCertPem!, key: config.keyPem!, minVersion: 'TLSv1.3' };
  return {
    ...base,
    authenticator: { certificate: () => sent, verify: () => {} },
    quic: { key },
    tcp: {
      tlsClientOptions: { ...tls, rejectUnauthorized: false, checkServerIdentity: () => undefined },
      tlsServerOptions: { ...tls, requestCert: true, rejectUnauthorized: false },
    },
  };
}

let node: Node | undefined;
const commands: Record<string, (...args: never[]) => unknown> = {
  spec: () => node!.nodeSpec(),
  join: (spec: never) => node!.join(spec),
  members: () => node!.members(),
  refusals: () => refusals,
  async stop() {
    await node?.stop();
    setImmediate(() => process.exit(0));
    return true;
  },
};

process.on('message', (raw: unknown) => {
  const req = raw as { id: number; cmd: string; args: unknown[] };
  void (async () => {
    try {
      const value = await (commands[req.cmd] as (...a: unknown[]) => unknown)(...req.args);
      process.send?.({ id: req.id, ok: true, value: value ?? null });
    } catch (err) {
      process.send?.({ id: req.id, ok: false, error: (err as Error).message });
    }
  })();
});
process.on('disconnect', () => process.exit(0));

node = await startNode(options() as never);
process.send?.({ ready: true, spec: node.nodeSpec() });
