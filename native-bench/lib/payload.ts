/**
 * The benchmark's messages. A GPS-like record (vehicle id, time, position, motion) whose
 * msgpack encoding inside a batched Message frame is ~100 bytes, and for larger sizes a record
 * with a binary body padded to the asked size. `ts` is the send time (wallClockMs) the
 * receiver turns into a one-way latency.
 */
import { DEFAULT_WIRE_LIMITS, FrameWriter, type Envelope } from '../../src/wire/index.js';

export interface GpsRecord {
  vehicle: string;
  /** Send time, wallClockMs(). */
  ts: number;
  lat: number;
  lon: number;
  speed: number;
  heading: number;
  alt: number;
  odometer: number;
  trip: string;
  fix: number;
  sats: number;
  /** Which generator sent it (fleet: the gateway), for per-source accounting. */
  src: number;
  seq: number;
  /** Padding for sizes above a plain record (absent at 100 B). */
  body?: Uint8Array;
}

export function vehicleId(i: number): string {
  return `veh-${String(i).padStart(6, '0')}`;
}

/** One record; `body` (shared, never mutated) pads it to a larger size. */
export function gpsRecord(vehicle: number, seq: number, ts: number, src = 0, body?: Uint8Array): GpsRecord {
  const r: GpsRecord = {
    vehicle: vehicleId(vehicle),
    ts,
    lat: 48.1 + (vehicle % 1000) * 1e-4 + (seq % 97) * 1e-6,
    lon: 11.5 + (vehicle % 997) * 1e-4 - (seq % 89) * 1e-6,
    speed: 13.4 + (seq % 7),
    heading: (seq * 7) % 360,
    alt: 512.25,
    odometer: 120_000 + seq * 0.013,
    trip: `trip-2026-11-25-${String(vehicle % 100_000).padStart(5, '0')}`,
    fix: 3,
    sats: 9 + (seq & 3),
    src,
    seq,
  };
  if (body) r.body = body;
  return r;
}

/** Encoded bytes per message when `count` envelopes of `make(i)` share one Message frame. */
export function wireBytesPerMessage(make: (i: number) => unknown, count = 512): number {
  const writer = new FrameWriter(64 * 1024 * 1024, 1024);
  const batch: Envelope[] = [];
  for (let i = 0; i < count; i++) batch.push([1, make(i)]);
  return writer.addMessages(batch) / count;
}

/**
 * A padding body so a record encodes to about `messageBytes` on the wire (undefined for the
 * plain ~100 B record).
 */
export function paddingFor(messageBytes: number): Uint8Array | undefined {
  const plain = wireBytesPerMessage((i) => gpsRecord(i, i, 1.5e12 + i));
  if (messageBytes <= plain + 8) return undefined;
  let pad = messageBytes - plain;
  // A bin header is 2–5 bytes: settle in two steps.
  for (let i = 0; i < 2; i++) {
    const body = new Uint8Array(Math.max(0, pad));
    const got = wireBytesPerMessage((j) => gpsRecord(j, j, 1.5e12 + j, 0, body), 16);
    pad += messageBytes - got;
  }
  return new Uint8Array(Math.max(0, Math.round(pad)));
}

export const DEFAULT_MAX_FRAME = DEFAULT_WIRE_LIMITS.maxFrameSize;
