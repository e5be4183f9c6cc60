/**
 * Both ends of one benchmark variant, for every kind of target: a partisan-ts Transport from a
 * factory module, the bare quinn binding (the ceiling of our quic transport: same framing,
 * same configuration, no wrapper), and plain node:net (one TCP connection per stream).
 * The receiver runs in the child process (receiver.ts), the sender in the parent (run.ts).
 */
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { Histogram } from 'hdr-histogram-js';
import type { QuinnConfig, QuinnBinding, QuinnStream } from '../../src/transport/quic/binding.js';
import type { Transport, TransportStream } from '../../src/transport/transport.js';
import { loadQuinnBinding, quinnConfig } from '../lib/quinn.js';
import { BatchSource, FrameCounter, frameTemplate, latencyHistogram, wallClockMs } from './frames.js';

export type Target =
  | { kind: 'transport'; name: string; /** Absolute path of a module exporting createTransport(). */ factory: string }
  | { kind: 'quinn-binding'; name: string }
  | { kind: 'node-net'; name: string };

export interface Variant {
  target: Target;
  streams: number;
  frameBytes: number;
  /** Measured time, after the warm-up. */
  durationMs: number;
  warmupMs: number;
  batchBytes: number;
  readChunkBytes: number;
}

export interface ReceiverResult {
  frames: number;
  bytes: number;
  /** Frames received in total, warm-up included (checked against what was sent). */
  totalFrames: number;
  seconds: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
}

export interface Receiver {
  port: number;
  /** Resolves once every stream ended cleanly. */
  done: Promise<ReceiverResult>;
  close(): Promise<void>;
}

export interface Sender {
  framesSent: number;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

/** The quinn configuration of the bare baseline: exactly the one of test/contract/factories/quic.ts. */
function benchQuinnConfig(binding: QuinnBinding): QuinnConfig {
  return quinnConfig(binding, { idleTimeoutMs: 1_500, keepAliveIntervalMs: 500, handshakeTimeoutMs: 2_000 });
}

async function createFactoryTransport(factory: string): Promise<Transport> {
  const mod = (await import(pathToFileURL(factory).href)) as { createTransport(): Promise<Transport> };
  return mod.createTransport();
}

/** Collects the streams of one variant into one result. */
class Tally {
  readonly done: Promise<ReceiverResult>;
  private readonly histogram: Histogram = latencyHistogram();
  private readonly counters: FrameCounter[] = [];
  private first = Number.POSITIVE_INFINITY;
  private last = 0;
  private ended = 0;
  private resolve!: (r: ReceiverResult) => void;
  private reject!: (err: Error) => void;

  constructor(private readonly variant: Variant) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A receiver that fails before anyone awaits `done` must not crash the process.
    this.done.catch(() => {});
  }

  /** A push function for one more stream. */
  stream(): (chunk: Uint8Array) => void {
    const { stampOffset } = frameTemplate(this.variant.frameBytes);
    const counter = new FrameCounter(stampOffset, this.histogram, () => this.first + this.variant.warmupMs);
    this.counters.push(counter);
    return (chunk) => {
      const now = wallClockMs();
      if (now < this.first) this.first = now;
      this.last = now;
      try {
        counter.push(chunk, now);
      } catch (err) {
        this.fail(err as Error);
      }
    };
  }

  end(): void {
    if (++this.ended < this.variant.streams) return;
    const frames = this.counters.reduce((n, c) => n + c.frames, 0);
    const h = this.histogram;
    this.resolve({
      frames,
      bytes: this.counters.reduce((n, c) => n + c.bytes, 0),
      totalFrames: frames + this.counters.reduce((n, c) => n + c.warmupFrames, 0),
      seconds: Math.max(0, this.last - (this.first + this.variant.warmupMs)) / 1000,
      latencyP50Ms: h.getValueAtPercentile(50) / 1000,
      latencyP99Ms: h.getValueAtPercentile(99) / 1000,
      latencyMaxMs: h.maxValue / 1000,
    });
  }

  fail(err: Error): void {
    this.reject(err);
  }
}

