/**
 * Development certificates: a cluster CA, node certificates binding a node name to its Ed25519
 * key, and self-signed server certificates (WebTransport). Generation uses @peculiar/x509 on
 * Node's webcrypto; verification uses node:crypto's X509Certificate (OpenSSL), which is
 * synchronous so a handshake can call it inline.
 *
 * A node certificate carries the node name twice: subject CN (for humans and logs) and a
 * subjectAltName URI `partisan:node:<name>`, the authoritative binding that
 * verifyNodeCertificate() checks. Private keys exist only as KeyObjects in memory.
 */
import { createHash, createPublicKey, generateKeyPairSync, KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { AuthError, InvalidOptionError } from '../util/errors.js';
import { intOption, stringOption } from '../util/options.js';

/** Prefix of the subjectAltName URI that names a node: `partisan:node:gw1@10.0.0.5`. */
export const NODE_URI_PREFIX = 'partisan:node:';

/**
 * Node names a certificate may carry: `name` or `name@host` (host may be an IPv6 literal).
 * No commas, quotes, spaces or control characters, so the name reads back unescaped from
 * OpenSSL's subjectAltName text.
 */
const NODE_NAME_PATTERN = /^[A-Za-z0-9_.-]+(@[A-Za-z0-9_.:%[\]-]+)?$/;

const DAY_MS = 24 * 60 * 60 * 1000;
/** Default backdating of notBefore, so a peer whose clock is slightly behind accepts a fresh certificate. */
const CLOCK_SKEW_MS = 60_000;

export interface DevCaOptions {
  /** Subject CN of the CA. Default `partisan-ts development CA`. */
  commonName?: string;
  /** Validity from notBefore, days. Default 365. */
  validityDays?: number;
  /** Start of validity. Default now − 1 minute. */
  notBefore?: Date;
}

/** A certificate authority able to issue node certificates. Its private key never leaves memory. */
export interface CertificateAuthority {
  readonly commonName: string;
  readonly certificateDer: Uint8Array;
  readonly certificatePem: string;
  /** Ed25519 signing key of the CA. */
  readonly privateKey: KeyObject;
}

export interface IssuedCertificate {
  readonly certificateDer: Uint8Array;
  readonly certificatePem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface NodeCertificateOptions {
  /** The node name (`name@host`), written to the subject CN and the SAN URI. Required. */
  nodeName: string;
  /** The node's Ed25519 public key (a private KeyObject works too: its public half is used). Required. */
  publicKey: KeyObject;
  /** Validity from notBefore, days. Default 90. */
  validityDays?: number;
  /** Start of validity. Default now − 1 minute. */
  notBefore?: Date;
}

export type ServerKeyType = 'ecdsa-p256' | 'ed25519';

export interface SelfSignedOptions {
  /** Subject CN. Default `localhost`. */
  commonName?: string;
  /** DNS names and IP addresses for the SAN. Default `['localhost', '127.0.0.1', '::1']`. */
  hosts?: readonly string[];
  /**
   * Key type. Default `ecdsa-p256`: browsers accept no Ed25519 TLS certificates, and
   * WebTransport's serverCertificateHashes require ECDSA.
   */
  keyType?: ServerKeyType;
  /** Validity from notBefore, days. Default 13: serverCertificateHashes accept at most 14 days. */
  validityDays?: number;
  /** Start of validity. Default now − 1 minute. */
  notBefore?: Date;
}

export interface SelfSignedCertificate extends IssuedCertificate {
  readonly privateKey: KeyObject;
  readonly privateKeyPem: string;
  /** SHA-256 of the DER, for WebTransport `serverCertificateHashes`. */
  readonly sha256: Uint8Array;
}

export interface VerifyNodeCertificateOptions {
  /** DER of the cluster CA certificate the node certificate must be signed by. */
  caCertDer: Uint8Array;
  /** The node name the peer claims. */
  expectedNode: string;
  /** Raw 32-byte Ed25519 key the peer proved in the transport handshake, when there was one. */
  expectedPublicKeyRaw?: Uint8Array;
  /** The time to check validity at. Default now. */
  now?: Date;
}

type X509Module = typeof import('@peculiar/x509');
let x509Module: Promise<X509Module> | undefined;

/**
 * @peculiar/x509 needs a Reflect metadata API (its DI container checks for it at load) and no
 * such polyfill is a dependency; it only stores and reads metadata, so a WeakMap suffices.
 * Loaded on first use so importing this file costs nothing.
 */
function loadX509(): Promise<X509Module> {
  x509Module ??= (async () => {
    const reflect = Reflect as unknown as Record<string, unknown>;
    if (typeof reflect['getMetadata'] !== 'function') {
      const store = new WeakMap<object, Map<unknown, unknown>>();
      const own = (target: object, create: boolean): Map<unknown, unknown> | undefined => {
        let map = store.get(target);
        if (!map && create) store.set(target, (map = new Map()));
        return map;
      };
      reflect['defineMetadata'] = (key: unknown, value: unknown, target: object): void => {
        own(target, true)!.set(key, value);
      };
      reflect['getOwnMetadata'] = (key: unknown, target: object): unknown => own(target, false)?.get(key);
      reflect['getMetadata'] = (key: unknown, target: object): unknown => {
        for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
          const map = own(t, false);
          if (map?.has(key)) return map.get(key);
        }
        return undefined;
      };
    }
    return import('@peculiar/x509');
  })();
  return x509Module;
}

/** The x509 library is typed against the DOM's Crypto; Node's webcrypto implements it. */
const crypto = webcrypto as unknown as Parameters<X509Module['X509CertificateGenerator']['create']>[1];

/** PEM armour for DER bytes. */
export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** DER bytes of the first PEM block (any label). */
export function pemToDer(pem: string): Uint8Array {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!match) throw new InvalidOptionError('pem', pem, 'expected a PEM block');
  return new Uint8Array(Buffer.from(match[2]!.replace(/\s+/g, ''), 'base64'));
}

