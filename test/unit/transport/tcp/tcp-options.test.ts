import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveTcpOptions, TcpTransport, type TcpTransportOptions } from '../../../../src/transport/tcp/tcp-transport.js';
import { isPartisanError } from '../../../../src/util/errors.js';

function invalid(field: string): (err: unknown) => boolean {
  return (err: unknown) => isPartisanError(err, 'ERR_INVALID_OPTION') && err.details['field'] === field && err.message.includes(field);
}

describe('resolveTcpOptions', () => {
  it('fills the documented defaults', () => {
    assert.deepEqual(resolveTcpOptions(), {
      tlsClientOptions: undefined,
      tlsServerOptions: undefined,
      dialTimeoutMs: 10_000,
      preambleTimeoutMs: 10_000,
      openStreamTimeoutMs: 10_000,
      closeTimeoutMs: 2_000,
      readBufferBytes: 1024 * 1024,
      readChunkBytes: 256 * 1024,
      keepAliveMs: 10_000,
      maxStreams: 1024,
    });
  });

  it('keeps given values and TLS option objects', () => {
    const tlsClientOptions = { minVersion: 'TLSv1.3' as const };
    const o = resolveTcpOptions({ tlsClientOptions, dialTimeoutMs: 5, keepAliveMs: 0, maxStreams: 8 });
    assert.equal(o.tlsClientOptions, tlsClientOptions);
    assert.equal(o.dialTimeoutMs, 5);
    assert.equal(o.keepAliveMs, 0);
    assert.equal(o.maxStreams, 8);
  });

  it('names the field and value of a bad option', () => {
    assert.throws(() => resolveTcpOptions({ dialTimeoutMs: 0 }), invalid('tcp.dialTimeoutMs'));
    assert.throws(() => resolveTcpOptions({ readBufferBytes: 1.5 }), invalid('tcp.readBufferBytes'));
    assert.throws(() => resolveTcpOptions({ maxStreams: -1 }), invalid('tcp.maxStreams'));
    assert.throws(() => resolveTcpOptions({ keepAliveMs: '10' } as unknown as TcpTransportOptions), invalid('tcp.keepAliveMs'));
    assert.throws(() => resolveTcpOptions({ tlsServerOptions: 'yes' } as unknown as TcpTransportOptions), invalid('tcp.tlsServerOptions'));
    assert.throws(() => resolveTcpOptions({ dialTimeout: 5 } as unknown as TcpTransportOptions), invalid('tcp.dialTimeout'));
    assert.throws(() => new TcpTransport({ closeTimeoutMs: Number.NaN }), invalid('tcp.closeTimeoutMs'));
  });
});
