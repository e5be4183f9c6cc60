/**
 * The transport compliance suite: every Transport implementation runs exactly these tests
 * (test/contract/transport-<name>.test.ts calls `transportContract` with a harness).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HostPort, Transport, TransportConnection, TransportStream } from '../../src/transport/transport.js';
import { isPartisanError } from '../../src/util/errors.js';

export interface KillablePeer {
  address: HostPort;
  /** Kill the peer abruptly (SIGKILL for real processes). */
  kill(): void;
}

export interface TransportHarness {
  /** A fresh endpoint with its own identity. */
  create(): Promise<Transport>;
  /** Host to listen on (e.g. 127.0.0.1). */
  host: string;
  /** A peer in another process (or simulated one) that accepts one connection and echoes streams. */
  startKillablePeer(): Promise<KillablePeer>;
  /** How long the surviving side may take to notice an abrupt kill, ms. */
  killDetectionMs: number;
  /** Largest single write the suite sends (near the default 8 MiB frame limit). */
  largeBytes?: number;
}

/** Collect every byte of a stream until a clean end. */
export async function readAll(stream: TransportStream): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const chunk = await stream.read();
    if (chunk === null) break;
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Read exactly `n` bytes (or fail if the stream ends first). */
export async function readExactly(stream: TransportStream, n: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let got = 0;
  while (got < n) {
    const chunk = await stream.read();
    if (chunk === null) throw new Error(`stream ended after ${got} of ${n} bytes`);
    parts.push(chunk);
    got += chunk.length;
  }
  const all = Buffer.concat(parts);
  assert.equal(all.length, n, 'read more bytes than expected');
  return all;
}

/** Echo every stream of `connection` until it ends. */
export function echoStreams(connection: TransportConnection): void {
  connection.onStream((stream) => {
    void (async () => {
      try {
        for (;;) {
          const chunk = await stream.read();
          if (chunk === null) break;
          await stream.write(chunk);
        }
        await stream.end();
      } catch {
        // The connection went away; nothing to echo to.
      }
    })();
  });
}

