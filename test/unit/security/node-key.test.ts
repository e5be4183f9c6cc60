import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  NodeKey,
  generateNodeKey,
  loadOrCreateNodeKey,
  nodeKeyFromPem,
  peerIdFromPublicKey,
  publicKeyFromPeerId,
} from '../../../src/security/node-key.js';
import { isPartisanError } from '../../../src/util/errors.js';

const posix = process.platform !== 'win32';

function invalid(field: string) {
  return (err: unknown): boolean => isPartisanError(err, 'ERR_INVALID_OPTION') && err.details.field === field;
}

describe('node key', () => {
  it('generates an Ed25519 key whose raw public key matches the KeyObjects', () => {
    const key = generateNodeKey();
    assert.equal(key.privateKey.asymmetricKeyType, 'ed25519');
    assert.equal(key.publicKeyRaw.length, 32);
    const spki = key.publicKey.export({ type: 'spki', format: 'der' });
    assert.deepEqual(new Uint8Array(spki.subarray(spki.length - 32)), key.publicKeyRaw);
    const message = Buffer.from('partisan');
    assert.ok(verify(null, message, key.publicKey, sign(null, message, key.privateKey)));
  });

  it('encodes the libp2p private key protobuf: 08 01 12 40, seed, public key', () => {
    const key = generateNodeKey();
    const proto = key.libp2pPrivateKeyProto();
    assert.equal(proto.length, 68);
    assert.deepEqual([...proto.subarray(0, 4)], [0x08, 0x01, 0x12, 0x40]);
    assert.deepEqual(proto.subarray(36), key.publicKeyRaw);
    const seed = Buffer.from(key.privateKey.export({ format: 'jwk' }).d!, 'base64url');
    assert.deepEqual(Buffer.from(proto.subarray(4, 36)), seed);
  });

  it('round-trips peer ids and rejects ids that carry no Ed25519 key', () => {
    const key = generateNodeKey();
    const id = key.peerId();
    assert.match(id, /^12D3KooW/, 'Ed25519 identity peer ids start with 12D3KooW');
    assert.deepEqual(publicKeyFromPeerId(id), key.publicKeyRaw);
    assert.equal(peerIdFromPublicKey(key.publicKeyRaw), id);
    // An RSA-style (sha256 multihash) id, a bad character, and a truncated id.
    assert.throws(() => publicKeyFromPeerId('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'), invalid('peerId'));
    assert.throws(() => publicKeyFromPeerId(`${id.slice(0, -1)}0`), invalid('peerId'));
    assert.throws(() => publicKeyFromPeerId(id.slice(0, -3)), invalid('peerId'));
  });

  it('reads PKCS#8 PEM and refuses other key types', () => {
    const key = generateNodeKey();
    assert.deepEqual(nodeKeyFromPem(key.toPem()).publicKeyRaw, key.publicKeyRaw);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(() => nodeKeyFromPem(ec), invalid('key'));
    assert.throws(() => nodeKeyFromPem('not a key'), invalid('key'));
    assert.throws(() => NodeKey.fromPrivateKey(key.publicKey), invalid('key'));
  });

  describe('on disk', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'partisan-node-key-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('creates the key (dir 0700, file 0600) and loads the same key afterwards', async () => {
      const path = join(dir, 'nested', 'node.key');
      const created = await loadOrCreateNodeKey(path);
      if (posix) {
        assert.equal((await stat(join(dir, 'nested'))).mode & 0o777, 0o700);
        assert.equal((await stat(path)).mode & 0o777, 0o600);
      }
      assert.match(await readFile(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
      const loaded = await loadOrCreateNodeKey(path);
      assert.deepEqual(loaded.publicKeyRaw, created.publicKeyRaw);
    });

    it('gives concurrent creators the same key', async () => {
      const path = join(dir, 'race.key');
      const keys = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateNodeKey(path)));
      for (const k of keys) assert.deepEqual(k.publicKeyRaw, keys[0]!.publicKeyRaw);
    });

    it('refuses a key file that group or others can read', { skip: !posix }, async () => {
      const path = join(dir, 'open.key');
      await writeFile(path, generateNodeKey().toPem(), { mode: 0o600 });
      await chmod(path, 0o640);
      await assert.rejects(loadOrCreateNodeKey(path), invalid('keyPath'));
    });

    it('refuses a key file that holds no Ed25519 key', async () => {
      const path = join(dir, 'garbage.key');
      await writeFile(path, 'garbage', { mode: 0o600 });
      await assert.rejects(loadOrCreateNodeKey(path), invalid('keyPath'));
    });
  });
});
