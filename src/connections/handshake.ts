import type { Clock } from '../util/clock.js';
import { HandshakeError, isPartisanError, PartisanError, type ErrorCode } from '../util/errors.js';
import {
  FrameType,
  PROTOCOL_VERSION,
  encodeFrame,
  splitFirstFrame,
  type Frame,
  type HandshakeBody,
  type HelloBody,
  type WelcomeBody,
} from '../wire/index.js';
import type { TransportConnection, TransportStream } from '../transport/transport.js';

/**
 * The connection handshake, on the first stream of every connection:
 *
 *   dialer   → hello   {version, clusterId, node, spec, expect, incarnation, cert?, state?}
 *   acceptor → welcome {version, clusterId, node, spec, incarnation, cert?, state?}
 *              or refuse {code, reason} and close
 *
 * Partisan sends hello from the server first and checks `unexpected_peer` on the client; we
 * let the dialer speak first (a QUIC stream is invisible until written to) and check both
 * ways: the acceptor that it is the node the dialer `expect`s, the dialer that the welcome
 * names the node it dialed. Every further stream starts with `stream {channel, slot}`.
 */

/** What we learned about the peer from its hello/welcome and from the transport. */
export interface PeerIdentity {
  node: string;
  spec: unknown;
  incarnation: number;
  /** Opaque peer-service state the peer sent along (Partisan's `LocalState`). */
  state: unknown;
  /** The DER node certificate the peer sent in our handshake, if any. */
  cert: Uint8Array | undefined;
  /** Public key the transport's TLS proved the peer holds, if the transport proves one. */
  remoteKey: Uint8Array | undefined;
  /** Certificate the peer presented in the transport's TLS, if any. */
  remoteCertificate: Uint8Array | undefined;
  /** The peer's channels and their parallelism, as it announced them. */
  channels: Record<string, number>;
}

/**
 * Checks a peer's credentials. The default accepts everyone; the cluster-CA authenticator
 * (src/security) checks that the node certificate chains to the CA and names both the node
 * and the key the transport proved. Throws an AuthError to refuse.
 */
export interface Authenticator {
  /** Our node certificate (DER) to send, if any. */
  certificate(): Uint8Array | undefined;
  verify(peer: PeerIdentity): void;
}

export const openAuthenticator: Authenticator = {
  certificate: () => undefined,
  verify: () => {},
};

export interface HandshakeContext {
  clusterId: string;
  node: string;
  spec: unknown;
  incarnation: number;
  maxFrameSize: number;
  maxHandshakeTime: number;
  clock: Clock;
  authenticator: Authenticator;
  /** Peer-service state to send with hello/welcome. */
  localState?: () => unknown;
  /** Our channels and their parallelism. */
  channels: Record<string, number>;
}

export interface HandshakeResult {
  peer: PeerIdentity;
  /** The handshake stream; it goes on as the default channel's slot 0. */
  stream: TransportStream;
  /** Bytes that arrived after the handshake frame on that stream. */
  rest: Uint8Array;
}

/**
 * Read exactly one frame off the front of `stream`, within `timeoutMs`. Resolves with the
 * frame and whatever bytes followed it. A clean end before a full frame, or the timeout,
 * rejects with a coded HandshakeError.
 */
export async function readFirstFrame(
  stream: TransportStream,
  maxFrameSize: number,
  timeoutMs: number,
  clock: Clock,
): Promise<{ frame: Frame; rest: Uint8Array }> {
  let timedOut = false;
  const timer = clock.setTimeout(() => {
    timedOut = true;
    stream.abort(new HandshakeError('ERR_HANDSHAKE_TIMEOUT', `no handshake frame within ${timeoutMs} ms`));
  }, timeoutMs);
  let buffered: Uint8Array = new Uint8Array(0);
  try {
    for (;;) {
      const split = splitFirstFrame(buffered, maxFrameSize);
      if (split) return split;
      let chunk: Uint8Array | null;
      try {
        chunk = await stream.read();
      } catch (err) {
        if (timedOut) throw new HandshakeError('ERR_HANDSHAKE_TIMEOUT', `no handshake frame within ${timeoutMs} ms`);
        throw err;
      }
      if (chunk === null) throw new HandshakeError('ERR_HANDSHAKE_REFUSED', 'stream ended before the handshake completed');
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    }
  } finally {
    timer.cancel();
  }
}

