/**
 * The bytes the tcp transport adds around user data. Every socket starts with a preamble from
 * the dialer; after it, stream sockets carry only user bytes, and the connection's primary
 * socket carries fixed-size control messages in both directions.
 *
 * Preamble (26 bytes, dialer → listener, first bytes of every socket):
 *   0..3   magic "PTCP"
 *   4      version (1)
 *   5      kind: 1 = primary socket (the connection), 2 = stream socket
 *   6..21  session id: 16 random bytes naming the connection (stream sockets join it by id)
 *   22..25 stream id, u32 big-endian (0 on the primary)
 *
 * Control message (11 bytes, on the primary only):
 *   0      type (ControlType)
 *   1..4   stream id, u32 big-endian
 *   5..10  value, u48 big-endian (a byte count for END, else 0)
 *
 * Why a control channel: a killed process's kernel closes its sockets with a FIN, which looks
 * exactly like a clean end. So a stream's clean end is END(id, bytes) on the primary, never a
 * bare FIN, and a stream socket that goes quiet is judged by what the primary says (or by the
 * primary's own death).
 */

export const PREAMBLE_BYTES = 26;
export const CONTROL_BYTES = 11;
export const SESSION_ID_BYTES = 16;
const MAGIC = 0x50544350; // "PTCP"
const VERSION = 1;

export const SocketKind = { primary: 1, stream: 2 } as const;
export type SocketKind = (typeof SocketKind)[keyof typeof SocketKind];

export interface Preamble {
  kind: SocketKind;
  sessionId: Buffer;
  streamId: number;
}

export function encodePreamble(p: Preamble): Buffer {
  const b = Buffer.allocUnsafe(PREAMBLE_BYTES);
  b.writeUInt32BE(MAGIC, 0);
  b[4] = VERSION;
  b[5] = p.kind;
  p.sessionId.copy(b, 6, 0, SESSION_ID_BYTES);
  b.writeUInt32BE(p.streamId, 22);
  return b;
}

/** Whether `b` (at least 4 bytes) starts like a preamble; lets a listener drop garbage early. */
export function hasMagic(b: Buffer): boolean {
  return b.readUInt32BE(0) === MAGIC;
}

/** The preamble in `b` (exactly PREAMBLE_BYTES long), or a string saying what is wrong with it. */
export function decodePreamble(b: Buffer): Preamble | string {
  if (b.readUInt32BE(0) !== MAGIC) return 'bad magic';
  if (b[4] !== VERSION) return `unsupported version ${b[4]}`;
  const kind = b[5];
  if (kind !== SocketKind.primary && kind !== SocketKind.stream) return `unknown socket kind ${kind}`;
  return { kind, sessionId: Buffer.from(b.subarray(6, 22)), streamId: b.readUInt32BE(22) };
}

export const ControlType = {
  /** Listener → dialer, first message: the connection is registered; dial() may resolve. */
  accept: 1,
  /** The sender ended its side of stream `id` after `value` bytes. */
  end: 2,
  /** The sender dropped stream `id` in both directions. */
  reset: 3,
  /** Acceptor → dialer: please dial a stream socket with (odd) id `id`; the acceptor opened it. */
  open: 4,
  /** The sender is closing the connection gracefully; every stream is reset. */
  close: 5,
} as const;
export type ControlType = (typeof ControlType)[keyof typeof ControlType];
const MAX_CONTROL_TYPE = 5;

export function encodeControl(type: ControlType, streamId = 0, value = 0): Buffer {
  const b = Buffer.allocUnsafe(CONTROL_BYTES);
  b[0] = type;
  b.writeUInt32BE(streamId, 1);
  b.writeUIntBE(value, 5, 6);
  return b;
}

/**
 * Splits the primary socket's byte stream into control messages. Returns false on an unknown
 * type (the peer speaks another protocol: the connection must die).
 */
export class ControlReader {
  private partial: Buffer | undefined;

  constructor(private readonly onMessage: (type: ControlType, streamId: number, value: number) => void) {}

  push(chunk: Buffer): boolean {
    let data = chunk;
    if (this.partial) {
      data = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    let at = 0;
    while (data.length - at >= CONTROL_BYTES) {
      const type = data[at]!;
      if (type < 1 || type > MAX_CONTROL_TYPE) return false;
      this.onMessage(type as ControlType, data.readUInt32BE(at + 1), data.readUIntBE(at + 5, 6));
      at += CONTROL_BYTES;
    }
    if (at < data.length) this.partial = Buffer.from(data.subarray(at));
    return true;
  }
}
