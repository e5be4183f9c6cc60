/**
 * Each node's persistent Ed25519 identity key. QUIC's TLS 1.3 handshake proves possession of
 * it (the transport reports the peer's raw public key as `remoteKey`), and the cluster CA's
 * node certificate binds it to the node name (src/security/certificates.ts, which takes the
 * `KeyObject`s from here). The key lives as a PKCS#8 PEM file only its owner can read.
 *
 * Peer ids are libp2p's: base58btc of the identity multihash of the protobuf public key,
 * which is what the quinn binding reports for the remote side of a connection.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, link, lstat, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InvalidOptionError } from '../util/errors.js';

const ED25519_KEY_BYTES = 32;
/** libp2p PrivateKey protobuf: field 1 (type) = 1 (Ed25519), field 2 (data) = 64 bytes. */
const PRIVATE_KEY_PROTO_PREFIX = [0x08, 0x01, 0x12, 0x40];
/** Identity multihash (0x00, length 36) of the PublicKey protobuf: type Ed25519, 32 bytes. */
const PEER_ID_PREFIX = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
const KEY_FILE_FIELD = 'keyPath';

export class NodeKey {
  readonly publicKey: KeyObject;
  /** The raw 32-byte Ed25519 public key (what `TransportConnection.remoteKey` holds). */
  readonly publicKeyRaw: Uint8Array;

  private constructor(readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    this.publicKeyRaw = jwkBytes(this.publicKey.export({ format: 'jwk' }).x, 'x');
  }

  /** Wrap an existing Ed25519 private key. Throws ERR_INVALID_OPTION for any other key. */
  static fromPrivateKey(privateKey: KeyObject): NodeKey {
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
      throw new InvalidOptionError('key', `${privateKey.type} ${privateKey.asymmetricKeyType ?? ''} key`.trim(), 'expected an Ed25519 private key');
    }
    return new NodeKey(privateKey);
  }

  /**
   * The private key as libp2p protobuf (08 01 12 40 ‖ seed ‖ public key), the form the QUIC
   * binding takes. A fresh copy each call: it is secret, callers should not keep it around.
   */
  libp2pPrivateKeyProto(): Uint8Array {
    const seed = jwkBytes(this.privateKey.export({ format: 'jwk' }).d, 'd');
    const out = new Uint8Array(PRIVATE_KEY_PROTO_PREFIX.length + 2 * ED25519_KEY_BYTES);
    out.set(PRIVATE_KEY_PROTO_PREFIX, 0);
    out.set(seed, PRIVATE_KEY_PROTO_PREFIX.length);
    out.set(this.publicKeyRaw, PRIVATE_KEY_PROTO_PREFIX.length + ED25519_KEY_BYTES);
    seed.fill(0);
    return out;
  }

  /** This key's libp2p peer id (base58btc), as peers see it in the QUIC handshake. */
  peerId(): string {
    return peerIdFromPublicKey(this.publicKeyRaw);
  }

  /** PKCS#8 PEM of the private key. */
  toPem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }
}

/** A fresh in-memory key (tests, ephemeral nodes). */
export function generateNodeKey(): NodeKey {
  return NodeKey.fromPrivateKey(generateKeyPairSync('ed25519').privateKey);
}

