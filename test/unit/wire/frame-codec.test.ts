import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameType,
  FrameWriter,
  PROTOCOL_VERSION,
  encodeFrame,
  estimateEncodedSize,
  exactEncodedSize,
  newWireCounters,
  resolveWireLimits,
  type Envelope,
  type Frame,
} from '../../../src/wire/index.js';
import { isPartisanError } from '../../../src/util/errors.js';

const MAX = 1024 * 1024;

/** Values msgpackr round-trips exactly (no undefined inside arrays-as-holes, no -0 surprises). */
const payload = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 5, noNullPrototype: true }),
  ),
})).value;

const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  fc.tuple(fc.oneof(fc.nat(), fc.string({ minLength: 1 })), payload).map(([t, p]) => [t, p] as const),
  fc
    .tuple(fc.oneof(fc.nat(), fc.string({ minLength: 1 })), payload, fc.record({ id: fc.nat(), inc: fc.nat() }, { noNullPrototype: true }))
    .map(([t, p, m]) => [t, p, m] as const),
);

const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.array(envelope, { maxLength: 20 }).map((messages) => ({ type: FrameType.Message, messages })),
  fc.array(fc.nat(), { maxLength: 50 }).map((ids) => ({ type: FrameType.Ack, ids })),
  fc.record({ t: fc.constantFrom('ping', 'pong', 'credit'), n: fc.nat() }, { noNullPrototype: true }).map((body) => ({ type: FrameType.Control, body })),
  fc
    .record({ clusterId: fc.string(), node: fc.string(), expect: fc.string(), incarnation: fc.nat() })
    .map((f) => ({ type: FrameType.Handshake, body: { t: 'hello' as const, version: PROTOCOL_VERSION, spec: null, ...f } })),
  fc
    .record({ channel: fc.string(), slot: fc.nat(64) })
    .map((f) => ({ type: FrameType.Handshake, body: { t: 'stream' as const, version: PROTOCOL_VERSION, ...f } })),
);

/** Split `bytes` at arbitrary points, as a transport may. */
function cut(bytes: Buffer, points: number[]): Buffer[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of sorted) {
    parts.push(bytes.subarray(prev, p));
    prev = p;
  }
  parts.push(bytes.subarray(prev));
  return parts.filter((p) => p.length > 0);
}

describe('wire frame codec', () => {
  it('round-trips any valid frame sequence, however the bytes are cut', () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, points) => {
        const writer = new FrameWriter(MAX, 4096);
        for (const f of frames) writer.add(f);
        const bytes = writer.take()!;
        const decoder = new FrameDecoder(MAX);
        const out: Frame[] = [];
        for (const part of cut(bytes, points)) out.push(...decoder.push(part));
        assert.deepEqual(out, frames);
        assert.equal(decoder.midFrame, false);
      }),
      { numRuns: 300 },
    );
  });

  it('encodeFrame and FrameWriter produce the same bytes', () => {
    fc.assert(
      fc.property(frame, (f) => {
        const w = new FrameWriter(MAX, 1024);
        w.add(f);
        assert.deepEqual(w.take(), encodeFrame(f, MAX));
      }),
    );
  });

  it('never throws anything but a coded wire error on random bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), (chunks) => {
        const counters = newWireCounters();
        const decoder = new FrameDecoder(4096, counters);
        try {
          for (const c of chunks) decoder.push(c);
        } catch (err) {
          assert.ok(isPartisanError(err), `non-coded error: ${String(err)}`);
          assert.match((err as { code: string }).code, /^ERR_WIRE_/);
          assert.equal(counters.malformedFrames + counters.oversizedFrames, 1);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but a coded error on a valid header followed by random body bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3, 4), fc.uint8Array({ minLength: 1, maxLength: 300 }), (type, body) => {
        const header = Buffer.alloc(FRAME_HEADER_BYTES);
        header.writeUInt32BE(body.length, 0);
        header[4] = type;
        try {
          new FrameDecoder(4096).push(Buffer.concat([header, body]));
        } catch (err) {
          assert.ok(isPartisanError(err), `non-coded error: ${String(err)}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('rejects an oversized incoming frame from its header alone, and stays failed', () => {
    const counters = newWireCounters();
    const decoder = new FrameDecoder(1024, counters);
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUInt32BE(1025, 0);
    header[4] = FrameType.Message;
    assert.throws(() => decoder.push(header), (err: unknown) => isPartisanError(err, 'ERR_WIRE_FRAME_TOO_LARGE'));
    assert.equal(counters.oversizedFrames, 1);
    assert.throws(() => decoder.push(Buffer.from([1])), (err: unknown) => isPartisanError(err, 'ERR_WIRE_FRAME_TOO_LARGE'));
  });

  it('rejects an unknown frame type', () => {
    const header = Buffer.from([0, 0, 0, 1, 0x7f, 0xc0]);
    assert.throws(() => new FrameDecoder(1024).push(header), (err: unknown) => isPartisanError(err, 'ERR_WIRE_UNKNOWN_FRAME_TYPE'));
  });

  it('refuses an oversized outgoing frame before producing any bytes', () => {
    const counters = newWireCounters();
    const writer = new FrameWriter(2048, 4096, counters);
    writer.addMessages([[1, 'small']]);
    const before = writer.pendingBytes;
    assert.throws(
      () => writer.addMessages([[1, Buffer.alloc(4096)]]),
      (err: unknown) => isPartisanError(err, 'ERR_WIRE_FRAME_TOO_LARGE'),
    );
    assert.equal(writer.pendingBytes, before, 'nothing of the refused frame was added');
    assert.equal(counters.oversizedOutgoing, 1);
    assert.throws(() => encodeFrame({ type: FrameType.Ack, ids: new Array(1000).fill(123456789) }, 2048), (err: unknown) =>
      isPartisanError(err, 'ERR_WIRE_FRAME_TOO_LARGE'),
    );
  });

  it('batches frames into writes of about writeBatchBytes', () => {
    const writer = new FrameWriter(MAX, 64 * 1024);
    const record = { v: 'veh-1', lat: 52.1, lon: 4.3, ts: 1_732_500_000_000 };
    for (let i = 0; i < 100; i++) writer.addMessages(Array.from({ length: 100 }, () => [7, record] as const));
    const bytes = writer.take()!;
    const frames = new FrameDecoder(MAX).push(bytes);
    assert.equal(frames.length, 100);
    assert.equal(writer.take(), undefined);
  });

  it('estimates encoded sizes from above for common payloads', () => {
    fc.assert(
      fc.property(payload, (value) => {
        assert.ok(estimateEncodedSize(value) >= exactEncodedSize(value), 'estimate is an upper bound');
      }),
      { numRuns: 500 },
    );
    assert.ok(estimateEncodedSize(Buffer.alloc(10_000)) >= 10_000);
  });

  it('validates limits and names the bad field', () => {
    assert.equal(resolveWireLimits(undefined).maxFrameSize, 8 * 1024 * 1024);
    assert.throws(() => resolveWireLimits({ maxFrameSize: 10 }), /wire\.maxFrameSize=10/);
    assert.throws(() => resolveWireLimits({ maxFrameSize: 'big' as unknown as number }), (err: unknown) => isPartisanError(err, 'ERR_INVALID_OPTION'));
    assert.throws(() => resolveWireLimits({ maxFramesize: 1 } as never), /wire\.maxFramesize/);
  });
});