function handshakeOf(frame: Frame): HandshakeBody {
  if (frame.type !== FrameType.Handshake) {
    throw new HandshakeError('ERR_WIRE_UNEXPECTED_FRAME', `expected a handshake frame, got type ${frame.type}`);
  }
  return frame.body;
}

async function writeHandshake(stream: TransportStream, body: HandshakeBody, maxFrameSize: number): Promise<void> {
  await stream.write(encodeFrame({ type: FrameType.Handshake, body }, maxFrameSize));
}

/** Tell the peer why we refuse, then drop the stream. Best effort: the peer may be gone. */
export async function refuse(stream: TransportStream, code: ErrorCode, reason: string, maxFrameSize: number): Promise<void> {
  try {
    await writeHandshake(stream, { t: 'refuse', code, reason }, maxFrameSize);
    await stream.end();
  } catch {
    stream.abort();
  }
}

function identity(body: HelloBody | WelcomeBody, connection: TransportConnection): PeerIdentity {
  return {
    node: body.node,
    spec: body.spec,
    incarnation: body.incarnation,
    state: body.state,
    cert: body.cert,
    remoteKey: connection.remoteKey,
    remoteCertificate: connection.remoteCertificate,
    channels: sanitizeChannels(body.channels),
  };
}

/** Keep only well-formed `name → parallelism` entries of a peer's announcement. */
function sanitizeChannels(raw: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof raw !== 'object' || raw === null) return out;
  for (const [name, p] of Object.entries(raw)) {
    if (typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 64) out[name] = p;
  }
  return out;
}

function checkVersionAndCluster(body: { version: number; clusterId: string; node: string }, ctx: HandshakeContext): void {
  if (body.version !== PROTOCOL_VERSION) {
    throw new HandshakeError('ERR_WIRE_PROTOCOL_VERSION', `peer ${body.node} speaks protocol ${body.version}, this node ${PROTOCOL_VERSION}`);
  }
  if (body.clusterId !== ctx.clusterId) {
    throw new HandshakeError('ERR_HANDSHAKE_CLUSTER_MISMATCH', `peer ${body.node} belongs to cluster ${JSON.stringify(body.clusterId)}, not ${JSON.stringify(ctx.clusterId)}`);
  }
}

/** What this node says about itself in hello and welcome alike. */
function ownIdentity(ctx: HandshakeContext): Omit<WelcomeBody, 't'> {
  const cert = ctx.authenticator.certificate();
  return {
    version: PROTOCOL_VERSION,
    clusterId: ctx.clusterId,
    node: ctx.node,
    spec: ctx.spec,
    incarnation: ctx.incarnation,
    channels: ctx.channels,
    ...(cert ? { cert } : {}),
    ...(ctx.localState ? { state: ctx.localState() } : {}),
  };
}

