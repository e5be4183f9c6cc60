/**
 * A NATS client process for the nats scenario: the same GPS records as the partisan-ts
 * scenarios, msgpack-encoded one per message (a NATS message is the unit an application
 * publishes), published as fast as the client's flush round trips allow, or consumed by a
 * subscription callback that decodes each record and records its one-way latency.
 */
import type { Histogram } from 'hdr-histogram-js';
import { Packr } from 'msgpackr';
import { connect, type NatsConnection } from 'nats';
import { encodeHistogram, latencyHistogram, recordMs, summarize, wallClockMs } from '../lib/histogram.js';
import { gpsRecord, paddingFor, type GpsRecord } from '../lib/payload.js';
import { measured, serve } from '../lib/serve.js';
import { scheduleWindow } from '../lib/usage.js';

const packr = new Packr({ useRecords: false });
let nc: NatsConnection | undefined;
let from = Number.POSITIVE_INFINITY;
let to = Number.POSITIVE_INFINITY;
const rx = { total: 0, counted: 0, histogram: latencyHistogram() as Histogram };

function need(): NatsConnection {
  if (!nc) throw new Error('not connected');
  return nc;
}

serve({
  async connect(port: number) {
    nc = await connect({ servers: `127.0.0.1:${port}`, noEcho: true, maxReconnectAttempts: 0 });
    return true;
  },
  measure(fromWallMs: number, toWallMs: number) {
    from = fromWallMs;
    to = toWallMs;
    scheduleWindow(measured, fromWallMs, toWallMs, wallClockMs());
  },
  async subscribe(subject: string, sampleEvery = 8) {
    let k = 0;
    need().subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        const now = wallClockMs();
        const r = packr.unpack(msg.data) as GpsRecord;
        rx.total++;
        if (now >= from && now < to) {
          rx.counted++;
          if (++k >= sampleEvery) {
            k = 0;
            recordMs(rx.histogram, now - r.ts);
          }
        }
      },
    });
    // The subscription is registered with the server once this round trip completes.
    await need().flush();
    return true;
  },
  /** Publish until the deadline; a flush (server round trip) every 8192 messages bounds what is in flight. */
  async publish(subject: string, messageBytes: number, untilWallMs: number) {
    const c = need();
    const body = paddingFor(messageBytes);
    let sent = 0;
    let flushing: Promise<void> | undefined;
    let bytes = 0;
    while (wallClockMs() < untilWallMs) {
      for (let i = 0; i < 1024; i++) {
        const data = packr.pack(gpsRecord(sent, sent, wallClockMs(), 0, body));
        bytes += data.length;
        c.publish(subject, data);
        sent++;
      }
      if ((sent & 8191) === 0) {
        // One flush outstanding at a time: keep the pipe full but bounded.
        if (flushing) await flushing;
        flushing = c.flush();
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (flushing) await flushing;
    await c.flush();
    return { sent, bytesPerMessage: bytes / Math.max(1, sent) };
  },
  result: () => ({ total: rx.total, counted: rx.counted, latency: summarize(rx.histogram), histogram: encodeHistogram(rx.histogram) }),
  count: () => rx.total,
  async close() {
    await nc?.drain().catch(() => {});
    nc = undefined;
    return true;
  },
});
