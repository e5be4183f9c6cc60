import { isPartisanError } from '../util/errors.js';
import type { Envelope } from '../wire/frame.js';
import { estimateEncodedSize, FrameWriter } from '../wire/frame-codec.js';
import type { NodeName } from './handler.js';
import type { PlumtreeMessage } from './messages.js';

/** Envelope target of Plumtree messages: the stream already names the channel. */
export const PLUMTREE_TARGET = 0;

/** Frames are cut near this estimated size: big enough to amortise headers, small enough to interleave. */
const FRAME_TARGET_BYTES = 64 * 1024;

export interface OutboxCounters {
  framesOut: number;
  messagesOut: number;
  /** Messages that alone exceed maxFrameSize (never sent). */
  oversizedOutgoing: number;
}

/**
 * Plumtree messages waiting to go out, per peer. `drain` turns each peer's messages into
 * Message frames (envelopes `[0, msg]`, the wire format of every channel), so one flush
 * gives the main thread one buffer per peer, however many messages it carries.
 */
export class PeerOutbox {
  private readonly byPeer = new Map<NodeName, Envelope[]>();

  constructor(
    private readonly maxFrameSize: number,
    private readonly counters: OutboxCounters,
  ) {}

  get isEmpty(): boolean {
    return this.byPeer.size === 0;
  }

  add(peer: NodeName, msg: PlumtreeMessage<unknown, unknown>): void {
    const list = this.byPeer.get(peer);
    const envelope: Envelope = [PLUMTREE_TARGET, msg];
    if (list) list.push(envelope);
    else this.byPeer.set(peer, [envelope]);
  }

  /** Encoded frames per peer; the outbox is empty afterwards. */
  drain(): Array<[NodeName, Uint8Array]> {
    const out: Array<[NodeName, Uint8Array]> = [];
    const target = Math.min(FRAME_TARGET_BYTES, this.maxFrameSize);
    for (const [peer, envelopes] of this.byPeer) {
      const writer = new FrameWriter(this.maxFrameSize, FRAME_TARGET_BYTES);
      let start = 0;
      let size = 0;
      for (let i = 0; i < envelopes.length; i++) {
        const estimate = estimateEncodedSize(envelopes[i], this.maxFrameSize + 1);
        if (i > start && size + estimate > target) {
          this.write(writer, envelopes.slice(start, i));
          start = i;
          size = 0;
        }
        size += estimate;
      }
      this.write(writer, envelopes.slice(start));
      const bytes = writer.take();
      if (bytes) out.push([peer, bytes]);
    }
    this.byPeer.clear();
    return out;
  }

  private write(writer: FrameWriter, envelopes: Envelope[]): void {
    if (envelopes.length === 0) return;
    try {
      writer.addMessages(envelopes);
      this.counters.framesOut++;
      this.counters.messagesOut += envelopes.length;
    } catch (err) {
      if (!isPartisanError(err, 'ERR_WIRE_FRAME_TOO_LARGE')) throw err;
      // The estimate is an upper bound, so only a single huge message gets here; halve anyway.
      if (envelopes.length === 1) {
        this.counters.oversizedOutgoing++;
        return;
      }
      const half = envelopes.length >> 1;
      this.write(writer, envelopes.slice(0, half));
      this.write(writer, envelopes.slice(half));
    }
  }
}