/** PKCS#8 PEM of a private key, the form node:tls accepts as `key`. */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** SHA-256 of a certificate's DER (WebTransport serverCertificateHashes, pinning, logs). */
export function certificateSha256(der: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(der).digest());
}

/** Raw 32-byte Ed25519 public key of a KeyObject (public or private), or undefined for other key types. */
export function ed25519PublicKeyRaw(key: KeyObject): Uint8Array | undefined {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') return undefined;
  const jwk = pub.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}

/** Raw Ed25519 public key of a certificate's subject, or undefined when its key is not Ed25519. */
export function certificateEd25519Key(certDer: Uint8Array): Uint8Array | undefined {
  return ed25519PublicKeyRaw(new X509Certificate(certDer).publicKey);
}

function spkiOf(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ format: 'der', type: 'spki' }));
}

function webAlgorithm(key: KeyObject): { name: string; namedCurve?: string; hash?: string } {
  if (key.asymmetricKeyType === 'ed25519') return { name: 'Ed25519' };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  }
  throw new InvalidOptionError('key', key.asymmetricKeyType, 'expected an Ed25519 or ECDSA P-256 key');
}

async function signingKey(key: KeyObject): Promise<webcrypto.CryptoKey> {
  const { name, namedCurve } = webAlgorithm(key);
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', pkcs8, namedCurve ? { name, namedCurve } : { name }, false, ['sign']);
}

