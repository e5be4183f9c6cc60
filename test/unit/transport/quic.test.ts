import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';
import { generateNodeKey } from '../../../src/security/node-key.js';
import { QuicTransport, resolveQuicOptions, type QuicTransportOptions } from '../../../src/transport/quic/quic-transport.js';
import type { HostPort, TransportConnection } from '../../../src/transport/transport.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { siblingModuleUrl, startWorker } from '../../../src/util/worker.js';

const fast: QuicTransportOptions = { idleTimeoutMs: 1_500, keepAliveIntervalMs: 500, handshakeTimeoutMs: 2_000 };

/** A UDP socket that swallows every packet: a QUIC handshake to it never completes. */
async function silentPeer(): Promise<{ address: HostPort; close(): void }> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { address: { host: '127.0.0.1', port: socket.address().port }, close: () => socket.close() };
}

function invalid(field: string) {
  return (err: unknown): boolean => isPartisanError(err, 'ERR_INVALID_OPTION') && err.details.field === field;
}

describe('quic transport options', () => {
  it('fills the documented defaults', () => {
    const o = resolveQuicOptions(undefined);
    assert.equal(o.idleTimeoutMs, 10_000);
    assert.equal(o.keepAliveIntervalMs, 2_000);
    assert.equal(o.handshakeTimeoutMs, 5_000);
    assert.equal(o.maxConcurrentStreams, 256);
    assert.equal(o.streamReceiveWindow, 4 * 1024 * 1024);
    assert.equal(o.connectionReceiveWindow, 16 * 1024 * 1024);
    assert.equal(o.socketReceiveBufferBytes, 4 * 1024 * 1024);
    assert.equal(o.socketSendBufferBytes, 4 * 1024 * 1024);
    assert.equal(o.readChunkBytes, 64 * 1024);
    assert.equal(o.key.publicKeyRaw.length, 32);
  });

  it('rejects bad values, naming the field', () => {
    assert.throws(() => resolveQuicOptions({ idleTimeoutMs: -1 }), invalid('quic.idleTimeoutMs'));
    assert.throws(() => resolveQuicOptions({ readChunkBytes: 1.5 }), invalid('quic.readChunkBytes'));
    assert.throws(() => resolveQuicOptions({ streamReceiveWindow: 2 ** 32 }), invalid('quic.streamReceiveWindow'));
    assert.throws(() => resolveQuicOptions({ maxConcurrentStreams: 0 }), invalid('quic.maxConcurrentStreams'));
    assert.throws(() => resolveQuicOptions({ idleTimeoutMs: 1_000, keepAliveIntervalMs: 1_000 }), invalid('quic.keepAliveIntervalMs'));
    assert.throws(() => resolveQuicOptions({ key: 'secret' } as unknown as QuicTransportOptions), invalid('quic.key'));
    assert.throws(() => resolveQuicOptions({ idleTimeout: 5 } as unknown as QuicTransportOptions), invalid('quic.idleTimeout'));
  });

  it('create() rejects bad options before touching the binding', async () => {
    await assert.rejects(QuicTransport.create({ handshakeTimeoutMs: 0 }), invalid('quic.handshakeTimeoutMs'));
  });
});

describe('quic transport', () => {
  it('refuses to run in a worker thread, without ever loading the binding there', async () => {
    const worker = startWorker(siblingModuleUrl(import.meta.url, './quic-worker'));
    try {
      const [report] = (await once(worker, 'message')) as [{ code: string; bindingLoaded: boolean }];
      assert.deepEqual(report, { code: 'ERR_TRANSPORT_UNAVAILABLE', bindingLoaded: false });
    } finally {
      // Terminating a worker that held binding objects would abort this process.
      await worker.terminate();
    }
  });

  it('reports the key each side proved as remoteKey', async () => {
    const serverKey = generateNodeKey();
    const clientKey = generateNodeKey();
    const server = await QuicTransport.create({ ...fast, key: serverKey });
    const client = await QuicTransport.create({ ...fast, key: clientKey });
    try {
      assert.deepEqual(server.localKey, serverKey.publicKeyRaw);
      let accept!: (c: TransportConnection) => void;
      const accepted = new Promise<TransportConnection>((resolve) => {
        accept = resolve;
      });
      const listener = await server.listen({ host: '127.0.0.1', port: 0 }, (c) => accept(c));
      const dialer = await client.dial(listener.address);
      const acceptor = await accepted;
      assert.deepEqual(dialer.remoteKey, serverKey.publicKeyRaw);
      assert.deepEqual(acceptor.remoteKey, clientKey.publicKeyRaw);
      assert.deepEqual(dialer.remoteAddress, listener.address);
      assert.equal(acceptor.remoteAddress.host, '127.0.0.1');
      assert.equal(dialer.remoteCertificate, undefined);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('times a dial out with its own timer when nobody answers', async () => {
    const silent = await silentPeer();
    const client = await QuicTransport.create(fast);
    try {
      await assert.rejects(client.dial(silent.address, { timeoutMs: 200 }), (err: unknown) => isPartisanError(err, 'ERR_TRANSPORT_DIAL_TIMEOUT'));
    } finally {
      await client.close();
      silent.close();
    }
  });

  it('honours an AbortSignal, before and during a dial', async () => {
    const silent = await silentPeer();
    const client = await QuicTransport.create(fast);
    try {
      const { address } = silent;
      const aborted = (err: unknown): boolean => isPartisanError(err, 'ERR_TRANSPORT_DIAL_FAILED') && err.details.aborted === true;
      await assert.rejects(client.dial(address, { signal: AbortSignal.abort() }), aborted);
      const controller = new AbortController();
      const dialing = client.dial(address, { signal: controller.signal });
      controller.abort();
      await assert.rejects(dialing, aborted);
    } finally {
      await client.close();
      silent.close();
    }
  });

  it('fails to listen on a bad address with a coded error', async () => {
    const t = await QuicTransport.create(fast);
    try {
      await assert.rejects(t.listen({ host: '203.0.113.1', port: 0 }, () => {}), (err: unknown) => isPartisanError(err, 'ERR_TRANSPORT_LISTEN_FAILED'));
    } finally {
      await t.close();
    }
  });

  it('refuses work once closed', async () => {
    const t = await QuicTransport.create(fast);
    await t.close();
    const closed = (err: unknown): boolean => isPartisanError(err, 'ERR_TRANSPORT_CLOSED');
    await assert.rejects(t.dial({ host: '127.0.0.1', port: 9 }), closed);
    await assert.rejects(t.listen({ host: '127.0.0.1', port: 0 }, () => {}), closed);
  });

  it('fails writes on a stream after end() and reads after abort() with coded errors', async () => {
    const server = await QuicTransport.create(fast);
    const client = await QuicTransport.create(fast);
    try {
      const listener = await server.listen({ host: '127.0.0.1', port: 0 }, () => {});
      const c = await client.dial(listener.address);
      const s = await c.openStream();
      await s.write(new Uint8Array([1]));
      await s.end();
      await assert.rejects(s.write(new Uint8Array([2])), (err: unknown) => isPartisanError(err, 'ERR_TRANSPORT_CLOSED'));
      const pending = s.read();
      s.abort();
      await assert.rejects(pending, (err: unknown) => isPartisanError(err, 'ERR_TRANSPORT_STREAM_RESET'));
    } finally {
      await client.close();
      await server.close();
    }
  });
});
