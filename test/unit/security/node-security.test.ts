import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { nodeDirName, writeCertificates } from '../../../src/security/cert-files.js';
import { createDevCa } from '../../../src/security/certificates.js';
import { NodeKey } from '../../../src/security/node-key.js';
import { resolveSecurityOptions, setupNodeSecurity, sharedDevCa } from '../../../src/security/node-security.js';
import { isPartisanError } from '../../../src/util/errors.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'partisan-sec-'));
  dirs.push(d);
  return d;
}

function invalid(field: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isPartisanError(err, 'ERR_INVALID_OPTION'), String(err));
    assert.equal(err.details.field, field);
    return true;
  };
}

const input = (nodeName: string, transport = 'quic') => ({ nodeName, transport, quic: {}, tcp: {} });

describe('node security options', () => {
  it('validates shapes and names the field', () => {
    assert.throws(() => resolveSecurityOptions({}), invalid('security.ca'));
    assert.throws(() => resolveSecurityOptions({ ca: 42 }), invalid('security.ca'));
    assert.throws(() => resolveSecurityOptions({ ca: 'dev', kee: 'x' }), invalid('security.kee'));
    assert.throws(() => resolveSecurityOptions({ ca: 'dev', requireKeyProof: 'yes' }), invalid('security.requireKeyProof'));
    assert.equal(resolveSecurityOptions({ dataDir: '/x' }).ca, undefined);
  });

  it("'dev' is one in-memory CA per process: nodes of one process trust each other", async () => {
    const a = await setupNodeSecurity(resolveSecurityOptions({ ca: 'dev' }), input('a@127.0.0.1'));
    const b = await setupNodeSecurity(resolveSecurityOptions({ ca: 'dev' }), input('b@127.0.0.1', 'tcp'));
    assert.deepEqual(a.caCertDer, (await sharedDevCa()).certificateDer);
    assert.deepEqual(a.caCertDer, b.caCertDer);
    // QUIC proves the certified key; tcp gets mutual TLS with the node certificate.
    assert.ok(a.quic.key instanceof NodeKey);
    assert.deepEqual((a.quic.key as NodeKey).publicKeyRaw, a.key.publicKeyRaw);
    const tls = b.tcp.tlsServerOptions as { requestCert: boolean; ca: string; cert: string };
    assert.equal(tls.requestCert, true);
    assert.match(tls.ca, /BEGIN CERTIFICATE/);
    a.authenticator.verify({ node: 'b@127.0.0.1', cert: b.certificateDer, remoteKey: b.key.publicKeyRaw, remoteCertificate: undefined, spec: undefined, incarnation: 1, state: undefined, channels: {} });
  });

  it('keeps the node key in dataDir (0600) across restarts', async () => {
    const dir = join(await tempDir(), 'node');
    const first = await setupNodeSecurity(resolveSecurityOptions({ ca: await createDevCa(), dataDir: dir }), input('a@127.0.0.1'));
    const again = await setupNodeSecurity(resolveSecurityOptions({ ca: await createDevCa(), dataDir: dir }), input('a@127.0.0.1'));
    assert.deepEqual(first.key.publicKeyRaw, again.key.publicKeyRaw);
    if (process.platform !== 'win32') assert.equal((await stat(join(dir, 'node.key'))).mode & 0o777, 0o600);
  });

  it('needs a certificate when the CA cannot issue one', async () => {
    const ca = await createDevCa();
    await assert.rejects(setupNodeSecurity(resolveSecurityOptions({ ca: ca.certificatePem }), input('a@127.0.0.1')), invalid('security.cert'));
  });

  it('runs from the files `partisan-ts cert` writes (safe modes, CA reused, key kept on renewal)', async () => {
    const dir = join(await tempDir(), 'certs');
    const first = await writeCertificates({ dir, nodes: ['a@127.0.0.1', 'b@[::1]'] });
    assert.equal(first.caCreated, true);
    assert.equal(nodeDirName('b@[::1]'), 'b@___1_');
    if (process.platform !== 'win32') {
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      assert.equal((await stat(first.caKeyPath)).mode & 0o777, 0o600);
      for (const n of first.nodes) {
        assert.equal((await stat(n.dir)).mode & 0o777, 0o700);
        for (const f of ['node.key', 'node.crt', 'ca.crt']) assert.equal((await stat(join(n.dir, f))).mode & 0o777, 0o600, f);
      }
    }
    const second = await writeCertificates({ dir, nodes: ['a@127.0.0.1'] });
    assert.equal(second.caCreated, false);
    assert.equal(await readFile(join(first.nodes[0]!.dir, 'node.key'), 'utf8'), await readFile(join(second.nodes[0]!.dir, 'node.key'), 'utf8'));
    // dataDir alone: node.key, node.crt and ca.crt are found there.
    const a = await setupNodeSecurity(resolveSecurityOptions({ dataDir: first.nodes[0]!.dir }), input('a@127.0.0.1'));
    const b = await setupNodeSecurity(resolveSecurityOptions({ dataDir: first.nodes[1]!.dir }), input('b@[::1]'));
    b.authenticator.verify({ node: 'a@127.0.0.1', cert: a.certificateDer, remoteKey: a.key.publicKeyRaw, remoteCertificate: undefined, spec: undefined, incarnation: 1, state: undefined, channels: {} });
    // A certificate issued for another node does not start this one.
    await assert.rejects(setupNodeSecurity(resolveSecurityOptions({ dataDir: first.nodes[0]!.dir }), input('x@127.0.0.1')), invalid('security.cert'));
    // Half a CA is refused rather than silently replaced.
    const half = await tempDir();
    await writeFile(join(half, 'ca.crt'), await readFile(first.caCertPath));
    await assert.rejects(writeCertificates({ dir: half, nodes: [] }), invalid('dir'));
  });
});
