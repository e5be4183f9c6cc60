/**
 * How the tcp transport groups sockets into connections, seen from a hand-made dialer that
 * speaks the preamble and control protocol of tcp-wire.ts byte by byte.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TcpTransport } from '../../../../src/transport/tcp/tcp-transport.js';
import { CONTROL_BYTES, ControlReader, ControlType, encodeControl, encodePreamble, SESSION_ID_BYTES, SocketKind } from '../../../../src/transport/tcp/tcp-wire.js';
import type { TransportConnection, TransportListener, TransportStream } from '../../../../src/transport/transport.js';
import { isPartisanError } from '../../../../src/util/errors.js';
import { readAll, readExactly } from '../../../contract/transport.js';

/** Queue of values pushed by callbacks, awaited one at a time. */
class Inbox<T> {
  private items: T[] = [];
  private waiters: Array<(item: T) => void> = [];
  push = (item: T): void => {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  };
  next(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

interface Control {
  type: number;
  id: number;
  value: number;
}

/** A dialer made of raw sockets: primary + stream sockets, control messages read into an inbox. */
class RawDialer {
  readonly sessionId = randomBytes(SESSION_ID_BYTES);
  readonly control = new Inbox<Control>();
  primary!: net.Socket;

  constructor(private readonly port: number) {}

  async connect(): Promise<void> {
    this.primary = await this.socket(encodePreamble({ kind: SocketKind.primary, sessionId: this.sessionId, streamId: 0 }));
    const reader = new ControlReader((type, id, value) => this.control.push({ type, id, value }));
    this.primary.on('data', (chunk: Buffer) => reader.push(chunk));
    assert.deepEqual(await this.control.next(), { type: ControlType.accept, id: 0, value: 0 });
  }

  stream(id: number, sessionId = this.sessionId): Promise<net.Socket> {
    return this.socket(encodePreamble({ kind: SocketKind.stream, sessionId, streamId: id }));
  }

  send(type: number, id = 0, value = 0): void {
    this.primary.write(encodeControl(type as ControlType, id, value));
  }

  async socket(preamble: Buffer): Promise<net.Socket> {
    const socket = net.connect({ host: '127.0.0.1', port: this.port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(preamble);
    return socket;
  }
}

describe('tcp transport: sockets grouped into connections', () => {
  let server: TcpTransport;
  let listener: TransportListener;
  const accepted = new Inbox<TransportConnection>();

  before(async () => {
    server = new TcpTransport({ preambleTimeoutMs: 200 });
    listener = await server.listen({ host: '127.0.0.1', port: 0 }, accepted.push);
  });

  after(async () => {
    await listener.close();
    await server.close();
  });

  it('keeps two connections from one client apart', async () => {
    const client = new TcpTransport();
    const [c1, c2] = [await client.dial(listener.address), await client.dial(listener.address)];
    const [a1, a2] = [await accepted.next(), await accepted.next()];
    assert.notEqual(a1, a2);
    const seen = new Map<TransportConnection, Inbox<TransportStream>>([
      [a1, new Inbox()],
      [a2, new Inbox()],
    ]);
    for (const [a, inbox] of seen) a.onStream(inbox.push);
    // Streams of both connections interleaved; each must land on its own connection.
    const s1 = await c1!.openStream();
    const s2 = await c2!.openStream();
    await s2.write(Buffer.from('two'));
    await s1.write(Buffer.from('one'));
    await s1.end();
    await s2.end();
    assert.equal((await readAll(await seen.get(a1)!.next())).toString(), 'one');
    assert.equal((await readAll(await seen.get(a2)!.next())).toString(), 'two');
    await client.close();
    assert.equal((await a1.closed).local, false);
    assert.equal((await a2.closed).local, false);
  });

  it('refuses a stream socket naming an unknown session, and keeps serving', async () => {
    const refusedBefore = server.counters.refusedStreams;
    const raw = new RawDialer(listener.address.port);
    const stray = await raw.stream(2, randomBytes(SESSION_ID_BYTES));
    await once(stray, 'close');
    assert.equal(server.counters.refusedStreams, refusedBefore + 1);
    await assertStillServing(listener.address, accepted);
  });

  it('closes a socket sending garbage instead of a preamble, counts it, and keeps serving', async () => {
    const badBefore = server.counters.badPreambles;
    const socket = net.connect({ host: '127.0.0.1', port: listener.address.port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('GET / HTTP/1.1\r\n\r\n');
    await once(socket, 'close');
    assert.equal(server.counters.badPreambles, badBefore + 1);
    await assertStillServing(listener.address, accepted);
  });

  it('closes a socket that never completes its preamble', async () => {
    const before = server.counters.preambleTimeouts;
    const socket = net.connect({ host: '127.0.0.1', port: listener.address.port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(encodePreamble({ kind: SocketKind.primary, sessionId: randomBytes(SESSION_ID_BYTES), streamId: 0 }).subarray(0, 10));
    await once(socket, 'close');
    assert.equal(server.counters.preambleTimeouts, before + 1);
  });

  it('refuses a duplicate stream id with RESET on the primary, the connection lives on', async () => {
    const raw = new RawDialer(listener.address.port);
    await raw.connect();
    const connection = await accepted.next();
    const streams = new Inbox<TransportStream>();
    connection.onStream(streams.push);
    const first = await raw.stream(2);
    const stream = await streams.next();
    const duplicate = await raw.stream(2);
    await once(duplicate, 'close');
    assert.deepEqual(await raw.control.next(), { type: ControlType.reset, id: 2, value: 0 });
    first.write('still here');
    assert.equal((await readExactly(stream, 10)).toString(), 'still here');
    raw.primary.destroy();
    assert.ok((await connection.closed).error);
    first.destroy();
  });

  it('takes an END that overtakes its stream socket', async () => {
    const raw = new RawDialer(listener.address.port);
    await raw.connect();
    const connection = await accepted.next();
    const streams = new Inbox<TransportStream>();
    connection.onStream(streams.push);
    raw.send(ControlType.end, 4, 5);
    const socket = await raw.stream(4);
    socket.write('hello');
    const stream = await streams.next();
    assert.equal((await readAll(stream)).toString(), 'hello');
    raw.send(ControlType.close);
    assert.deepEqual(await connection.closed, { local: false });
    socket.destroy();
  });

  it('resets only the stream whose socket died; the peer is told with RESET and answers', async () => {
    const raw = new RawDialer(listener.address.port);
    await raw.connect();
    const connection = await accepted.next();
    const streams = new Inbox<TransportStream>();
    connection.onStream(streams.push);
    const dying = await raw.stream(2);
    const living = await raw.stream(4);
    const s2 = await streams.next();
    const s4 = await streams.next();
    const pending = s2.read();
    dying.destroy();
    // The acceptor abandons stream 2 and says so; the read still waits for the peer's word.
    assert.deepEqual(await raw.control.next(), { type: ControlType.reset, id: 2, value: 0 });
    raw.send(ControlType.reset, 2);
    await assert.rejects(pending, (err: unknown) => isPartisanError(err, 'ERR_TRANSPORT_STREAM_RESET'));
    living.write('ok');
    assert.equal((await readExactly(s4, 2)).toString(), 'ok');
    const opening = connection.openStream();
    const opened = await raw.control.next();
    assert.equal(opened.type, ControlType.open);
    assert.equal(opened.id % 2, 1, 'acceptor-opened streams have odd ids');
    const back = await raw.stream(opened.id);
    const stillOpen = await opening;
    await stillOpen.write(Buffer.from('from acceptor'));
    back.write('pong');
    assert.equal((await readExactly(stillOpen, 4)).toString(), 'pong');
    raw.primary.destroy();
    const info = await connection.closed;
    assert.equal(info.local, false);
    assert.ok(isPartisanError(info.error, 'ERR_TRANSPORT_STREAM_RESET'), 'a primary without CLOSE died');
    await assert.rejects(s4.read(), (err: unknown) => isPartisanError(err, 'ERR_TRANSPORT_STREAM_RESET'));
    living.destroy();
    back.destroy();
  });

  it('kills the connection on an unknown control message', async () => {
    const before = server.counters.badControlMessages;
    const raw = new RawDialer(listener.address.port);
    await raw.connect();
    const connection = await accepted.next();
    raw.primary.write(Buffer.alloc(CONTROL_BYTES, 0xee));
    const info = await connection.closed;
    assert.ok(info.error);
    assert.equal(server.counters.badControlMessages, before + 1);
    await once(raw.primary, 'close');
  });

  it('lets the acceptor open streams: the dialer dials them and sees them in onStream', async () => {
    const client = new TcpTransport();
    const dialer = await client.dial(listener.address);
    const acceptor = await accepted.next();
    const seen = new Inbox<TransportStream>();
    dialer.onStream(seen.push);
    const s = await acceptor.openStream();
    await s.write(Buffer.from('hi'));
    await s.end();
    const peer = await seen.next();
    assert.equal((await readAll(peer)).toString(), 'hi');
    await peer.write(Buffer.from('back'));
    await peer.end();
    assert.equal((await readAll(s)).toString(), 'back');
    await client.close();
  });
});

/** A real client can still connect and get bytes through. */
async function assertStillServing(address: { host: string; port: number }, accepted: Inbox<TransportConnection>): Promise<void> {
  const client = new TcpTransport();
  const dialer = await client.dial(address);
  const acceptor = await accepted.next();
  const streams = new Inbox<TransportStream>();
  acceptor.onStream(streams.push);
  const s = await dialer.openStream();
  await s.write(Buffer.from('alive'));
  await s.end();
  assert.equal((await readAll(await streams.next())).toString(), 'alive');
  await client.close();
  await acceptor.closed;
}
