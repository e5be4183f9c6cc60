import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { PeerIdentity } from '../../../src/connections/handshake.js';
import { ClusterAuthenticator } from '../../../src/security/cluster-authenticator.js';
import { createDevCa, issueNodeCertificate, type CertificateAuthority } from '../../../src/security/certificates.js';
import { generateNodeKey, type NodeKey } from '../../../src/security/node-key.js';
import { isPartisanError, type ErrorCode } from '../../../src/util/errors.js';

function peer(fields: Partial<PeerIdentity> & { node: string }): PeerIdentity {
  return { spec: undefined, incarnation: 1, state: undefined, cert: undefined, remoteKey: undefined, remoteCertificate: undefined, channels: {}, ...fields };
}

function throwsCode(fn: () => void, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isPartisanError(err, code), `expected ${code}, got ${String((err as { code?: unknown }).code ?? err)}`);
    return true;
  });
}

describe('ClusterAuthenticator', () => {
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  const selfKey = generateNodeKey();
  const peerKey = generateNodeKey();
  let selfCert: Uint8Array;
  let peerCert: Uint8Array;
  const issue = async (authority: CertificateAuthority, name: string, key: NodeKey, notBefore?: Date, days?: number): Promise<Uint8Array> =>
    (await issueNodeCertificate(authority, { nodeName: name, publicKey: key.publicKey, ...(notBefore ? { notBefore } : {}), ...(days ? { validityDays: days } : {}) })).certificateDer;

  before(async () => {
    ca = await createDevCa();
    otherCa = await createDevCa({ commonName: 'other' });
    selfCert = await issue(ca, 'self@127.0.0.1', selfKey);
    peerCert = await issue(ca, 'peer@127.0.0.1', peerKey);
  });

  function auth(extra: { requireKeyProof?: boolean; now?: () => Date; lines?: string[] } = {}): ClusterAuthenticator {
    return new ClusterAuthenticator({
      caCertDer: ca.certificateDer,
      certificateDer: selfCert,
      nodeName: 'self@127.0.0.1',
      key: selfKey,
      ...(extra.requireKeyProof !== undefined ? { requireKeyProof: extra.requireKeyProof } : {}),
      ...(extra.now ? { now: extra.now } : {}),
      logger: { warn: (_fields, message) => extra.lines?.push(message) },
    });
  }

  it('sends its certificate and admits a peer whose certificate chains to the CA and names its node and QUIC key', () => {
    const a = auth();
    assert.deepEqual(a.certificate(), selfCert);
    a.verify(peer({ node: 'peer@127.0.0.1', cert: peerCert, remoteKey: peerKey.publicKeyRaw }));
  });

  it('admits a certificate presented in TLS only (tcp), with the key TLS proved', () => {
    auth().verify(peer({ node: 'peer@127.0.0.1', remoteCertificate: peerCert, remoteKey: peerKey.publicKeyRaw }));
  });

  it('refuses each failure with its code, counts it and logs a line naming the peer and the code', async () => {
    const lines: string[] = [];
    const a = auth({ lines });
    throwsCode(() => a.verify(peer({ node: 'peer@127.0.0.1', remoteKey: peerKey.publicKeyRaw })), 'ERR_AUTH_NO_CERTIFICATE');
    const foreign = await issue(otherCa, 'peer@127.0.0.1', peerKey);
    throwsCode(() => a.verify(peer({ node: 'peer@127.0.0.1', cert: foreign, remoteKey: peerKey.publicKeyRaw })), 'ERR_AUTH_UNTRUSTED_CERTIFICATE');
    throwsCode(() => a.verify(peer({ node: 'mallory@127.0.0.1', cert: peerCert, remoteKey: peerKey.publicKeyRaw })), 'ERR_AUTH_NODE_MISMATCH');
    throwsCode(() => a.verify(peer({ node: 'peer@127.0.0.1', cert: peerCert, remoteKey: generateNodeKey().publicKeyRaw })), 'ERR_AUTH_KEY_MISMATCH');
    // A certificate is public: without a key proven by the transport it proves nothing.
    throwsCode(() => a.verify(peer({ node: 'peer@127.0.0.1', cert: peerCert })), 'ERR_AUTH_KEY_MISMATCH');
    // A CA certificate is no node certificate.
    throwsCode(() => a.verify(peer({ node: 'peer@127.0.0.1', cert: ca.certificateDer, remoteKey: peerKey.publicKeyRaw })), 'ERR_AUTH_UNTRUSTED_CERTIFICATE');
    assert.deepEqual(a.refusals, {
      ERR_AUTH_NO_CERTIFICATE: 1,
      ERR_AUTH_UNTRUSTED_CERTIFICATE: 2,
      ERR_AUTH_NODE_MISMATCH: 1,
      ERR_AUTH_KEY_MISMATCH: 2,
    });
    assert.equal(lines.length, 6);
    assert.match(lines[0]!, /^refused peer peer@127\.0\.0\.1: ERR_AUTH_NO_CERTIFICATE$/);
  });

  it('checks the handshake certificate and the TLS certificate when they differ', async () => {
    const a = auth();
    const otherTls = await issue(otherCa, 'peer@127.0.0.1', peerKey);
    throwsCode(() => a.verify(peer({ node: 'peer@127.0.0.1', cert: peerCert, remoteCertificate: otherTls, remoteKey: peerKey.publicKeyRaw })), 'ERR_AUTH_UNTRUSTED_CERTIFICATE');
  });

  it('refuses an expired or not yet valid certificate', async () => {
    const old = await issue(ca, 'peer@127.0.0.1', peerKey, new Date(Date.now() - 10 * 86_400_000), 1);
    throwsCode(() => auth().verify(peer({ node: 'peer@127.0.0.1', cert: old, remoteKey: peerKey.publicKeyRaw })), 'ERR_AUTH_CERTIFICATE_EXPIRED');
    let clock = Date.now();
    const later = auth({ now: () => new Date(clock) });
    clock += 200 * 86_400_000;
    throwsCode(() => later.verify(peer({ node: 'peer@127.0.0.1', cert: peerCert, remoteKey: peerKey.publicKeyRaw })), 'ERR_AUTH_CERTIFICATE_EXPIRED');
  });

  it('accepts an unproven key only when told to (transports that prove nothing)', () => {
    auth({ requireKeyProof: false }).verify(peer({ node: 'peer@127.0.0.1', cert: peerCert }));
  });

  it('refuses to start with its own certificate for another node, another key or from another CA', async () => {
    const make = (cert: Uint8Array, key: NodeKey, name = 'self@127.0.0.1'): ClusterAuthenticator =>
      new ClusterAuthenticator({ caCertDer: ca.certificateDer, certificateDer: cert, nodeName: name, key });
    throwsCode(() => make(selfCert, selfKey, 'other@127.0.0.1'), 'ERR_INVALID_OPTION');
    throwsCode(() => make(selfCert, generateNodeKey()), 'ERR_INVALID_OPTION');
    const foreign = await issue(otherCa, 'self@127.0.0.1', selfKey);
    throwsCode(() => make(foreign, selfKey), 'ERR_INVALID_OPTION');
  });
});
