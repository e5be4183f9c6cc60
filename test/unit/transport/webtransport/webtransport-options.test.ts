import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveWebTransportOptions, type WebTransportTransportOptions } from '../../../../src/transport/webtransport/webtransport-transport.js';
import { isPartisanError } from '../../../../src/util/errors.js';

function invalid(field: string): (err: unknown) => boolean {
  return (err: unknown) => isPartisanError(err, 'ERR_INVALID_OPTION') && err.details['field'] === field;
}

describe('resolveWebTransportOptions', () => {
  it('fills the documented defaults', () => {
    assert.deepEqual(resolveWebTransportOptions(), {
      mode: 'auto',
      certificate: undefined,
      serverCertificateHashes: undefined,
      path: '/partisan',
      dialTimeoutMs: 10_000,
      sessionWindowBytes: 15 * 1024 * 1024,
      streamWindowBytes: 1024 * 1024,
      maxStreams: 1024,
      closeTimeoutMs: 2_000,
    });
  });

  it('names the field of a bad option', () => {
    assert.throws(() => resolveWebTransportOptions({ mode: 'quic' } as unknown as WebTransportTransportOptions), invalid('webtransport.mode'));
    assert.throws(() => resolveWebTransportOptions({ path: 'no-slash' }), invalid('webtransport.path'));
    assert.throws(() => resolveWebTransportOptions({ serverCertificateHashes: [new Uint8Array(31)] }), invalid('webtransport.serverCertificateHashes'));
    assert.throws(() => resolveWebTransportOptions({ sessionWindowBytes: 1024 }), invalid('webtransport.sessionWindowBytes'));
    assert.throws(() => resolveWebTransportOptions({ certificate: { certificatePem: 'x', privateKeyPem: 'y' } }), invalid('webtransport.certificate.certificatePem'));
    assert.throws(() => resolveWebTransportOptions({ secret: 'x' } as unknown as WebTransportTransportOptions), invalid('webtransport.secret'));
  });
});
