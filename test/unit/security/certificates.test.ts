import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import {
  certificateEd25519Key,
  certificateSha256,
  createDevCa,
  derToPem,
  ed25519PublicKeyRaw,
  issueNodeCertificate,
  NODE_URI_PREFIX,
  pemToDer,
  selfSignedCertificate,
  verifyNodeCertificate,
  type CertificateAuthority,
} from '../../../src/security/certificates.js';
import { isPartisanError, type ErrorCode } from '../../../src/util/errors.js';

const DAY = 24 * 60 * 60 * 1000;

function rejectsWith(code: ErrorCode): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isPartisanError(err, code), `expected ${code}, got ${String((err as { code?: unknown }).code ?? err)}`);
    return true;
  };
}

describe('development certificates', () => {
  let ca: CertificateAuthority;
  const node = generateKeyPairSync('ed25519');
  const notBefore = new Date('2030-01-01T00:00:00Z');

  before(async () => {
    ca = await createDevCa({ commonName: 'test CA', notBefore, validityDays: 3650 });
  });

  it('creates a CA certificate that OpenSSL reads as a CA', () => {
    const cert = new X509Certificate(ca.certificateDer);
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, 'CN=test CA');
    assert.equal(cert.publicKey.asymmetricKeyType, 'ed25519');
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    assert.deepEqual(pemToDer(ca.certificatePem), ca.certificateDer);
  });

  it('issues a node certificate with the name in CN and in a partisan:node: SAN URI', async () => {
    const issued = await issueNodeCertificate(ca, { nodeName: 'gw1@10.0.0.5', publicKey: node.publicKey, notBefore, validityDays: 30 });
    const cert = new X509Certificate(issued.certificateDer);
    assert.equal(cert.subject, 'CN=gw1@10.0.0.5');
    assert.equal(cert.subjectAltName, `URI:${NODE_URI_PREFIX}gw1@10.0.0.5`);
    assert.equal(cert.ca, false);
    assert.deepEqual(issued.notBefore, notBefore);
    assert.deepEqual(issued.notAfter, new Date(notBefore.getTime() + 30 * DAY));
    assert.deepEqual(certificateEd25519Key(issued.certificateDer), ed25519PublicKeyRaw(node.publicKey));
    assert.equal(derToPem(issued.certificateDer), issued.certificatePem);
  });

  it('verifies a good node certificate and returns the node name', async () => {
    const issued = await issueNodeCertificate(ca, { nodeName: 'gw1@10.0.0.5', publicKey: node.privateKey, notBefore });
    const name = verifyNodeCertificate(issued.certificateDer, {
      caCertDer: ca.certificateDer,
      expectedNode: 'gw1@10.0.0.5',
      expectedPublicKeyRaw: ed25519PublicKeyRaw(node.publicKey)!,
      now: new Date(notBefore.getTime() + DAY),
    });
    assert.equal(name, 'gw1@10.0.0.5');
  });

  it('refuses a certificate from another CA: ERR_AUTH_UNTRUSTED_CERTIFICATE', async () => {
    const other = await createDevCa({ notBefore });
    const issued = await issueNodeCertificate(other, { nodeName: 'gw1@10.0.0.5', publicKey: node.publicKey, notBefore });
    assert.throws(
      () => verifyNodeCertificate(issued.certificateDer, { caCertDer: ca.certificateDer, expectedNode: 'gw1@10.0.0.5', now: new Date(notBefore.getTime() + DAY) }),
      rejectsWith('ERR_AUTH_UNTRUSTED_CERTIFICATE'),
    );
  });

  it('refuses the CA certificate itself, garbage, and a server certificate as node certificates', async () => {
    const now = new Date(notBefore.getTime() + DAY);
    assert.throws(() => verifyNodeCertificate(ca.certificateDer, { caCertDer: ca.certificateDer, expectedNode: 'test CA', now }), rejectsWith('ERR_AUTH_UNTRUSTED_CERTIFICATE'));
    assert.throws(() => verifyNodeCertificate(new Uint8Array([1, 2, 3]), { caCertDer: ca.certificateDer, expectedNode: 'x', now }), rejectsWith('ERR_AUTH_UNTRUSTED_CERTIFICATE'));
    const server = await selfSignedCertificate();
    assert.throws(() => verifyNodeCertificate(server.certificateDer, { caCertDer: ca.certificateDer, expectedNode: 'localhost' }), rejectsWith('ERR_AUTH_UNTRUSTED_CERTIFICATE'));
  });

  it('refuses a certificate naming another node: ERR_AUTH_NODE_MISMATCH', async () => {
    const issued = await issueNodeCertificate(ca, { nodeName: 'gw2@10.0.0.6', publicKey: node.publicKey, notBefore });
    assert.throws(
      () => verifyNodeCertificate(issued.certificateDer, { caCertDer: ca.certificateDer, expectedNode: 'gw1@10.0.0.5', now: new Date(notBefore.getTime() + DAY) }),
      rejectsWith('ERR_AUTH_NODE_MISMATCH'),
    );
  });

  it('refuses a certificate for another key than the proven one: ERR_AUTH_KEY_MISMATCH', async () => {
    const issued = await issueNodeCertificate(ca, { nodeName: 'gw1@10.0.0.5', publicKey: node.publicKey, notBefore });
    const impostor = generateKeyPairSync('ed25519');
    assert.throws(
      () =>
        verifyNodeCertificate(issued.certificateDer, {
          caCertDer: ca.certificateDer,
          expectedNode: 'gw1@10.0.0.5',
          expectedPublicKeyRaw: ed25519PublicKeyRaw(impostor.publicKey)!,
          now: new Date(notBefore.getTime() + DAY),
        }),
      rejectsWith('ERR_AUTH_KEY_MISMATCH'),
    );
  });

  it('refuses a certificate outside its validity at the injected time: ERR_AUTH_CERTIFICATE_EXPIRED', async () => {
    const issued = await issueNodeCertificate(ca, { nodeName: 'gw1@10.0.0.5', publicKey: node.publicKey, notBefore, validityDays: 10 });
    const options = { caCertDer: ca.certificateDer, expectedNode: 'gw1@10.0.0.5' };
    assert.equal(verifyNodeCertificate(issued.certificateDer, { ...options, now: new Date(notBefore.getTime() + 9 * DAY) }), 'gw1@10.0.0.5');
    assert.throws(() => verifyNodeCertificate(issued.certificateDer, { ...options, now: new Date(notBefore.getTime() + 11 * DAY) }), rejectsWith('ERR_AUTH_CERTIFICATE_EXPIRED'));
    assert.throws(() => verifyNodeCertificate(issued.certificateDer, { ...options, now: new Date(notBefore.getTime() - 1000) }), rejectsWith('ERR_AUTH_CERTIFICATE_EXPIRED'));
  });

  it('checks trust before validity, validity before name, name before key', async () => {
    const other = await createDevCa({ notBefore });
    const foreign = await issueNodeCertificate(other, { nodeName: 'gw2', publicKey: node.publicKey, notBefore, validityDays: 1 });
    const late = new Date(notBefore.getTime() + 5 * DAY);
    assert.throws(() => verifyNodeCertificate(foreign.certificateDer, { caCertDer: ca.certificateDer, expectedNode: 'gw1', now: late }), rejectsWith('ERR_AUTH_UNTRUSTED_CERTIFICATE'));
    const expiredOther = await issueNodeCertificate(ca, { nodeName: 'gw2', publicKey: node.publicKey, notBefore, validityDays: 1 });
    assert.throws(() => verifyNodeCertificate(expiredOther.certificateDer, { caCertDer: ca.certificateDer, expectedNode: 'gw1', now: late }), rejectsWith('ERR_AUTH_CERTIFICATE_EXPIRED'));
    const otherKey = ed25519PublicKeyRaw(generateKeyPairSync('ed25519').publicKey)!;
    assert.throws(
      () => verifyNodeCertificate(expiredOther.certificateDer, { caCertDer: ca.certificateDer, expectedNode: 'gw1', expectedPublicKeyRaw: otherKey, now: notBefore }),
      rejectsWith('ERR_AUTH_NODE_MISMATCH'),
    );
  });

  it('rejects bad issuing options with ERR_INVALID_OPTION naming the field', async () => {
    await assert.rejects(issueNodeCertificate(ca, { nodeName: 'bad, name', publicKey: node.publicKey }), (err: unknown) => {
      return isPartisanError(err, 'ERR_INVALID_OPTION') && err.details['field'] === 'issueNodeCertificate.nodeName';
    });
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await assert.rejects(issueNodeCertificate(ca, { nodeName: 'gw1', publicKey: ec.publicKey }), (err: unknown) => {
      return isPartisanError(err, 'ERR_INVALID_OPTION') && err.details['field'] === 'issueNodeCertificate.publicKey';
    });
    await assert.rejects(createDevCa({ validityDays: 0 }), (err: unknown) => isPartisanError(err, 'ERR_INVALID_OPTION') && err.details['field'] === 'createDevCa.validityDays');
  });

  it('makes ECDSA P-256 self-signed server certificates that WebTransport hash pinning accepts', async () => {
    const server = await selfSignedCertificate();
    const cert = new X509Certificate(server.certificateDer);
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(cert.verify(cert.publicKey));
    assert.match(cert.subjectAltName ?? '', /DNS:localhost/);
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.ok(server.notAfter.getTime() - server.notBefore.getTime() <= 14 * DAY, 'at most 14 days');
    assert.deepEqual(server.sha256, certificateSha256(server.certificateDer));
    assert.equal(server.privateKey.asymmetricKeyType, 'ec');
    const ed = await selfSignedCertificate({ keyType: 'ed25519', hosts: ['node.example'] });
    assert.equal(new X509Certificate(ed.certificateDer).publicKey.asymmetricKeyType, 'ed25519');
  });
});
