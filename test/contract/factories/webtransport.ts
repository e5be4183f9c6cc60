/**
 * Contract/benchmark factory: WebTransport (HTTP/3 when its native part loads, else HTTP/2).
 * Every transport of a process, and of the killable peer processes it spawns, serves one
 * self-signed ECDSA certificate made in code and pins its hash; it reaches child processes
 * through an environment variable (PEM, test-only), nothing is written to disk.
 */
import type { Transport } from '../../../src/transport/transport.js';

const CERT_ENV = 'PARTISAN_TEST_WEBTRANSPORT_CERT';
let shared: Promise<{ certificatePem: string; privateKeyPem: string }> | undefined;

async function sharedCertificate(): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const inherited = process.env[CERT_ENV];
  if (inherited) return JSON.parse(inherited) as { certificatePem: string; privateKeyPem: string };
  const { selfSignedCertificate } = await import('../../../src/security/certificates.js');
  const { certificatePem, privateKeyPem } = await selfSignedCertificate();
  process.env[CERT_ENV] = JSON.stringify({ certificatePem, privateKeyPem });
  return { certificatePem, privateKeyPem };
}

export async function createTransport(): Promise<Transport> {
  const { WebTransportTransport } = await import('../../../src/transport/webtransport/webtransport-transport.js');
  shared ??= sharedCertificate();
  return WebTransportTransport.create({ certificate: await shared });
}
