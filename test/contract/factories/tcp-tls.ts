/**
 * Contract/benchmark factory: tcp over mutual TLS 1.3, each transport with a fresh Ed25519 node
 * key and a node certificate from a development CA made in code. The CA (PEM, test-only) is
 * shared with child processes through an environment variable, so a killable peer process
 * trusts the same CA; nothing is written to disk.
 */
import type { KeyObject } from 'node:crypto';
import type { Transport } from '../../../src/transport/transport.js';
import type { TcpTransport, TcpTransportOptions } from '../../../src/transport/tcp/tcp-transport.js';

const CA_ENV = 'PARTISAN_TEST_TCP_TLS_CA';
let caPromise: Promise<{ commonName: string; certificateDer: Uint8Array; certificatePem: string; privateKey: KeyObject }> | undefined;
let created = 0;

async function sharedCa(): Promise<{ commonName: string; certificateDer: Uint8Array; certificatePem: string; privateKey: KeyObject }> {
  const { createDevCa, pemToDer, privateKeyToPem } = await import('../../../src/security/certificates.js');
  const { createPrivateKey } = await import('node:crypto');
  const inherited = process.env[CA_ENV];
  if (inherited) {
    const { certificatePem, privateKeyPem } = JSON.parse(inherited) as { certificatePem: string; privateKeyPem: string };
    return { commonName: 'inherited', certificatePem, certificateDer: pemToDer(certificatePem), privateKey: createPrivateKey(privateKeyPem) };
  }
  const ca = await createDevCa({ commonName: 'partisan-ts contract CA' });
  process.env[CA_ENV] = JSON.stringify({ certificatePem: ca.certificatePem, privateKeyPem: privateKeyToPem(ca.privateKey) });
  return ca;
}

/** The options of a mutual-TLS transport for node `nodeName`, with its key (exported for tests). */
export async function tlsOptionsFor(nodeName: string): Promise<{ options: TcpTransportOptions; publicKey: KeyObject; caCertDer: Uint8Array }> {
  const { issueNodeCertificate, privateKeyToPem } = await import('../../../src/security/certificates.js');
  const { generateKeyPairSync } = await import('node:crypto');
  caPromise ??= sharedCa();
  const ca = await caPromise;
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const cert = await issueNodeCertificate(ca, { nodeName, publicKey });
  const common = { ca: ca.certificatePem, cert: cert.certificatePem, key: privateKeyToPem(privateKey), minVersion: 'TLSv1.3' as const };
  return {
    publicKey,
    caCertDer: ca.certificateDer,
    options: {
      // Node certificates name nodes, not hosts; the node name is checked above the transport.
      tlsClientOptions: { ...common, checkServerIdentity: () => undefined },
      tlsServerOptions: { ...common, requestCert: true, rejectUnauthorized: true },
    },
  };
}

export async function createTransport(): Promise<Transport> {
  const { TcpTransport } = await import('../../../src/transport/tcp/tcp-transport.js');
  const { options } = await tlsOptionsFor(`contract-${process.pid}-${created++}@127.0.0.1`);
  return new TcpTransport(options) satisfies TcpTransport;
}
