/**
 * The decode worker's thread: whole frames in (split and header-checked on the main thread),
 * decoded messages out. Binary payloads come back as views of the frame buffers, which are
 * moved, not copied, in both directions. Stateless: every frame is self-contained, so a
 * restarted worker loses only the batches it was holding.
 */
import { parentPort } from 'node:worker_threads';
import { isPartisanError } from '../util/errors.js';
import { wholeTransferable } from '../util/worker.js';
import { FrameType, decodeRawFrame, type Envelope } from '../wire/index.js';
import { PAYLOAD_SEARCH_DEPTH, type DecodeReply, type DecodeRequest } from './off-thread-decoder.js';

function collectBuffers(value: unknown, depth: number, out: Set<ArrayBuffer>): void {
  if (value === null || typeof value !== 'object' || depth > PAYLOAD_SEARCH_DEPTH) return;
  if (ArrayBuffer.isView(value)) {
    if (value instanceof Uint8Array && value.buffer instanceof ArrayBuffer) out.add(value.buffer);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectBuffers(v, depth + 1, out);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectBuffers(v, depth + 1, out);
    return;
  }
  for (const k in value) collectBuffers((value as Record<string, unknown>)[k], depth + 1, out);
}

function decode(request: DecodeRequest): { reply: DecodeReply; transfer: ArrayBuffer[] } {
  const envelopes: Envelope[] = [];
  const acks: number[] = [];
  try {
    for (const frame of request.frames) {
      const f = decodeRawFrame(frame);
      if (f.type === FrameType.Message) for (const e of f.messages) envelopes.push(e);
      else if (f.type === FrameType.Ack) for (const id of f.ids) acks.push(id);
      // Control frames on a message lane are credits (taken out on the main thread); others are ignored there too.
    }
  } catch (err) {
    const code = isPartisanError(err) ? err.code : 'ERR_WIRE_MALFORMED_FRAME';
    return { reply: { seq: request.seq, envelopes: [], binaries: false, acks: [], error: { code, message: (err as Error).message } }, transfer: [] };
  }
  // Only buffers that are wholly frame bytes we were given may move back; anything else is cloned.
  const mine = new Set<ArrayBuffer>();
  for (const frame of request.frames) {
    const whole = wholeTransferable(frame);
    if (whole) mine.add(whole);
  }
  const found = new Set<ArrayBuffer>();
  for (const e of envelopes) collectBuffers(e[1], 0, found);
  const transfer = [...found].filter((b) => mine.has(b));
  return { reply: { seq: request.seq, envelopes, binaries: found.size > 0, acks }, transfer };
}

parentPort!.on('message', (request: DecodeRequest) => {
  const { reply, transfer } = decode(request);
  parentPort!.postMessage(reply, transfer);
});
