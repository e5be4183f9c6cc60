/**
 * Baselines without the runtime, each end in its own process:
 *
 * - `p2p*`: the same Message frames the runtime puts on the wire (length prefix + msgpack
 *   batch of GPS records, ~64 KiB per write), over the bare quinn binding or one node:net
 *   socket. Mode `wire` writes pre-encoded batches and counts records by the batch's msgpack
 *   array header (the transport's ceiling for these bytes); mode `codec` encodes every batch
 *   with fresh records and decodes every frame (the ceiling including msgpack, still without
 *   queues, lanes, credits, mailboxes).
 * - `single*`: distributed Erlang's shape for the hol scenario: gps and bulk messages
 *   interleaved on one TCP connection, whole messages, no fragmentation or priority.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import type { Histogram } from 'hdr-histogram-js';
import { FrameDecoder, FrameSplitter, FrameType, FrameWriter, type Envelope } from '../../src/wire/index.js';
import type { QuinnStream } from '../../src/transport/quic/binding.js';
import { encodeHistogram, latencyHistogram, recordMs, summarize, wallClockMs } from '../lib/histogram.js';
import { gpsRecord, paddingFor, type GpsRecord } from '../lib/payload.js';
import { loadQuinnBinding, quinnConfig } from '../lib/quinn.js';
import { measured, serve } from '../lib/serve.js';
import { scheduleWindow } from '../lib/usage.js';

const HOST = '127.0.0.1';
const MAX_FRAME = 64 * 1024 * 1024;
let from = Number.POSITIVE_INFINITY;
let to = Number.POSITIVE_INFINITY;
let closeAll: Array<() => unknown> = [];

type Kind = 'quinn-binding' | 'node-net';
type Mode = 'wire' | 'codec';

interface P2pOptions {
  kind: Kind;
  mode: Mode;
  messageBytes: number;
  batchBytes: number;
  sampleEvery?: number;
}

/** Counters of a p2p receiver. */
const rx = { total: 0, counted: 0, bytes: 0, lastArrival: 0, histogram: latencyHistogram() as Histogram };

/** msgpack array length at `offset` (the envelope count of a Message frame body). */
function arrayLength(b: Uint8Array, offset: number): number {
  const t = b[offset]!;
  if ((t & 0xf0) === 0x90) return t & 0x0f;
  if (t === 0xdc) return (b[offset + 1]! << 8) | b[offset + 2]!;
  if (t === 0xdd) return ((b[offset + 1]! << 24) >>> 0) + ((b[offset + 2]! << 16) | (b[offset + 3]! << 8) | b[offset + 4]!);
  throw new Error(`not a msgpack array: 0x${t.toString(16)}`);
}

/** A consumer of received chunks for one connection/stream. */
function consumer(o: P2pOptions): (chunk: Uint8Array) => void {
  const sampleEvery = o.sampleEvery ?? 1;
  let k = 0;
  if (o.mode === 'wire') {
    const splitter = new FrameSplitter(MAX_FRAME);
    return (chunk) => {
      const now = wallClockMs();
      let n = 0;
      for (const f of splitter.push(chunk)) if (f[4] === FrameType.Message) n += arrayLength(f, 5);
      rx.total += n;
      rx.lastArrival = now;
      if (now >= from && now < to) {
        rx.counted += n;
        rx.bytes += chunk.length;
      }
    };
  }
  const decoder = new FrameDecoder(MAX_FRAME);
  return (chunk) => {
    const now = wallClockMs();
    const inWindow = now >= from && now < to;
    let n = 0;
    for (const f of decoder.push(chunk)) {
      if (f.type !== FrameType.Message) continue;
      const messages = f.messages;
      n += messages.length;
      if (!inWindow) continue;
      for (let i = 0; i < messages.length; i++) {
        if (++k < sampleEvery) continue;
        k = 0;
        recordMs(rx.histogram, now - (messages[i]![1] as GpsRecord).ts);
      }
    }
    rx.total += n;
    rx.lastArrival = now;
    if (inWindow) {
      rx.counted += n;
      rx.bytes += chunk.length;
    }
  };
}