export async function startReceiver(variant: Variant): Promise<Receiver> {
  const tally = new Tally(variant);
  const fail = (err: unknown): void => tally.fail(err instanceof Error ? err : new Error(String(err)));
  const target = variant.target;
  switch (target.kind) {
    case 'transport': {
      const transport = await createFactoryTransport(target.factory);
      const readStream = async (s: TransportStream): Promise<void> => {
        const push = tally.stream();
        for (;;) {
          const chunk = await s.read();
          if (chunk === null) break;
          push(chunk);
        }
        tally.end();
      };
      const listener = await transport.listen({ host: HOST, port: 0 }, (c) => c.onStream((s) => void readStream(s).catch(fail)));
      return {
        port: listener.address.port,
        done: tally.done,
        close: async () => {
          await listener.close();
          await transport.close();
        },
      };
    }
    case 'quinn-binding': {
      const binding = await loadQuinnBinding();
      const server = binding.createServer(benchQuinnConfig(binding), HOST, 0);
      const readStream = async (s: QuinnStream): Promise<void> => {
        const push = tally.stream();
        for (;;) {
          const chunk = await s.read(variant.readChunkBytes);
          if (chunk === null) break;
          push(chunk);
        }
        tally.end();
      };
      void (async () => {
        const connection = await server.inboundConnection();
        for (let i = 0; i < variant.streams; i++) void readStream(await connection.inboundStream()).catch(fail);
      })().catch(fail);
      return { port: server.port(), done: tally.done, close: () => server.abort() };
    }
    case 'node-net': {
      const sockets = new Set<Socket>();
      const server = createServer((socket) => {
        sockets.add(socket);
        const push = tally.stream();
        socket.on('data', push);
        socket.on('end', () => tally.end());
        socket.on('error', fail);
        socket.on('close', () => sockets.delete(socket));
      });
      server.listen(0, HOST);
      await once(server, 'listening');
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('node:net server has no port');
      return {
        port: address.port,
        done: tally.done,
        close: async () => {
          for (const s of sockets) s.destroy();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    }
  }
}

/** Open the variant's streams to `port`, write for warm-up + duration, end every stream. */
export async function runSender(variant: Variant, port: number): Promise<Sender> {
  const template = frameTemplate(variant.frameBytes);
  const deadline = performance.now() + variant.warmupMs + variant.durationMs;
  let framesSent = 0;
  /** Write batches until the deadline, one write in flight per stream. */
  const pump = async (write: (batch: Uint8Array) => Promise<void> | void): Promise<void> => {
    const source = new BatchSource(template, variant.batchBytes);
    while (performance.now() < deadline) {
      await write(source.next());
      framesSent += source.framesPerBatch;
    }
  };
  const target = variant.target;
  switch (target.kind) {
    case 'transport': {
      const transport = await createFactoryTransport(target.factory);
      try {
        const connection = await transport.dial({ host: HOST, port }, { timeoutMs: 10_000 });
        const streams = await Promise.all(Array.from({ length: variant.streams }, () => connection.openStream()));
        await Promise.all(
          streams.map(async (s) => {
            await pump((batch) => s.write(batch));
            await s.end();
          }),
        );
      } catch (err) {
        await transport.close();
        throw err;
      }
      return { framesSent, close: () => transport.close() };
    }
    case 'quinn-binding': {
      const binding = await loadQuinnBinding();
      const client = binding.createClient(benchQuinnConfig(binding), 'ipv4');
      try {
        const connection = await client.outboundConnection(HOST, port);
        const streams = await Promise.all(Array.from({ length: variant.streams }, () => connection.outboundStream()));
        await Promise.all(
          streams.map(async (s) => {
            await pump((batch) => s.write(batch));
            await s.finishWrite();
          }),
        );
        return {
          framesSent,
          close: async () => {
            connection.abort();
            client.abort();
          },
        };
      } catch (err) {
        client.abort();
        throw err;
      }
    }
    case 'node-net': {
      const sockets = await Promise.all(
        Array.from({ length: variant.streams }, async () => {
          const socket = createConnection({ host: HOST, port, noDelay: true });
          await once(socket, 'connect');
          return socket;
        }),
      );
      try {
        await Promise.all(
          sockets.map(async (socket) => {
            await pump((batch) => (socket.write(batch) ? undefined : once(socket, 'drain').then(() => {})));
            socket.end();
          }),
        );
      } catch (err) {
        for (const s of sockets) s.destroy();
        throw err;
      }
      return {
        framesSent,
        close: async () => {
          for (const s of sockets) s.destroy();
        },
      };
    }
  }
}
