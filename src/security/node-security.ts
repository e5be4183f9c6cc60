/**
 * A node's security settings (`startNode({ security })`): where its cluster CA, node
 * certificate and persistent Ed25519 key come from, and what they turn into — the
 * ClusterAuthenticator our handshake calls, the key the QUIC transport proves in TLS, and
 * mutual-TLS options for the tcp transport. Validation is synchronous (resolveSecurityOptions,
 * called from resolveNodeOptions); loading files and issuing certificates happens at start
 * (setupNodeSecurity).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import type { PeerIdentity } from '../connections/handshake.js';
import { AuthError, InvalidOptionError } from '../util/errors.js';
import { boolOption, objectOption, rejectUnknownKeys, stringOption } from '../util/options.js';
import { ClusterAuthenticator, type AuthLogger } from './cluster-authenticator.js';
import { createDevCa, derToPem, issueNodeCertificate, pemToDer, type CertificateAuthority } from './certificates.js';
import { generateNodeKey, loadOrCreateNodeKey, NodeKey, nodeKeyFromPem } from './node-key.js';

/** File names inside `security.dataDir`. */
export const NODE_KEY_FILE = 'node.key';
export const NODE_CERT_FILE = 'node.crt';
export const DATA_DIR_CA_FILE = 'ca.crt';

export interface SecurityOptions {
  /**
   * The cluster CA. `'dev'`: a development CA generated in memory at first use and shared by
   * every node of this process (tests, the demo); a CA certificate as PEM text, DER bytes or
   * the path of a PEM file (deployments: `partisan-ts cert` writes one); or a
   * `CertificateAuthority` (createDevCa()), which can also issue this node's certificate.
   * Default `<dataDir>/ca.crt` (as `partisan-ts cert` lays it out); required without dataDir.
   */
  ca?: 'dev' | string | Uint8Array | CertificateAuthority;
  /**
   * This node's certificate, signed by the CA, naming this node and its key: PEM text, DER
   * bytes or the path of a PEM file. Default `<dataDir>/node.crt` when that file exists;
   * otherwise, when the CA's private key is at hand (`'dev'` or a CertificateAuthority), a
   * certificate issued at start.
   */
  cert?: string | Uint8Array;
  /** This node's Ed25519 private key: PKCS#8 PEM text or a NodeKey. Default: from keyPath. */
  key?: string | NodeKey;
  /**
   * Path of the persistent node key (PKCS#8 PEM, mode 0600), created when absent. Default
   * `<dataDir>/node.key`; with no dataDir either, a fresh in-memory key (the certificate must
   * then be issued at start).
   */
  keyPath?: string;
  /** Directory holding `node.key` and `node.crt` (created 0700 when the key is created). Default none. */
  dataDir?: string;
  /**
   * Refuse peers whose transport proved no key (a certificate alone is public). Default true;
   * false on the memory transport, which proves nothing.
   */
  requireKeyProof?: boolean;
}

export interface ResolvedSecurityOptions {
  readonly ca: 'dev' | string | Uint8Array | CertificateAuthority | undefined;
  readonly cert: string | Uint8Array | undefined;
  readonly key: string | NodeKey | undefined;
  readonly keyPath: string | undefined;
  readonly dataDir: string | undefined;
  readonly requireKeyProof: boolean | undefined;
}

const KEYS = ['ca', 'cert', 'key', 'keyPath', 'dataDir', 'requireKeyProof'] as const;

function isCertificateAuthority(value: unknown): value is CertificateAuthority {
  const v = value as Partial<CertificateAuthority> | null;
  return typeof v === 'object' && v !== null && v.certificateDer instanceof Uint8Array && typeof v.privateKey === 'object';
}