function validity(field: string, options: { validityDays?: number; notBefore?: Date }, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const days = intOption(`${field}.validityDays`, options.validityDays, defaultDays, 1, 36_500);
  if (options.notBefore !== undefined && !(options.notBefore instanceof Date && !Number.isNaN(options.notBefore.getTime()))) {
    throw new InvalidOptionError(`${field}.notBefore`, options.notBefore, 'expected a valid Date');
  }
  const notBefore = options.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  // X.509 times have whole seconds; round so the returned dates equal what the certificate says.
  const start = new Date(Math.floor(notBefore.getTime() / 1000) * 1000);
  return { notBefore: start, notAfter: new Date(start.getTime() + days * DAY_MS) };
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // positive INTEGER
  return Buffer.from(bytes).toString('hex');
}

function issued(der: ArrayBuffer, notBefore: Date, notAfter: Date): IssuedCertificate {
  const certificateDer = new Uint8Array(der);
  return { certificateDer, certificatePem: derToPem(certificateDer), notBefore, notAfter };
}

/** A fresh self-signed Ed25519 CA for a development cluster. */
export async function createDevCa(options: DevCaOptions = {}): Promise<CertificateAuthority> {
  const commonName = stringOption('createDevCa.commonName', options.commonName, 'partisan-ts development CA');
  const { notBefore, notAfter } = validity('createDevCa', options, 365);
  const x509 = await loadX509();
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const spki = spkiOf(publicKey);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: [{ CN: [commonName] }],
      issuer: [{ CN: [commonName] }],
      notBefore,
      notAfter,
      publicKey: spki,
      signingKey: await signingKey(privateKey),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(spki, false, crypto),
      ],
    },
    crypto,
  );
  const { certificateDer, certificatePem } = issued(cert.rawData, notBefore, notAfter);
  return { commonName, certificateDer, certificatePem, privateKey };
}

/** A certificate binding `nodeName` to `publicKey`, signed by `ca`; valid for TLS client and server auth. */
export async function issueNodeCertificate(ca: CertificateAuthority, options: NodeCertificateOptions): Promise<IssuedCertificate> {
  const nodeName = stringOption('issueNodeCertificate.nodeName', options.nodeName, '', NODE_NAME_PATTERN);
  if (!(options.publicKey instanceof KeyObject) || options.publicKey.type === 'secret') {
    throw new InvalidOptionError('issueNodeCertificate.publicKey', options.publicKey, 'expected an asymmetric KeyObject');
  }
  if (options.publicKey.asymmetricKeyType !== 'ed25519') {
    throw new InvalidOptionError('issueNodeCertificate.publicKey', options.publicKey.asymmetricKeyType, 'expected an Ed25519 key');
  }
  const { notBefore, notAfter } = validity('issueNodeCertificate', options, 90);
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.certificateDer);
  const spki = spkiOf(options.publicKey);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: [{ CN: [nodeName] }],
      issuer: caCert.subjectName,
      notBefore,
      notAfter,
      publicKey: spki,
      signingKey: await signingKey(ca.privateKey),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `${NODE_URI_PREFIX}${nodeName}` }], false),
        await x509.SubjectKeyIdentifierExtension.create(spki, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(spkiOf(ca.privateKey), false, crypto),
      ],
    },
    crypto,
  );
  return issued(cert.rawData, notBefore, notAfter);
}

