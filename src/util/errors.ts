/**
 * Every error partisan-ts raises on purpose is a `PartisanError` with a stable `code`
 * (`ERR_<AREA>_<WHAT>`), in the style of undici's `UND_ERR_*`. Codes are listed and explained
 * in docs/errors.md; a test keeps that file and this table in step.
 */

/** All codes, with the one-line meaning docs/errors.md expands on. */
export const ErrorCodes = {
  ERR_INVALID_OPTION: 'An option has a bad value; the message names the field and the value.',
  ERR_INVALID_REF: 'A remote reference (pid/ref/name URI) is malformed.',
  ERR_UNKNOWN_CHANNEL: 'A channel name is not configured on this node.',
  ERR_UNKNOWN_NODE: 'The node is not a member and has no known spec.',
  ERR_NOT_CONNECTED: 'There is no connection to the node (Erlang: noconnection).',
  ERR_PARTITIONED: 'Traffic to the node is dropped by an injected partition.',
  ERR_NODE_STOPPED: 'The node (or the component) has been stopped.',
  ERR_NOT_IMPLEMENTED: 'The operation is not available with this peer service or configuration.',

  ERR_WIRE_FRAME_TOO_LARGE: 'A frame is larger than maxFrameSize (outgoing: nothing was sent).',
  ERR_WIRE_MALFORMED_FRAME: 'An incoming frame could not be decoded.',
  ERR_WIRE_UNKNOWN_FRAME_TYPE: 'An incoming frame has a type byte this version does not know.',
  ERR_WIRE_PROTOCOL_VERSION: 'The peer speaks a protocol version this node does not support.',
  ERR_WIRE_UNEXPECTED_FRAME: 'A frame arrived that is not allowed in the stream state (e.g. data before handshake).',

  ERR_TRANSPORT_DIAL_FAILED: 'Dialing a peer failed (refused, unreachable, TLS failure).',
  ERR_TRANSPORT_DIAL_TIMEOUT: 'Dialing a peer did not complete in time.',
  ERR_TRANSPORT_LISTEN_FAILED: 'Listening on an address failed (address in use, bad address).',
  ERR_TRANSPORT_CLOSED: 'The connection, stream or transport is closed.',
  ERR_TRANSPORT_STREAM_RESET: 'The peer reset the stream or the connection was lost.',
  ERR_TRANSPORT_UNAVAILABLE: 'The transport cannot run on this machine (native part missing).',

  ERR_HANDSHAKE_TIMEOUT: 'The peer did not complete our handshake within maxHandshakeTime.',
  ERR_HANDSHAKE_REFUSED: 'The peer refused our handshake; the message says why.',
  ERR_HANDSHAKE_UNEXPECTED_PEER: 'The peer answered with another node name than the one dialed.',
  ERR_HANDSHAKE_CLUSTER_MISMATCH: 'The peer belongs to another cluster id.',
  ERR_HANDSHAKE_DUPLICATE: 'A connection to that node already exists; the newer one was closed.',

  ERR_AUTH_NO_CERTIFICATE: 'The peer sent no node certificate while a cluster CA is configured.',
  ERR_AUTH_UNTRUSTED_CERTIFICATE: 'The node certificate does not chain to the cluster CA.',
  ERR_AUTH_NODE_MISMATCH: 'The node certificate names another node than the peer claims.',
  ERR_AUTH_KEY_MISMATCH: 'The node certificate names another key than the one the peer proved.',
  ERR_AUTH_CERTIFICATE_EXPIRED: 'The node certificate is expired or not yet valid.',

  ERR_CONNECTION_TABLE_FULL: 'Every peer slot of the connection table is in use.',
  ERR_QUEUE_FULL: 'An outbound queue is full and its overflow policy is `error`.',
  ERR_DELIVERY_TIMEOUT: 'An acknowledged message was not acknowledged in time.',
  ERR_RPC_TIMEOUT: 'An RPC call did not get a reply in time.',
  ERR_RPC_REMOTE_EXCEPTION: 'The remote function threw; message and stack are attached.',
  ERR_RPC_UNKNOWN_FUNCTION: 'The remote node has no function registered under that name.',
  ERR_NOPROC: 'The process does not exist (Erlang: noproc).',
  ERR_RECEIVE_TIMEOUT: 'receive() found no matching message within its timeout.',
  ERR_NAME_TAKEN: 'A process is already registered under that name.',
  ERR_PROCESS_EXITED: 'The process exited; the message says with which reason.',
  ERR_WORKER_CRASHED: 'A channel worker thread died; the channel is being restarted.',
  ERR_BROADCAST_INVALID_MESSAGE: 'A message given to a broadcast handler is malformed (e.g. a position without vehicleId or ts).',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface PartisanErrorOptions {
  cause?: unknown;
  /** Structured facts about the failure (field name, node, sizes…), for logs and tests. */
  details?: Record<string, unknown>;
}

export class PartisanError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: PartisanErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** A bad option value. The message always names the field and the value. */
export class InvalidOptionError extends PartisanError {
  constructor(field: string, value: unknown, expectation: string) {
    super('ERR_INVALID_OPTION', `invalid option ${field}=${describe(value)}: ${expectation}`, {
      details: { field, value },
    });
  }
}

export class WireError extends PartisanError {}
export class TransportError extends PartisanError {}
export class HandshakeError extends PartisanError {}
export class AuthError extends PartisanError {}

export function isPartisanError(err: unknown, code?: ErrorCode): err is PartisanError {
  return err instanceof PartisanError && (code === undefined || err.code === code);
}

/** Short printable form of an arbitrary option value, for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined || value === null || typeof value !== 'object') return String(value);
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
