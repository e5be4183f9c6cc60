/** The decode worker on its own: a bad frame is reported per lane with a coded error, and credit is always released. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { markAsUntransferable } from 'node:worker_threads';
import { OffThreadDecoder } from '../../../src/channels/off-thread-decoder.js';
import type { Lane } from '../../../src/connections/lane.js';
import type { WireError } from '../../../src/util/errors.js';
import { FRAME_HEADER_BYTES, FrameType, encodeFrame } from '../../../src/wire/index.js';

/** Only `consumedBytes` is used by the decoder; count what it releases. */
function fakeLane(): { lane: Lane; released: () => number } {
  let released = 0;
  const lane = { consumedBytes: (n: number) => void (released += n) } as unknown as Lane;
  return { lane, released: () => released };
}

it('decodes good batches and reports a malformed one as ERR_WIRE_MALFORMED_FRAME, releasing credit for both', async () => {
  const got: unknown[] = [];
  const bad: WireError[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const decoder = new OffThreadDecoder({
    messages: (_from, _lane, envelopes) => {
      got.push(...envelopes.map((e) => e[1]));
    },
    acks: () => {},
    malformed: (_from, _lane, error) => {
      bad.push(error);
      done();
    },
    lost: () => assert.fail('the worker must not die'),
  });
  try {
    const good = encodeFrame({ type: FrameType.Message, messages: [['sink', { n: 1 }], ['sink', { n: 2 }]] }, 1 << 20);
    // A Message frame whose body is not msgpack of an envelope list.
    const body = Buffer.from([0xc1, 0xc1, 0xc1]);
    const broken = Buffer.alloc(FRAME_HEADER_BYTES + body.length);
    broken.writeUInt32BE(body.length, 0);
    broken[4] = FrameType.Message;
    body.copy(broken, FRAME_HEADER_BYTES);
    // push() moves the frame buffers to the worker: take the sizes first.
    const goodBytes = good.length;
    const brokenBytes = broken.length;
    const goodLane = fakeLane();
    const badLane = fakeLane();
    decoder.push('peer@h', goodLane.lane, [good], goodBytes);
    decoder.push('peer@h', badLane.lane, [broken], brokenBytes);
    await finished;
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }]);
    assert.equal(bad.length, 1);
    assert.equal(bad[0]!.code, 'ERR_WIRE_MALFORMED_FRAME');
    assert.equal(goodLane.released(), goodBytes);
    assert.equal(badLane.released(), brokenBytes, 'a bad batch still returns its credit');
    assert.equal(brokenBytes, 8);
  } finally {
    await decoder.stop();
  }
});

it('decodes a frame whose buffer may not be moved (copied instead, never lost)', async () => {
  let got: unknown[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const decoder = new OffThreadDecoder({
    messages: (_from, _lane, envelopes) => {
      got = envelopes.map((e) => e[1]);
      done();
    },
    acks: () => {},
    malformed: (_from, _lane, error) => assert.fail(error.message),
    lost: () => assert.fail('the worker must not die'),
  });
  try {
    const frame = encodeFrame({ type: FrameType.Message, messages: [['sink', { kept: true }]] }, 1 << 20);
    const own = new Uint8Array(new ArrayBuffer(frame.length));
    own.set(frame);
    markAsUntransferable(own.buffer);
    const lane = fakeLane();
    decoder.push('peer@h', lane.lane, [own], own.length);
    await finished;
    assert.deepEqual(got, [{ kept: true }]);
    assert.equal(own.length, frame.length, 'the unmovable buffer stayed with its owner');
    assert.equal(lane.released(), frame.length);
  } finally {
    await decoder.stop();
  }
});