/** Validate shapes (no I/O). Throws ERR_INVALID_OPTION naming `security.<field>`. */
export function resolveSecurityOptions(value: unknown): ResolvedSecurityOptions {
  const raw = objectOption('security', value);
  rejectUnknownKeys('security', raw, KEYS);
  const ca = raw.ca;
  if (ca === undefined && raw.dataDir === undefined) {
    throw new InvalidOptionError('security.ca', ca, "required (or a dataDir holding ca.crt): 'dev', a PEM certificate, a PEM file path, DER bytes or a CertificateAuthority");
  }
  if (ca !== undefined && !(ca === 'dev' || (typeof ca === 'string' && ca.length > 0) || ca instanceof Uint8Array || isCertificateAuthority(ca))) {
    throw new InvalidOptionError('security.ca', ca, "expected 'dev', a PEM certificate, a PEM file path, DER bytes or a CertificateAuthority");
  }
  const cert = raw.cert;
  if (cert !== undefined && !((typeof cert === 'string' && cert.length > 0) || cert instanceof Uint8Array)) {
    throw new InvalidOptionError('security.cert', cert, 'expected a PEM certificate, a PEM file path or DER bytes');
  }
  const key = raw.key;
  if (key !== undefined && !((typeof key === 'string' && key.length > 0) || key instanceof NodeKey)) {
    throw new InvalidOptionError('security.key', typeof key === 'string' ? '<empty>' : key, 'expected a PKCS#8 PEM Ed25519 private key or a NodeKey');
  }
  const requireKeyProof = raw.requireKeyProof === undefined ? undefined : boolOption('security.requireKeyProof', raw.requireKeyProof, true);
  return Object.freeze({
    ca: ca as ResolvedSecurityOptions['ca'],
    cert: cert as string | Uint8Array | undefined,
    key: key as string | NodeKey | undefined,
    keyPath: raw.keyPath === undefined ? undefined : stringOption('security.keyPath', raw.keyPath, ''),
    dataDir: raw.dataDir === undefined ? undefined : stringOption('security.dataDir', raw.dataDir, ''),
    requireKeyProof,
  });
}

let devCa: Promise<CertificateAuthority> | undefined;

/**
 * The development CA of this process, created at first use. Every node started with
 * `security: { ca: 'dev' }` in one process shares it; nodes in other processes do not (use
 * `partisan-ts cert` or pass a CertificateAuthority).
 */
export function sharedDevCa(): Promise<CertificateAuthority> {
  devCa ??= createDevCa({ commonName: 'partisan-ts in-memory development CA' });
  return devCa;
}

export interface NodeSecurityInput {
  nodeName: string;
  /** The node's transport kind ('quic', 'tcp', 'memory', 'webtransport', or 'custom'). */
  transport: string;
  /** The node's quic / tcp transport options, to extend. */
  quic: Record<string, unknown>;
  tcp: Record<string, unknown>;
  logger?: AuthLogger;
  now?: () => Date;
  onRefused?: (peer: PeerIdentity, error: AuthError) => void;
}

export interface NodeSecurity {
  authenticator: ClusterAuthenticator;
  key: NodeKey;
  caCertDer: Uint8Array;
  certificateDer: Uint8Array;
  /** The quic options with `key` set to the node key (the certificate names it). */
  quic: Record<string, unknown>;
  /** The tcp options with mutual-TLS client and server options. */
  tcp: Record<string, unknown>;
}

function isPem(text: string): boolean {
  return text.trimStart().startsWith('-----BEGIN');
}

async function readPemFile(field: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidOptionError(field, path, `cannot read the file: ${(err as Error).message}`);
  }
}

