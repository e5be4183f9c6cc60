/**
 * Every `diagnostics_channel` partisan-ts publishes on, in one place (as undici does), with the
 * shape of its messages. Subscribe with `diagnostics_channel.subscribe(name, fn)`; publishing
 * costs nothing while nobody subscribes. Documented in docs/architecture.md ("Observability").
 */
import diagnosticsChannel from 'node:diagnostics_channel';

export const DiagnosticsChannelNames = {
  /** A connection to a peer completed its handshake (the peer is up). */
  connectionUp: 'partisan:connection:up',
  /** The connection to a peer is gone. */
  connectionDown: 'partisan:connection:down',
  /** A handshake was refused: by this node (`by: 'local'`) or by the peer (`by: 'peer'`). */
  handshakeRefused: 'partisan:handshake:refused',
  /** A bad frame closed a stream or connection (malformed, oversized, unexpected). */
  frameError: 'partisan:frame:error',
} as const;

export type DiagnosticsChannelName = (typeof DiagnosticsChannelNames)[keyof typeof DiagnosticsChannelNames];

export interface ConnectionUpMessage {
  /** This node. */
  node: string;
  peer: string;
  /** The peer's incarnation (its start time, ms). */
  incarnation: number;
  /** The peer's channels and their parallelism, as it announced them. */
  channels: Record<string, number>;
}

export interface ConnectionDownMessage {
  node: string;
  peer: string;
  /** Why, when the connection died rather than closed cleanly. */
  code: string | undefined;
  message: string | undefined;
}

export interface HandshakeRefusedMessage {
  node: string;
  /** The peer's (claimed) name, when known. */
  peer: string | undefined;
  /** ERR_AUTH_*, ERR_HANDSHAKE_*, ERR_WIRE_PROTOCOL_VERSION… */
  code: string;
  message: string;
  /** 'local': this node refused the peer; 'peer': the peer refused this node. */
  by: 'local' | 'peer';
}

export interface FrameErrorMessage {
  node: string;
  peer: string | undefined;
  /** ERR_WIRE_*. */
  code: string;
  message: string;
}

const connectionUp = diagnosticsChannel.channel(DiagnosticsChannelNames.connectionUp);
const connectionDown = diagnosticsChannel.channel(DiagnosticsChannelNames.connectionDown);
const handshakeRefused = diagnosticsChannel.channel(DiagnosticsChannelNames.handshakeRefused);
const frameError = diagnosticsChannel.channel(DiagnosticsChannelNames.frameError);

export function publishConnectionUp(message: ConnectionUpMessage): void {
  if (connectionUp.hasSubscribers) connectionUp.publish(message);
}

export function publishConnectionDown(message: ConnectionDownMessage): void {
  if (connectionDown.hasSubscribers) connectionDown.publish(message);
}

export function publishHandshakeRefused(message: HandshakeRefusedMessage): void {
  if (handshakeRefused.hasSubscribers) handshakeRefused.publish(message);
}

export function publishFrameError(message: FrameErrorMessage): void {
  if (frameError.hasSubscribers) frameError.publish(message);
}

/**
 * Which diagnostics event a coded problem of the connection layer is, if any: handshake and
 * authentication failures are refusals, wire errors are frame errors.
 */
export function classifyProblem(code: string): 'handshakeRefused' | 'frameError' | undefined {
  if (code.startsWith('ERR_AUTH_') || code === 'ERR_WIRE_PROTOCOL_VERSION') return 'handshakeRefused';
  if (code.startsWith('ERR_HANDSHAKE_')) return code === 'ERR_HANDSHAKE_DUPLICATE' ? undefined : 'handshakeRefused';
  if (code.startsWith('ERR_WIRE_')) return 'frameError';
  return undefined;
}