function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function transportContract(name: string, harness: TransportHarness): void {
  describe(`transport contract: ${name}`, () => {
    let server: Transport;
    let client: Transport;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };

    before(async () => {
      process.on('unhandledRejection', onUnhandled);
      server = await harness.create();
      client = await harness.create();
    });

    after(async () => {
      await client?.close();
      await server?.close();
      process.off('unhandledRejection', onUnhandled);
      assert.deepEqual(unhandled, [], 'no promise rejection may go unhandled');
    });

    async function connectedPair(): Promise<{ dialer: TransportConnection; acceptor: TransportConnection; close(): Promise<void> }> {
      let accept!: (c: TransportConnection) => void;
      const accepted = new Promise<TransportConnection>((resolve) => {
        accept = resolve;
      });
      const listener = await server.listen({ host: harness.host, port: 0 }, (c) => accept(c));
      const dialer = await client.dial(listener.address, { timeoutMs: 10_000 });
      const acceptor = await withTimeout(accepted, 10_000, 'accept');
      return {
        dialer,
        acceptor,
        close: async () => {
          await dialer.close();
          await listener.close();
        },
      };
    }

    it('connects, and both sides know who dialed', async () => {
      const { dialer, acceptor, close } = await connectedPair();
      assert.equal(dialer.outbound, true);
      assert.equal(acceptor.outbound, false);
      assert.equal(dialer.transport, name);
      assert.equal(typeof dialer.remoteAddress.port, 'number');
      assert.ok(dialer.remoteAddress.port > 0);
      await close();
    });

    it('carries many streams on one connection, each with its own bytes', async () => {
      const { dialer, acceptor, close } = await connectedPair();
      echoStreams(acceptor);
      const streams = 16;
      await Promise.all(
        Array.from({ length: streams }, async (_, i) => {
          const s = await dialer.openStream();
          const data = pattern(10_000 + i * 997, i + 1);
          const echoed = readExactly(s, data.length);
          await s.write(data);
          assert.ok((await echoed).equals(data), `stream ${i} echoed its own bytes`);
          await s.end();
        }),
      );
      await close();
    });

    it('delivers bytes in order on a stream, across many writes', async () => {
      const { dialer, acceptor, close } = await connectedPair();
      const received = new Promise<Buffer>((resolve, reject) => {
        acceptor.onStream((s) => {
          readAll(s).then(resolve, reject);
        });
      });
      const s = await dialer.openStream();
      const parts: Buffer[] = [];
      for (let i = 0; i < 2000; i++) {
        const part = pattern(1 + ((i * 37) % 700), i);
        parts.push(part);
        await s.write(part);
      }
      await s.end();
      const all = await withTimeout(received, 20_000, 'ordered delivery');
      assert.ok(all.equals(Buffer.concat(parts)), 'bytes arrive complete and in write order');
      await close();
    });

    it('lets the caller reuse a buffer once its write resolved (the bytes sent are the ones written)', async () => {
      // The connection layer recycles write buffers (BufferPool): a transport that still read a
      // buffer after resolving write() would send the next batch's bytes in place of these.
      const { dialer, acceptor, close } = await connectedPair();
      const received = new Promise<Buffer>((resolve, reject) => {
        acceptor.onStream((s) => {
          readAll(s).then(resolve, reject);
        });
      });
      const s = await dialer.openStream();
      const reused = Buffer.alloc(256 * 1024);
      const expected: Buffer[] = [];
      for (let i = 0; i < 40; i++) {
        const part = pattern(reused.length - i * 1000, i + 1);
        part.copy(reused);
        const view = reused.subarray(0, part.length);
        expected.push(Buffer.from(view));
        await s.write(view);
        reused.fill(0xee);
      }
      await s.end();
      const all = await withTimeout(received, 20_000, 'reused-buffer delivery');
      assert.equal(all.length, Buffer.concat(expected).length);
      assert.ok(all.equals(Buffer.concat(expected)), 'every write arrives as it was when written');
      await close();
    });

    it('carries bidirectional traffic on one stream', async () => {
      const { dialer, acceptor, close } = await connectedPair();
      acceptor.onStream((s) => {
        void (async () => {
          const hello = await readExactly(s, 5);
          await s.write(Buffer.concat([hello, Buffer.from(' back')]));
          await s.end();
        })();
      });
      const s = await dialer.openStream();
      await s.write(Buffer.from('hello'));
      const reply = await readAll(s);
      assert.equal(reply.toString(), 'hello back');
      await close();
    });

    it('carries a write near the frame limit intact', async () => {
      const { dialer, acceptor, close } = await connectedPair();
      const size = harness.largeBytes ?? 8 * 1024 * 1024 - 64;
      const received = new Promise<Buffer>((resolve, reject) => {
        acceptor.onStream((s) => {
          readAll(s).then(resolve, reject);
        });
      });
      const s = await dialer.openStream();
      const big = pattern(size, 99);
      await s.write(big);
      await s.end();
      const got = await withTimeout(received, 60_000, 'large write');
      assert.equal(got.length, big.length);
      assert.ok(got.equals(big));
      await close();
    });

    it('ends a stream cleanly: the peer reads null after the data', async () => {
      const { dialer, acceptor, close } = await connectedPair();
      const streamSeen = new Promise<TransportStream>((resolve) => acceptor.onStream(resolve));
      const s = await dialer.openStream();
      await s.write(Buffer.from('last words'));
      await s.end();
      const peer = await streamSeen;
      assert.equal(Buffer.from((await readExactly(peer, 10))).toString(), 'last words');
      assert.equal(await peer.read(), null);
      await close();
    });

    it('tells the other side when the peer closes the connection', async () => {
      const { dialer, acceptor, close } = await connectedPair();
      const streamSeen = new Promise<TransportStream>((resolve) => acceptor.onStream(resolve));
      const s = await dialer.openStream();
      await s.write(Buffer.from('x'));
      const peerStream = await streamSeen;
      await readExactly(peerStream, 1);
      const pendingRead = s.read();
      await acceptor.close();
      const info = await withTimeout(dialer.closed, 10_000, 'close event on the dialer');
      assert.equal(info.local, false);
      await assert.rejects(pendingRead, (err: unknown) => isPartisanError(err), 'a read pending at close rejects with a coded error');
      await assert.rejects(s.write(Buffer.from('y')), (err: unknown) => isPartisanError(err), 'writing after close fails with a coded error');
      await close();
    });

    it('aborting a stream resets it on both sides', async () => {
      const { dialer, acceptor, close } = await connectedPair();
      const streamSeen = new Promise<TransportStream>((resolve) => acceptor.onStream(resolve));
      const s = await dialer.openStream();
      await s.write(Buffer.from('z'));
      const peer = await streamSeen;
      await readExactly(peer, 1);
      s.abort();
      await assert.rejects(withTimeout(peer.read(), 10_000, 'reset seen by peer'), (err: unknown) => isPartisanError(err));
      // The connection itself survives a stream reset.
      const s2 = await dialer.openStream();
      const seen2 = new Promise<TransportStream>((resolve) => acceptor.onStream(resolve));
      await s2.write(Buffer.from('ok'));
      assert.equal((await readExactly(await seen2, 2)).toString(), 'ok');
      await close();
    });

    it('notices an abruptly killed peer without hanging', async () => {
      const peer = await harness.startKillablePeer();
      const connection = await client.dial(peer.address, { timeoutMs: 10_000 });
      const s = await connection.openStream();
      await s.write(Buffer.from('ping'));
      assert.equal((await readExactly(s, 4)).toString(), 'ping');
      const pendingRead = s.read();
      peer.kill();
      const info = await withTimeout(connection.closed, harness.killDetectionMs, 'close event after the peer was killed');
      assert.equal(info.local, false);
      await assert.rejects(pendingRead, (err: unknown) => isPartisanError(err));
    });

    it('fails a dial to a closed port with a coded error', async () => {
      // Find a port nobody listens on: bind, learn the port, stop.
      const probe = await server.listen({ host: harness.host, port: 0 }, () => {});
      const address = probe.address;
      await probe.close();
      await assert.rejects(client.dial(address, { timeoutMs: 3_000 }), (err: unknown) => {
        return isPartisanError(err) && (err.code === 'ERR_TRANSPORT_DIAL_FAILED' || err.code === 'ERR_TRANSPORT_DIAL_TIMEOUT');
      });
    });

    it('frees the port when a listener stops', async () => {
      const first = await server.listen({ host: harness.host, port: 0 }, () => {});
      const port = first.address.port;
      await first.close();
      const second = await server.listen({ host: harness.host, port }, () => {});
      assert.equal(second.address.port, port);
      await second.close();
    });

    it('refuses to listen on a port in use with a coded error', async () => {
      const first = await server.listen({ host: harness.host, port: 0 }, () => {});
      await assert.rejects(client.listen({ host: harness.host, port: first.address.port }, () => {}), (err: unknown) =>
        isPartisanError(err, 'ERR_TRANSPORT_LISTEN_FAILED'),
      );
      await first.close();
    });

    it('leaks no handles once everything is closed', async () => {
      const before = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate');
      const a = await harness.create();
      const b = await harness.create();
      let accepted: TransportConnection | undefined;
      const listener = await a.listen({ host: harness.host, port: 0 }, (c) => {
        accepted = c;
        echoStreams(c);
      });
      const c = await b.dial(listener.address, { timeoutMs: 10_000 });
      const s = await c.openStream();
      await s.write(Buffer.from('leak?'));
      await readExactly(s, 5);
      await c.close();
      await accepted?.closed;
      await listener.close();
      await b.close();
      await a.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const afterwards = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate');
      const counts = (xs: Iterable<string>): Map<string, number> => {
        const m = new Map<string, number>();
        for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
        return m;
      };
      const extra = [...counts(afterwards)].filter(([k, n]) => n > (counts(before).get(k) ?? 0));
      assert.deepEqual(extra, [], `handles left open: ${JSON.stringify(extra)}`);
    });
  });
}
