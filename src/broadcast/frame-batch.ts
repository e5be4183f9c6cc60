import { FRAME_HEADER_BYTES } from '../wire/frame.js';

/**
 * Byte batches crossing between the main thread and a channel worker. Each direction moves
 * one freshly allocated buffer per postMessage, transferred (not copied again): the main
 * thread's frames are views into transport chunks it does not own, and FrameWriter output
 * may sit in Node's shared allocation pool, so neither can be transferred as is.
 */

/** Whole frames copied into one buffer the caller owns (transferable). */
export function concatFrames(frames: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const f of frames) total += f.length;
  const out = new Uint8Array(new ArrayBuffer(total));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

/**
 * Calls `fn` with each whole frame (header included) of `data`. Returns false when `data`
 * ends inside a frame — it never does for batches built by concatFrames.
 */
export function forEachFrame(data: Uint8Array, fn: (frame: Uint8Array) => void): boolean {
  let at = 0;
  while (at < data.length) {
    if (data.length - at < FRAME_HEADER_BYTES) return false;
    const length = ((data[at]! << 24) >>> 0) + (data[at + 1]! << 16) + (data[at + 2]! << 8) + data[at + 3]!;
    const end = at + FRAME_HEADER_BYTES + length;
    if (end > data.length) return false;
    fn(data.subarray(at, end));
    at = end;
  }
  return true;
}

/** Outgoing encoded frames for one peer on one channel. */
export interface PeerSend {
  peer: string;
  channel: string;
  bytes: Uint8Array;
}

/** `[peer, channel, offset, length]` into the shared buffer of a packed batch. */
export type PackedSend = [peer: string, channel: string, offset: number, length: number];

/** Packs every send of a flush into one transferable buffer. */
export function packSends(sends: readonly PeerSend[]): { data: Uint8Array; sends: PackedSend[] } {
  const data = concatFrames(sends.map((s) => s.bytes));
  const packed: PackedSend[] = [];
  let at = 0;
  for (const s of sends) {
    packed.push([s.peer, s.channel, at, s.bytes.length]);
    at += s.bytes.length;
  }
  return { data, sends: packed };
}

export function unpackSends(data: Uint8Array, sends: readonly PackedSend[]): PeerSend[] {
  return sends.map(([peer, channel, offset, length]) => ({ peer, channel, bytes: data.subarray(offset, offset + length) }));
}
