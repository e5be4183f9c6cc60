/**
 * The cluster-CA authenticator: the `Authenticator` our connection handshake calls on both
 * sides of every connection (src/connections/handshake.ts). A peer is admitted only when
 *
 *   1. it offered a node certificate — in its hello/welcome (`peer.cert`, QUIC) and/or in the
 *      transport's TLS (`peer.remoteCertificate`, node:tls) — else ERR_AUTH_NO_CERTIFICATE;
 *   2. every certificate it offered chains to the cluster CA (ERR_AUTH_UNTRUSTED_CERTIFICATE),
 *      is valid now (ERR_AUTH_CERTIFICATE_EXPIRED), names the node the peer claims to be
 *      (ERR_AUTH_NODE_MISMATCH) and names the key the transport's TLS proved the peer holds
 *      (ERR_AUTH_KEY_MISMATCH);
 *   3. the transport proved a key at all (QUIC always does; node:tls does with a client
 *      certificate) — a certificate is public, so one the peer cannot prove it owns is
 *      refused with ERR_AUTH_KEY_MISMATCH. `requireKeyProof: false` lifts this for transports
 *      that prove nothing (memory, for tests in one process).
 *
 * A refusal throws the AuthError; the handshake sends its code back to the peer, which never
 * becomes a connection, so it never reaches the peer service or membership. Each refusal is
 * logged (warn) with the peer's claimed name and the code.
 */
import type { Authenticator, PeerIdentity } from '../connections/handshake.js';
import { AuthError, InvalidOptionError, isPartisanError } from '../util/errors.js';
import { verifyNodeCertificate } from './certificates.js';
import type { NodeKey } from './node-key.js';

/** The part of a pino logger the authenticator uses. */
export interface AuthLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface ClusterAuthenticatorOptions {
  /** DER of the cluster CA certificate. Required. */
  caCertDer: Uint8Array;
  /** This node's certificate (DER), sent in hello/welcome. Required. */
  certificateDer: Uint8Array;
  /** This node's name; its own certificate must name it. Required. */
  nodeName: string;
  /** This node's key; its own certificate must name it. Required. */
  key: NodeKey;
  /** Refuse peers whose transport proved no key. Default true. */
  requireKeyProof?: boolean;
  /** Where refusals are logged. Default: nowhere. */
  logger?: AuthLogger;
  /** Time source for validity checks. Default `() => new Date()`. */
  now?: () => Date;
  /** Called for each refusal (after logging), e.g. to publish a diagnostics event. */
  onRefused?: (peer: PeerIdentity, error: AuthError) => void;
}

export class ClusterAuthenticator implements Authenticator {
  readonly nodeName: string;
  private readonly caCertDer: Uint8Array;
  private readonly certificateDer: Uint8Array;
  private readonly requireKeyProof: boolean;
  private readonly logger: AuthLogger | undefined;
  private readonly now: () => Date;
  private readonly onRefused: ((peer: PeerIdentity, error: AuthError) => void) | undefined;
  /** Peers refused so far, by code (for metrics and `status`). */
  readonly refusals: Record<string, number> = {};

  /**
   * Checks our own certificate first: a node whose certificate does not chain to the CA or
   * names another node or key would be refused by every peer, so it fails at start instead,
   * with ERR_INVALID_OPTION naming `security.cert`.
   */
  constructor(options: ClusterAuthenticatorOptions) {
    this.caCertDer = options.caCertDer;
    this.certificateDer = options.certificateDer;
    this.nodeName = options.nodeName;
    this.requireKeyProof = options.requireKeyProof ?? true;
    this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    this.onRefused = options.onRefused;
    try {
      verifyNodeCertificate(options.certificateDer, {
        caCertDer: options.caCertDer,
        expectedNode: options.nodeName,
        expectedPublicKeyRaw: options.key.publicKeyRaw,
        now: this.now(),
      });
    } catch (err) {
      const reason = isPartisanError(err) ? `${err.code}: ${err.message}` : String(err);
      throw new InvalidOptionError('security.cert', `<certificate of ${options.nodeName}>`, `this node's own certificate does not pass the cluster checks (${reason})`);
    }
  }

  certificate(): Uint8Array {
    return this.certificateDer;
  }

  verify(peer: PeerIdentity): void {
    try {
      this.check(peer);
    } catch (err) {
      if (err instanceof AuthError) {
        this.refusals[err.code] = (this.refusals[err.code] ?? 0) + 1;
        this.logger?.warn({ peer: peer.node, code: err.code, reason: err.message }, `refused peer ${peer.node}: ${err.code}`);
        this.onRefused?.(peer, err);
      }
      throw err;
    }
  }

  private check(peer: PeerIdentity): void {
    const offered: Uint8Array[] = [];
    if (peer.cert !== undefined) offered.push(peer.cert);
    if (peer.remoteCertificate !== undefined && !(peer.cert !== undefined && sameBytes(peer.cert, peer.remoteCertificate))) {
      offered.push(peer.remoteCertificate);
    }
    if (offered.length === 0) {
      throw new AuthError('ERR_AUTH_NO_CERTIFICATE', `${peer.node} offered no node certificate`, { details: { expectedNode: peer.node } });
    }
    const now = this.now();
    for (const cert of offered) {
      verifyNodeCertificate(cert, {
        caCertDer: this.caCertDer,
        expectedNode: peer.node,
        ...(peer.remoteKey !== undefined ? { expectedPublicKeyRaw: peer.remoteKey } : {}),
        now,
      });
    }
    if (peer.remoteKey === undefined && this.requireKeyProof) {
      throw new AuthError('ERR_AUTH_KEY_MISMATCH', `${peer.node} proved no key in the transport handshake, so its certificate proves nothing`, {
        details: { expectedNode: peer.node },
      });
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