/** Parse a PKCS#8 PEM Ed25519 private key; anything else is ERR_INVALID_OPTION. */
export function nodeKeyFromPem(pem: string, field = 'key'): NodeKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new InvalidOptionError(field, '<pem>', `expected a PKCS#8 PEM Ed25519 private key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new InvalidOptionError(field, `${key.asymmetricKeyType ?? 'unknown'} key`, 'expected an Ed25519 private key');
  }
  return NodeKey.fromPrivateKey(key);
}

/**
 * Load the node key at `path`, or create it (and missing directories, mode 0700) with mode
 * 0600 when absent. Refuses, with ERR_INVALID_OPTION naming `keyPath`, a key file that group
 * or others may read or write (as ssh does), a symlink, or a file that is not an Ed25519 key.
 * Two processes racing to create the same key end up with the same one: the file appears
 * atomically (hard link of a complete temp file), and the loser loads the winner's key.
 */
export async function loadOrCreateNodeKey(path: string): Promise<NodeKey> {
  const existing = await readKeyFile(path);
  if (existing !== undefined) return existing;
  const key = generateNodeKey();
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, key.toPem(), { mode: 0o600, flag: 'wx' });
    try {
      await chmod(temp, 0o600); // the umask may only have narrowed it; make it exact
      await link(temp, path);
    } finally {
      await unlink(temp).catch(() => {});
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const winner = await readKeyFile(path);
      if (winner) return winner;
    }
    throw new InvalidOptionError(KEY_FILE_FIELD, path, `cannot create the node key file: ${(err as Error).message}`);
  }
  return key;
}

/** The key at `path`, or undefined when there is no file. */
async function readKeyFile(path: string): Promise<NodeKey | undefined> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InvalidOptionError(KEY_FILE_FIELD, path, `cannot read the node key file: ${(err as Error).message}`);
  }
  if (!stats.isFile()) throw new InvalidOptionError(KEY_FILE_FIELD, path, 'the node key path is not a regular file');
  // Windows has no POSIX mode bits worth checking.
  if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
    const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
    throw new InvalidOptionError(KEY_FILE_FIELD, path, `the node key file has mode ${mode}: group and others must have no access (chmod 600)`);
  }
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidOptionError(KEY_FILE_FIELD, path, `cannot read the node key file: ${(err as Error).message}`);
  }
  return nodeKeyFromPem(pem, KEY_FILE_FIELD);
}

/** libp2p peer id (base58btc) of a raw Ed25519 public key. */
export function peerIdFromPublicKey(publicKeyRaw: Uint8Array): string {
  if (publicKeyRaw.length !== ED25519_KEY_BYTES) {
    throw new InvalidOptionError('publicKey', `${publicKeyRaw.length} bytes`, 'expected a 32-byte Ed25519 public key');
  }
  const bytes = new Uint8Array(PEER_ID_PREFIX.length + ED25519_KEY_BYTES);
  bytes.set(PEER_ID_PREFIX, 0);
  bytes.set(publicKeyRaw, PEER_ID_PREFIX.length);
  return base58Encode(bytes);
}

/**
 * The raw Ed25519 public key inside a libp2p peer id (base58btc identity multihash). Throws
 * ERR_INVALID_OPTION for anything else (RSA/secp256k1 ids are hashes, not keys).
 */
export function publicKeyFromPeerId(peerId: string): Uint8Array {
  const bytes = base58Decode(peerId);
  const ok =
    bytes !== undefined && bytes.length === PEER_ID_PREFIX.length + ED25519_KEY_BYTES && PEER_ID_PREFIX.every((b, i) => bytes[i] === b);
  if (!ok) throw new InvalidOptionError('peerId', peerId, 'expected the base58btc identity multihash of an Ed25519 public key');
  return bytes.slice(PEER_ID_PREFIX.length);
}

function jwkBytes(value: string | undefined, member: string): Uint8Array {
  if (value === undefined) throw new Error(`Ed25519 JWK export has no "${member}"`);
  return new Uint8Array(Buffer.from(value, 'base64url'));
}

// Bitcoin alphabet base58, as multibase 'z' uses (without the 'z' prefix, as peer ids are written).
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const ALPHABET_INDEX = new Map([...ALPHABET].map((c, i) => [c, i] as const));

function base58Encode(bytes: Uint8Array): string {
  const digits: number[] = [];
  for (const byte of bytes) {
    let carry = byte;
    for (let i = 0; i < digits.length; i++) {
      carry += digits[i]! << 8;
      digits[i] = carry % 58;
      carry = (carry / 58) | 0;
    }
    for (; carry > 0; carry = (carry / 58) | 0) digits.push(carry % 58);
  }
  let out = '';
  for (let i = 0; i < bytes.length && bytes[i] === 0; i++) out += ALPHABET[0];
  for (let i = digits.length - 1; i >= 0; i--) out += ALPHABET[digits[i]!];
  return out;
}

function base58Decode(text: string): Uint8Array | undefined {
  const bytes: number[] = [];
  for (const char of text) {
    let carry = ALPHABET_INDEX.get(char);
    if (carry === undefined) return undefined;
    for (let i = 0; i < bytes.length; i++) {
      carry += bytes[i]! * 58;
      bytes[i] = carry & 0xff;
      carry >>= 8;
    }
    for (; carry > 0; carry >>= 8) bytes.push(carry & 0xff);
  }
  let zeros = 0;
  while (zeros < text.length && text[zeros] === ALPHABET[0]) zeros++;
  const out = new Uint8Array(zeros + bytes.length);
  for (let i = 0; i < bytes.length; i++) out[out.length - 1 - i] = bytes[i]!;
  return out;
}