async function certificateDer(field: string, value: string | Uint8Array): Promise<Uint8Array> {
  if (value instanceof Uint8Array) return value;
  const pem = isPem(value) ? value : await readPemFile(field, value);
  try {
    return pemToDer(pem);
  } catch {
    throw new InvalidOptionError(field, isPem(value) ? '<pem>' : value, 'expected a PEM certificate');
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Load or create everything `security` names: the CA certificate, the node key (persistent
 * when a path is known), the node certificate (loaded, or issued by a CA whose private key is
 * at hand). Builds the authenticator (which checks our own certificate) and the transport
 * options that make the transport prove the certified key.
 */
export async function setupNodeSecurity(options: ResolvedSecurityOptions, input: NodeSecurityInput): Promise<NodeSecurity> {
  let ca: CertificateAuthority | undefined;
  let caCertDer: Uint8Array;
  if (options.ca === 'dev') {
    ca = await sharedDevCa();
    caCertDer = ca.certificateDer;
  } else if (isCertificateAuthority(options.ca)) {
    ca = options.ca;
    caCertDer = ca.certificateDer;
  } else {
    caCertDer = await certificateDer('security.ca', options.ca ?? join(options.dataDir!, DATA_DIR_CA_FILE));
  }

  let key: NodeKey;
  const keyPath = options.keyPath ?? (options.dataDir !== undefined ? join(options.dataDir, NODE_KEY_FILE) : undefined);
  if (options.key instanceof NodeKey) key = options.key;
  else if (typeof options.key === 'string') key = nodeKeyFromPem(isPem(options.key) ? options.key : await readPemFile('security.key', options.key), 'security.key');
  else if (keyPath !== undefined) key = await loadOrCreateNodeKey(keyPath);
  else if (input.quic.key instanceof NodeKey) key = input.quic.key;
  else key = generateNodeKey();

  let certDer: Uint8Array;
  const certPath = options.dataDir !== undefined ? join(options.dataDir, NODE_CERT_FILE) : undefined;
  if (options.cert !== undefined) {
    certDer = await certificateDer('security.cert', options.cert);
  } else if (certPath !== undefined && (await exists(certPath))) {
    certDer = await certificateDer('security.cert', certPath);
  } else if (ca) {
    certDer = (await issueNodeCertificate(ca, { nodeName: input.nodeName, publicKey: key.publicKey })).certificateDer;
  } else {
    throw new InvalidOptionError('security.cert', undefined, `required: this node's certificate (a PEM file from \`partisan-ts cert\`), or a CA that can issue one ('dev')`);
  }

  const authenticator = new ClusterAuthenticator({
    caCertDer,
    certificateDer: certDer,
    nodeName: input.nodeName,
    key,
    requireKeyProof: options.requireKeyProof ?? input.transport !== 'memory',
    ...(input.logger ? { logger: input.logger } : {}),
    ...(input.now ? { now: input.now } : {}),
    ...(input.onRefused ? { onRefused: input.onRefused } : {}),
  });
  const tls = mutualTlsOptions(caCertDer, certDer, key);
  return {
    authenticator,
    key,
    caCertDer,
    certificateDer: certDer,
    quic: { ...input.quic, key },
    tcp: {
      ...input.tcp,
      tlsClientOptions: { ...objectOption('tcp.tlsClientOptions', input.tcp.tlsClientOptions), ...tls.client },
      tlsServerOptions: { ...objectOption('tcp.tlsServerOptions', input.tcp.tlsServerOptions), ...tls.server },
    },
  };
}

/**
 * node:tls options for mutual TLS with node certificates. Both sides present their node
 * certificate and request the peer's, with the CA configured; TLS proves that each side holds
 * the key of the certificate it presented. The decision — chains to the CA, names the node
 * the peer claims and the key it proved — is the ClusterAuthenticator's, in our handshake,
 * exactly as over QUIC; so chain errors are not fatal inside TLS (`rejectUnauthorized:
 * false`) and a refused peer gets a coded ERR_AUTH_* refusal and a log line instead of a bare
 * TLS alert. Node certificates name nodes, not hosts, hence no host name check.
 */
export function mutualTlsOptions(caCertDer: Uint8Array, certDer: Uint8Array, key: NodeKey): { client: ConnectionOptions; server: TlsOptions } {
  const common = { ca: derToPem(caCertDer), cert: derToPem(certDer), key: key.toPem(), minVersion: 'TLSv1.3' as const };
  return {
    client: { ...common, rejectUnauthorized: false, checkServerIdentity: () => undefined },
    server: { ...common, requestCert: true, rejectUnauthorized: false },
  };
}