/** Dialer side: open the first stream, say hello, wait for welcome. */
export async function dialHandshake(connection: TransportConnection, ctx: HandshakeContext, expect: string): Promise<HandshakeResult> {
  const stream = await connection.openStream();
  const hello: HelloBody = { t: 'hello', expect, ...ownIdentity(ctx) };
  await writeHandshake(stream, hello, ctx.maxFrameSize);
  const { frame, rest } = await readFirstFrame(stream, ctx.maxFrameSize, ctx.maxHandshakeTime, ctx.clock);
  const body = handshakeOf(frame);
  if (body.t === 'refuse') {
    stream.abort();
    const code = (body.code in REFUSAL_CODES ? body.code : 'ERR_HANDSHAKE_REFUSED') as ErrorCode;
    throw new HandshakeError(code, `${expect} refused the connection: ${body.reason}`, { details: { peerCode: body.code } });
  }
  if (body.t !== 'welcome') {
    stream.abort();
    throw new HandshakeError('ERR_WIRE_UNEXPECTED_FRAME', `expected welcome, got ${body.t}`);
  }
  try {
    checkVersionAndCluster(body, ctx);
    if (body.node !== expect) {
      throw new HandshakeError('ERR_HANDSHAKE_UNEXPECTED_PEER', `dialed ${expect} but reached ${body.node}`);
    }
    const peer = identity(body, connection);
    ctx.authenticator.verify(peer);
    return { peer, stream, rest };
  } catch (err) {
    stream.abort();
    throw err;
  }
}

/**
 * Acceptor side: read hello from the first stream the peer opened, check it, let `admit`
 * veto (duplicates, partitions), answer welcome or refuse.
 */
export async function acceptHandshake(
  connection: TransportConnection,
  stream: TransportStream,
  ctx: HandshakeContext,
  admit: (peer: PeerIdentity) => void,
): Promise<HandshakeResult> {
  const { frame, rest } = await readFirstFrame(stream, ctx.maxFrameSize, ctx.maxHandshakeTime, ctx.clock);
  const body = handshakeOf(frame);
  if (body.t !== 'hello') {
    await refuse(stream, 'ERR_WIRE_UNEXPECTED_FRAME', `expected hello, got ${body.t}`, ctx.maxFrameSize);
    throw new HandshakeError('ERR_WIRE_UNEXPECTED_FRAME', `expected hello, got ${body.t}`);
  }
  const peer = identity(body, connection);
  try {
    checkVersionAndCluster(body, ctx);
    if (body.expect !== ctx.node) {
      throw new HandshakeError('ERR_HANDSHAKE_UNEXPECTED_PEER', `${body.node} expected ${body.expect} but reached ${ctx.node}`);
    }
    ctx.authenticator.verify(peer);
    admit(peer);
  } catch (err) {
    const code: ErrorCode = isPartisanError(err) ? err.code : 'ERR_HANDSHAKE_REFUSED';
    await refuse(stream, code, (err as Error).message, ctx.maxFrameSize);
    throw err instanceof PartisanError ? err : new HandshakeError('ERR_HANDSHAKE_REFUSED', (err as Error).message, { cause: err });
  }
  const welcome: WelcomeBody = { t: 'welcome', ...ownIdentity(ctx) };
  await writeHandshake(stream, welcome, ctx.maxFrameSize);
  return { peer, stream, rest };
}

/** Codes a peer's refusal may carry through to our caller as-is. */
const REFUSAL_CODES: Partial<Record<string, true>> = {
  ERR_HANDSHAKE_REFUSED: true,
  ERR_HANDSHAKE_UNEXPECTED_PEER: true,
  ERR_HANDSHAKE_CLUSTER_MISMATCH: true,
  ERR_HANDSHAKE_DUPLICATE: true,
  ERR_WIRE_PROTOCOL_VERSION: true,
  ERR_WIRE_UNEXPECTED_FRAME: true,
  ERR_PARTITIONED: true,
  ERR_AUTH_NO_CERTIFICATE: true,
  ERR_AUTH_UNTRUSTED_CERTIFICATE: true,
  ERR_AUTH_NODE_MISMATCH: true,
  ERR_AUTH_KEY_MISMATCH: true,
  ERR_AUTH_CERTIFICATE_EXPIRED: true,
  ERR_NODE_STOPPED: true,
};

/** Dialer side of every further stream: announce which lane it carries. */
export async function openLaneStream(connection: TransportConnection, channel: string, slot: number, maxFrameSize: number): Promise<TransportStream> {
  const stream = await connection.openStream();
  await writeHandshake(stream, { t: 'stream', version: PROTOCOL_VERSION, channel, slot }, maxFrameSize);
  return stream;
}
