/**
 * The frames partisan-ts puts on a stream. Every frame is
 *
 *     u32 big-endian body length | u8 frame type | body (msgpackr)
 *
 * and every body is self-contained: msgpackr record structures are defined inline, once per
 * frame, and never carried from one frame to the next. That costs ~20 bytes per frame (a frame
 * usually batches hundreds of messages) and buys frames any decoder can read on its own —
 * a restarted channel worker continues a stream mid-way, and a frame rejected before sending
 * leaves no codec state behind. See docs/architecture.md, "Wire".
 */

/** Bumped on any incompatible change of frame layout or handshake fields. */
export const PROTOCOL_VERSION = 1;

/** Bytes before the body: length (4) + type (1). */
export const FRAME_HEADER_BYTES = 5;

export const FrameType = {
  /** Connection hello/welcome/refuse and stream open, always the first frames of a stream. */
  Handshake: 0x01,
  /** A batch of application messages. */
  Message: 0x02,
  /** Acknowledgements of `ack: true` messages, by message id. */
  Ack: 0x03,
  /** Connection-level control (ping, pong, credit, close) and service messages. */
  Control: 0x04,
} as const;

export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

export function isFrameType(code: number): code is FrameTypeCode {
  return code >= FrameType.Handshake && code <= FrameType.Control;
}

/** Where a message goes on the receiving node: a process id (number) or a registered name. */
export type WireTarget = number | string;

/**
 * Optional per-message fields. Kept in one small object so the common case (no meta) is a
 * two-element array on the wire.
 */
export interface EnvelopeMeta {
  /** Sender-assigned id of an acknowledged message (unique per sender node incarnation). */
  id?: number;
  /** Sender's incarnation (start time), so a receiver can tell a restarted sender's ids apart. */
  inc?: number;
  /** With `id`: the sender's lowest unsettled id to this receiver; lower ids were acked or given up, so the receiver's de-duplication window can move past them. */
  lo?: number;
  /** Causal delivery label and stamp, interpreted by the delivery layer. */
  causal?: unknown;
  /** Partition key the sender used (only sent when the receiver needs it, e.g. monotonic). */
  key?: string | number;
  /** Reply-to / sender process, when the message carries one. */
  from?: string;
  /** The payload is msgpack deflated (raw deflate) bytes: a compressed channel's large message. */
  z?: 1;
}

/** One application message inside a Message frame. */
export type Envelope = readonly [target: WireTarget, payload: unknown] | readonly [target: WireTarget, payload: unknown, meta: EnvelopeMeta];

/** Handshake bodies. `t` tells them apart. */
export type HandshakeBody = HelloBody | WelcomeBody | RefuseBody | StreamOpenBody;

/** Dialer → acceptor, first frame on the first stream of a connection. */
export interface HelloBody {
  t: 'hello';
  version: number;
  clusterId: string;
  /** Name of the dialing node. */
  node: string;
  /** The dialing node's spec, so the acceptor can reach it back. */
  spec: unknown;
  /** Node name the dialer expects to reach (Partisan's unexpected_peer check). */
  expect: string;
  /** The dialer's incarnation (start time, ms since epoch). */
  incarnation: number;
  /** DER node certificate, when the cluster uses a CA. */
  cert?: Uint8Array;
  /** Opaque membership state for the peer service (Partisan sends its local state here). */
  state?: unknown;
  /** The dialer's channels and their parallelism; lanes open for channels both sides have. */
  channels?: Record<string, number>;
}

/** Acceptor → dialer: the handshake is accepted. */
export interface WelcomeBody {
  t: 'welcome';
  version: number;
  clusterId: string;
  node: string;
  spec: unknown;
  incarnation: number;
  cert?: Uint8Array;
  state?: unknown;
  channels?: Record<string, number>;
}

/** Either side: the handshake failed; the stream closes right after. */
export interface RefuseBody {
  t: 'refuse';
  code: string;
  reason: string;
}

/** Dialer → acceptor, first frame of every further stream: which lane this stream carries. */
export interface StreamOpenBody {
  t: 'stream';
  version: number;
  channel: string;
  slot: number;
}

/** Control bodies: `t` names the control type; the rest is its fields. */
export interface ControlBody {
  t: string;
  [field: string]: unknown;
}

export type Frame =
  | { type: typeof FrameType.Handshake; body: HandshakeBody }
  | { type: typeof FrameType.Message; messages: Envelope[] }
  | { type: typeof FrameType.Ack; ids: number[] }
  | { type: typeof FrameType.Control; body: ControlBody };
