/**
 * Certificates on disk, as `partisan-ts cert` writes them for a deployment:
 *
 *   <dir>/                    0700
 *     ca.crt  ca.key          the cluster CA (0600; keep ca.key off the nodes)
 *     <node>/                 0700, one per node, the directory to ship to that host
 *       node.key              the node's persistent Ed25519 key (0600, kept across renewals)
 *       node.crt  ca.crt      its certificate and the CA certificate (0600)
 *
 * A node starts with `--data-dir <dir>/<node>` (node.key, node.crt and ca.crt are found there). Running the command
 * again reuses the CA and the node keys and issues fresh certificates (renewal, new nodes).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidOptionError } from '../util/errors.js';
import { createDevCa, derToPem, issueNodeCertificate, pemToDer, privateKeyToPem, type CertificateAuthority } from './certificates.js';
import { loadOrCreateNodeKey } from './node-key.js';
import { DATA_DIR_CA_FILE, NODE_CERT_FILE, NODE_KEY_FILE } from './node-security.js';

export const CA_CERT_FILE = DATA_DIR_CA_FILE;
export const CA_KEY_FILE = 'ca.key';

export interface WriteCertificatesOptions {
  /** Output directory. Required. */
  dir: string;
  /** Node names (`name@host`). Required (at least one, unless only the CA is wanted). */
  nodes: readonly string[];
  /** Node certificate validity, days. Default 365. */
  validityDays?: number;
  /** CA validity when a new CA is created, days. Default 3650. */
  caValidityDays?: number;
  /** CA subject CN when a new CA is created. Default 'partisan-ts cluster CA'. */
  caCommonName?: string;
}

export interface WrittenCertificates {
  caCertPath: string;
  caKeyPath: string;
  /** Whether the CA was created now (false: an existing one was reused). */
  caCreated: boolean;
  nodes: Array<{ name: string; dir: string; certPath: string; keyPath: string; notAfter: Date }>;
}

/** A file-system friendly directory name for a node (`gw1@10.0.0.5` stays, `a@[::1]` → `a@___1_`). */
export function nodeDirName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.@-]/g, '_');
}

/** Write atomically with mode 0600 (a temp file renamed over the target). */
async function writePrivate(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
}

async function privateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chmod(path, 0o700);
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A CA from its PEM certificate and PKCS#8 PEM key (as written by writeCertificates). */
export function loadCertificateAuthority(certificatePem: string, privateKeyPem: string): CertificateAuthority {
  const certificateDer = pemToDer(certificatePem);
  const cert = new X509Certificate(certificateDer);
  if (!cert.ca) throw new InvalidOptionError('ca', cert.subject, 'not a CA certificate');
  const privateKey = createPrivateKey({ key: privateKeyPem, format: 'pem' });
  if (!cert.checkPrivateKey(privateKey)) throw new InvalidOptionError('caKey', '<pem>', 'the CA key does not match the CA certificate');
  const commonName = /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? cert.subject;
  return { commonName, certificateDer, certificatePem: derToPem(certificateDer), privateKey };
}

/** Create (or reuse) the CA in `dir` and issue a certificate for every node. */
export async function writeCertificates(options: WriteCertificatesOptions): Promise<WrittenCertificates> {
  const { dir } = options;
  await privateDir(dir);
  const caCertPath = join(dir, CA_CERT_FILE);
  const caKeyPath = join(dir, CA_KEY_FILE);
  const [certPem, keyPem] = await Promise.all([readIfExists(caCertPath), readIfExists(caKeyPath)]);
  let ca: CertificateAuthority;
  let caCreated = false;
  if (certPem !== undefined && keyPem !== undefined) {
    ca = loadCertificateAuthority(certPem, keyPem);
  } else if (certPem !== undefined || keyPem !== undefined) {
    throw new InvalidOptionError('dir', dir, `has only one of ${CA_CERT_FILE} and ${CA_KEY_FILE}; restore the other or use an empty directory`);
  } else {
    ca = await createDevCa({ commonName: options.caCommonName ?? 'partisan-ts cluster CA', validityDays: options.caValidityDays ?? 3650 });
    await writePrivate(caKeyPath, privateKeyToPem(ca.privateKey));
    await writePrivate(caCertPath, ca.certificatePem);
    caCreated = true;
  }
  const nodes: WrittenCertificates['nodes'] = [];
  for (const name of options.nodes) {
    const nodeDir = join(dir, nodeDirName(name));
    await privateDir(nodeDir);
    const keyPath = join(nodeDir, NODE_KEY_FILE);
    const key = await loadOrCreateNodeKey(keyPath);
    const issued = await issueNodeCertificate(ca, { nodeName: name, publicKey: key.publicKey, validityDays: options.validityDays ?? 365 });
    const certPath = join(nodeDir, NODE_CERT_FILE);
    await writePrivate(certPath, issued.certificatePem);
    await writePrivate(join(nodeDir, CA_CERT_FILE), ca.certificatePem);
    nodes.push({ name, dir: nodeDir, certPath, keyPath, notAfter: issued.notAfter });
  }
  return { caCertPath, caKeyPath, caCreated, nodes };
}
