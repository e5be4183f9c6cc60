import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { TcpTransport } from '../../../../src/transport/tcp/tcp-transport.js';
import { isPartisanError } from '../../../../src/util/errors.js';

describe('tcp transport: dialing', () => {
  it('times out with ERR_TRANSPORT_DIAL_TIMEOUT when the listener never accepts the session', async () => {
    // A TCP server that takes the socket but never answers the preamble.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as net.AddressInfo;
    const client = new TcpTransport();
    await assert.rejects(client.dial({ host: '127.0.0.1', port }, { timeoutMs: 100 }), (err: unknown) => isPartisanError(err, 'ERR_TRANSPORT_DIAL_TIMEOUT'));
    await client.close();
    for (const s of sockets) s.destroy();
    silent.close();
    await once(silent, 'close');
  });

  it('rejects with the signal reason when the dial is aborted', async () => {
    const server = new TcpTransport();
    const listener = await server.listen({ host: '127.0.0.1', port: 0 }, (c) => void c.close());
    const client = new TcpTransport();
    const controller = new AbortController();
    const reason = new Error('changed my mind');
    const dialing = client.dial(listener.address, { signal: controller.signal });
    controller.abort(reason);
    await assert.rejects(dialing, (err: unknown) => err === reason);
    await assert.rejects(client.dial(listener.address, { signal: controller.signal }), (err: unknown) => err === reason);
    await client.close();
    await listener.close();
    await server.close();
  });

  it('fails a dial to a closed port with ERR_TRANSPORT_DIAL_FAILED and the errno', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as net.AddressInfo;
    probe.close();
    await once(probe, 'close');
    const client = new TcpTransport();
    await assert.rejects(client.dial({ host: '127.0.0.1', port }), (err: unknown) => isPartisanError(err, 'ERR_TRANSPORT_DIAL_FAILED') && err.details['errno'] === 'ECONNREFUSED');
    await client.close();
  });
});