async function p2pReceive(o: P2pOptions): Promise<number> {
  if (o.kind === 'quinn-binding') {
    const binding = await loadQuinnBinding();
    const server = binding.createServer(quinnConfig(binding), HOST, 0);
    const read = async (s: QuinnStream): Promise<void> => {
      const push = consumer(o);
      for (;;) {
        const chunk = await s.read(64 * 1024);
        if (chunk === null) return;
        push(chunk);
      }
    };
    void (async () => {
      const connection = await server.inboundConnection();
      for (;;) void read(await connection.inboundStream()).catch(() => {});
    })().catch(() => {});
    closeAll.push(() => server.abort());
    return server.port();
  }
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', consumer(o));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  closeAll.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

/** Batches of `messageBytes` records, ~batchBytes per write (one Message frame, as a lane packs). */
function batchMaker(o: P2pOptions): { perBatch: number; next(seq: number): Buffer } {
  const body = paddingFor(o.messageBytes);
  const probe = new FrameWriter(MAX_FRAME, 1024);
  const one = probe.addMessages([[1, gpsRecord(1, 1, wallClockMs(), 0, body)]]);
  const perBatch = Math.max(1, Math.floor(o.batchBytes / one));
  const writer = new FrameWriter(MAX_FRAME, o.batchBytes);
  const build = (seq: number): Buffer => {
    const now = wallClockMs();
    const batch: Envelope[] = new Array(perBatch);
    for (let i = 0; i < perBatch; i++) batch[i] = [1, gpsRecord(seq + i, seq + i, now, 0, body)];
    writer.addMessages(batch);
    return writer.take()!;
  };
  if (o.mode === 'codec') return { perBatch, next: build };
  const template = build(0);
  return { perBatch, next: () => template };
}

async function p2pSend(o: P2pOptions & { port: number; untilWallMs: number }): Promise<{ sent: number }> {
  const maker = batchMaker(o);
  let sent = 0;
  const pump = async (write: (b: Buffer) => Promise<void> | void): Promise<void> => {
    while (wallClockMs() < o.untilWallMs) {
      await write(maker.next(sent));
      sent += maker.perBatch;
    }
  };
  if (o.kind === 'quinn-binding') {
    const binding = await loadQuinnBinding();
    const client = binding.createClient(quinnConfig(binding), 'ipv4');
    const connection = await client.outboundConnection(HOST, o.port);
    const stream = await connection.outboundStream();
    await pump((b) => stream.write(b));
    await stream.finishWrite();
    closeAll.push(() => {
      connection.abort();
      client.abort();
    });
    return { sent };
  }
  const socket = createConnection({ host: HOST, port: o.port, noDelay: true });
  await once(socket, 'connect');
  await pump((b) => (socket.write(b) ? undefined : once(socket, 'drain').then(() => {})));
  socket.end();
  closeAll.push(() => socket.destroy());
  return { sent };
}

// ---- tcp-single: gps + bulk on one connection ----

const GPS = 1;
const BULK = 2;
const single = { gps: latencyHistogram() as Histogram, gpsTotal: 0, gpsCounted: 0, bulkBytes: 0, bulkTotal: 0 };

async function singleReceive(): Promise<number> {
  const server = createServer((socket) => {
    // [u32 length][u8 kind][f64 ts][payload]; length counts kind + ts + payload.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let need = 4;
    let header = true;
    socket.on('data', (chunk: Buffer) => {
      pending.push(chunk);
      pendingBytes += chunk.length;
      while (pendingBytes >= need) {
        const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        if (header) {
          need = buf.readUInt32BE(0);
          header = false;
          pending = [buf.subarray(4)];
          pendingBytes -= 4;
          continue;
        }
        const now = wallClockMs();
        const kind = buf[0];
        const ts = buf.readDoubleLE(1);
        const inWindow = now >= from && now < to;
        if (kind === GPS) {
          single.gpsTotal++;
          if (inWindow) {
            single.gpsCounted++;
            recordMs(single.gps, now - ts);
          }
        } else {
          single.bulkTotal++;
          if (inWindow) single.bulkBytes += need;
        }
        pending = [buf.subarray(need)];
        pendingBytes -= need;
        need = 4;
        header = true;
      }
    });
    socket.on('error', () => {});
    closeAll.push(() => socket.destroy());
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  closeAll.push(() => server.close());
  return (server.address() as { port: number }).port;
}

function singleFrame(kind: number, payloadBytes: number): Buffer {
  const b = Buffer.alloc(4 + 1 + 8 + payloadBytes, 7);
  b.writeUInt32BE(1 + 8 + payloadBytes, 0);
  b[4] = kind;
  return b;
}

/** Wait for 'drain'; a socket that never drains fails the run instead of hanging it. */
async function drainOrDeadline(socket: Socket, deadlineWallMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      once(socket, 'drain'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the socket did not drain before the deadline')), Math.max(0, deadlineWallMs - wallClockMs()));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Bulk back to back (socket backpressure) and gps at a fixed rate, into one socket. */
async function singleSend(o: { host?: string; port: number; gpsRate: number; gpsBytes: number; bulkBytes: number; untilWallMs: number; tickMs?: number }) {
  const socket = createConnection({ host: o.host ?? HOST, port: o.port, noDelay: true });
  await once(socket, 'connect');
  closeAll.push(() => socket.destroy());
  const started = wallClockMs();
  let gpsSent = 0;
  let bulkSent = 0;
  const gps = async (): Promise<void> => {
    while (wallClockMs() < o.untilWallMs) {
      const now = wallClockMs();
      const due = Math.floor(((now - started) * o.gpsRate) / 1000) - gpsSent;
      for (let i = 0; i < due; i++) {
        const f = singleFrame(GPS, Math.max(0, o.gpsBytes - 13));
        f.writeDoubleLE(wallClockMs(), 5);
        socket.write(f);
        gpsSent++;
      }
      await new Promise((r) => setTimeout(r, o.tickMs ?? 5));
    }
  };
  const bulk = async (): Promise<void> => {
    if (o.bulkBytes <= 0) return;
    while (wallClockMs() < o.untilWallMs) {
      const f = singleFrame(BULK, o.bulkBytes);
      f.writeDoubleLE(wallClockMs(), 5);
      bulkSent++;
      if (!socket.write(f)) await drainOrDeadline(socket, o.untilWallMs + 10_000);
    }
  };
  await Promise.all([gps(), bulk()]);
  return { gpsSent, bulkSent };
}

serve({
  measure(fromWallMs: number, toWallMs: number) {
    from = fromWallMs;
    to = toWallMs;
    scheduleWindow(measured, fromWallMs, toWallMs, wallClockMs());
  },
  p2pReceive: (o: P2pOptions) => p2pReceive(o),
  p2pSend: (o: P2pOptions & { port: number; untilWallMs: number }) => p2pSend(o),
  p2pResult: () => ({ ...rx, histogram: encodeHistogram(rx.histogram), latency: summarize(rx.histogram) }),
  p2pCount: () => rx.total,
  singleReceive: () => singleReceive(),
  singleSend: (o: Parameters<typeof singleSend>[0]) => singleSend(o),
  singleResult: () => ({
    gpsTotal: single.gpsTotal,
    gpsCounted: single.gpsCounted,
    bulkTotal: single.bulkTotal,
    bulkBytes: single.bulkBytes,
    gpsLatency: summarize(single.gps),
  }),
  singleCount: () => single.gpsTotal,
  async close() {
    const all = closeAll;
    closeAll = [];
    for (const c of all) await c();
    return true;
  },
});
