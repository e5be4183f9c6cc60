import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { certificateEd25519Key, ed25519PublicKeyRaw, verifyNodeCertificate } from '../../src/security/certificates.js';
import { TcpTransport } from '../../src/transport/tcp/tcp-transport.js';
import type { TransportConnection } from '../../src/transport/transport.js';
import { createTransport, tlsOptionsFor } from './factories/tcp-tls.js';
import { spawnPeerProcess } from './spawn-peer.js';
import { transportContract } from './transport.js';

transportContract('tcp', {
  host: '127.0.0.1',
  create: createTransport,
  killDetectionMs: 5_000,
  startKillablePeer: () => spawnPeerProcess('test/contract/factories/tcp-tls.ts'),
});

describe('tcp over mutual TLS: peer identity', () => {
  it('exposes the peer certificate and its raw Ed25519 key on both sides', async () => {
    const server = await tlsOptionsFor('server@127.0.0.1');
    const client = await tlsOptionsFor('client@127.0.0.1');
    const a = new TcpTransport(server.options);
    const b = new TcpTransport(client.options);
    let accept!: (c: TransportConnection) => void;
    const accepted = new Promise<TransportConnection>((resolve) => (accept = resolve));
    const listener = await a.listen({ host: '127.0.0.1', port: 0 }, (c) => accept(c));
    const dialer = await b.dial(listener.address);
    const acceptor = await accepted;

    assert.deepEqual(dialer.remoteKey, ed25519PublicKeyRaw(server.publicKey));
    assert.deepEqual(acceptor.remoteKey, ed25519PublicKeyRaw(client.publicKey));
    assert.equal(verifyNodeCertificate(dialer.remoteCertificate!, { caCertDer: server.caCertDer, expectedNode: 'server@127.0.0.1', expectedPublicKeyRaw: dialer.remoteKey! }), 'server@127.0.0.1');
    assert.equal(verifyNodeCertificate(acceptor.remoteCertificate!, { caCertDer: client.caCertDer, expectedNode: 'client@127.0.0.1', expectedPublicKeyRaw: acceptor.remoteKey! }), 'client@127.0.0.1');
    assert.deepEqual(certificateEd25519Key(acceptor.remoteCertificate!), acceptor.remoteKey);

    await dialer.close();
    await listener.close();
    await b.close();
    await a.close();
  });

  it('refuses a client without a certificate from the cluster CA', async () => {
    const server = await tlsOptionsFor('server@127.0.0.1');
    const a = new TcpTransport(server.options);
    const listener = await a.listen({ host: '127.0.0.1', port: 0 }, () => assert.fail('no connection may be accepted'));
    const stranger = new TcpTransport({ tlsClientOptions: { ca: server.options.tlsClientOptions!.ca, checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' } });
    await assert.rejects(stranger.dial(listener.address, { timeoutMs: 5_000 }), (err: unknown) => (err as { code?: string }).code === 'ERR_TRANSPORT_DIAL_FAILED');
    await listener.close();
    await stranger.close();
    await a.close();
  });
});