/** A self-signed server certificate with a fresh key (ECDSA P-256 unless asked otherwise). */
export async function selfSignedCertificate(options: SelfSignedOptions = {}): Promise<SelfSignedCertificate> {
  const commonName = stringOption('selfSignedCertificate.commonName', options.commonName, 'localhost');
  const hosts = options.hosts ?? ['localhost', '127.0.0.1', '::1'];
  if (!Array.isArray(hosts) || hosts.some((h) => typeof h !== 'string' || h.length === 0)) {
    throw new InvalidOptionError('selfSignedCertificate.hosts', hosts, 'expected an array of host names or IP addresses');
  }
  const keyType = options.keyType ?? 'ecdsa-p256';
  if (keyType !== 'ecdsa-p256' && keyType !== 'ed25519') {
    throw new InvalidOptionError('selfSignedCertificate.keyType', keyType, 'expected "ecdsa-p256" or "ed25519"');
  }
  const { notBefore, notAfter } = validity('selfSignedCertificate', options, 13);
  const x509 = await loadX509();
  const { privateKey, publicKey } =
    keyType === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = spkiOf(publicKey);
  const isIp = (h: string): boolean => /^[0-9.]+$/.test(h) || h.includes(':');
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: [{ CN: [commonName] }],
      issuer: [{ CN: [commonName] }],
      notBefore,
      notAfter,
      publicKey: spki,
      signingKey: await signingKey(privateKey),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(hosts.map((h) => ({ type: isIp(h) ? ('ip' as const) : ('dns' as const), value: h }))),
      ],
    },
    crypto,
  );
  const base = issued(cert.rawData, notBefore, notAfter);
  return { ...base, privateKey, privateKeyPem: privateKeyToPem(privateKey), sha256: certificateSha256(base.certificateDer) };
}

/**
 * Check that `certDer` is a node certificate signed by the CA, valid at `now`, naming
 * `expectedNode` (SAN URI) and, when given, carrying `expectedPublicKeyRaw`. Returns the node
 * name; throws AuthError ERR_AUTH_UNTRUSTED_CERTIFICATE, ERR_AUTH_CERTIFICATE_EXPIRED,
 * ERR_AUTH_NODE_MISMATCH or ERR_AUTH_KEY_MISMATCH, checked in that order.
 */
export function verifyNodeCertificate(certDer: Uint8Array, options: VerifyNodeCertificateOptions): string {
  const { expectedNode, expectedPublicKeyRaw } = options;
  const now = options.now ?? new Date();
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(certDer);
    ca = new X509Certificate(options.caCertDer);
  } catch (cause) {
    throw new AuthError('ERR_AUTH_UNTRUSTED_CERTIFICATE', 'certificate cannot be parsed', { cause });
  }
  // A CA certificate verifies against itself; it must never pass as a node certificate.
  if (!ca.ca || cert.ca || !cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new AuthError('ERR_AUTH_UNTRUSTED_CERTIFICATE', `certificate of ${JSON.stringify(expectedNode)} is not signed by the cluster CA`, {
      details: { expectedNode, subject: cert.subject, issuer: cert.issuer },
    });
  }
  for (const c of [cert, ca]) {
    const from = Date.parse(c.validFrom);
    const to = Date.parse(c.validTo);
    if (!(now.getTime() >= from && now.getTime() <= to)) {
      throw new AuthError('ERR_AUTH_CERTIFICATE_EXPIRED', `${c === ca ? 'CA' : 'node'} certificate is valid from ${c.validFrom} to ${c.validTo}, not at ${now.toISOString()}`, {
        details: { expectedNode, validFrom: c.validFrom, validTo: c.validTo, now: now.toISOString() },
      });
    }
  }
  const uris = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith(`URI:${NODE_URI_PREFIX}`))
    .map((entry) => entry.slice(4 + NODE_URI_PREFIX.length));
  if (uris.length !== 1 || uris[0] !== expectedNode) {
    throw new AuthError('ERR_AUTH_NODE_MISMATCH', `certificate names ${JSON.stringify(uris)}, not ${JSON.stringify(expectedNode)}`, {
      details: { expectedNode, certified: uris },
    });
  }
  if (expectedPublicKeyRaw !== undefined) {
    const certified = ed25519PublicKeyRaw(cert.publicKey);
    if (!certified || !Buffer.from(certified).equals(Buffer.from(expectedPublicKeyRaw.buffer, expectedPublicKeyRaw.byteOffset, expectedPublicKeyRaw.byteLength))) {
      throw new AuthError('ERR_AUTH_KEY_MISMATCH', `certificate of ${JSON.stringify(expectedNode)} names another key than the one the peer proved`, {
        details: { expectedNode },
      });
    }
  }
  return expectedNode;
}
