/**
 * The `partisan-ts` command, run as a real process: certificates from `cert`, two nodes
 * started from config files, `join`, `members`, `status`, and a graceful stop by SIGTERM and by
 * `stop`. The bin (package.json) is dist/src/cli/main.js; this runs its source through tsx.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const env = { ...process.env, PARTISAN_LOG_LEVEL: 'warn' };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Started {
  child: ChildProcess;
  port: number;
  admin: string;
  output: () => string;
  exit: Promise<number | null>;
}

/** `partisan-ts start`, resolved once it printed its listening line. */
function start(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'start', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+) .*admin http:\/\/([\d.]+:\d+)/.exec(stdout);
      if (m) resolve({ child, port: Number(m[1]), admin: m[2]!, output: () => stdout, exit });
    });
    void exit.then((code) => reject(new Error(`start exited (${code}): ${stdout}${stderr}`)));
  });
}

async function adminGet<T>(admin: string, path: string): Promise<T> {
  return (await (await fetch(`http://${admin}${path}`)).json()) as T;
}

async function eventually(probe: () => Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('partisan-ts CLI (real processes)', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('cert, start two nodes from config files, join, members, status, stop', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'partisan-cli-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const cert = await cli(['cert', '--out', join(dir, 'certs'), '--node', 'a@127.0.0.1', '--node', 'b@127.0.0.1']);
    assert.equal(cert.code, 0, cert.stderr);
    assert.match(cert.stdout, /created CA .*ca\.crt/);

    const config = (name: string): string =>
      [`name: ${name}@127.0.0.1`, 'port: 0', 'clusterId: cli-test', 'admin: 127.0.0.1:0', 'channels:', '  - name: gps', '    parallelism: 2', 'broadcast: [gps]', 'security:', `  dataDir: certs/${name}@127.0.0.1`].join('\n');
    await writeFile(join(dir, 'a.yaml'), config('a'));
    await writeFile(join(dir, 'b.json'), JSON.stringify({ name: 'b@127.0.0.1', clusterId: 'cli-test', admin: '127.0.0.1:0', channels: [{ name: 'gps', parallelism: 2 }], broadcast: ['gps'], security: { dataDir: 'certs/b@127.0.0.1' } }));
    const [a, b] = await Promise.all([start(['--config', join(dir, 'a.yaml')]), start(['--config', join(dir, 'b.json')])]);
    cleanup.push(async () => {
      for (const x of [a, b]) if (x.child.exitCode === null && x.child.signalCode === null) x.child.kill('SIGKILL');
      await Promise.all([a.exit, b.exit]);
    });
    assert.match(a.output(), /node a@127\.0\.0\.1 listening on .*\(quic, cluster cli-test, authenticated\); others join it with: a@127\.0\.0\.1:\d+/);

    const joined = await cli(['join', `a@127.0.0.1:${a.port}`, '--admin', b.admin]);
    assert.equal(joined.code, 0, joined.stderr);
    assert.match(joined.stdout, /b@127\.0\.0\.1 is joining a@127\.0\.0\.1:\d+/);
    await eventually(async () => (await adminGet<{ members: string[] }>(a.admin, '/v1/members')).members.length === 2, 'a sees two members');
    await eventually(async () => (await adminGet<{ peers: Array<{ fullyConnected: boolean }> }>(b.admin, '/v1/status')).peers.some((p) => p.fullyConnected), 'b fully connected to a');

    const members = await cli(['members', '--admin', a.admin]);
    assert.equal(members.code, 0, members.stderr);
    assert.deepEqual(members.stdout.trim().split('\n'), ['a@127.0.0.1 (this node)', 'b@127.0.0.1']);

    const status = await cli(['status', '--json', '--admin', b.admin]);
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { node: string; members: string[]; peers: Array<{ node: string; channels: Array<{ channel: string; open: number; parallelism: number }> }>; broadcast: Record<string, unknown> };
    assert.equal(s.node, 'b@127.0.0.1');
    assert.deepEqual(s.members, ['a@127.0.0.1', 'b@127.0.0.1']);
    assert.deepEqual(s.peers[0]!.channels, [
      { channel: 'default', open: 1, parallelism: 1 },
      { channel: 'gps', open: 2, parallelism: 2 },
    ]);
    assert.ok(s.broadcast.gps);
    const text = await cli(['status', '--admin', a.admin]);
    assert.match(text.stdout, /b@127\.0\.0\.1 +(in|out) +default 1\/1 {2}gps 2\/2/);
    assert.match(text.stdout, /broadcast \(per channel\)\n {2}gps/);

    // SIGTERM: b leaves the cluster and exits cleanly.
    b.child.kill('SIGTERM');
    assert.equal(await b.exit, 0);
    assert.match(b.output(), /stopped b@127\.0\.0\.1/);
    await eventually(async () => (await adminGet<{ members: string[] }>(a.admin, '/v1/members')).members.length === 1, 'b left');

    const stop = await cli(['stop', '--admin', a.admin]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await a.exit, 0);
    const gone = await cli(['members', '--admin', a.admin]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no node admin endpoint at/);
  });

  it('refuses a bad configuration, naming the field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'partisan-cli-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'bad.yaml'), 'name: a@127.0.0.1\nkeepalive:\n  idleMs: fast\n');
    const bad = await cli(['start', '--config', join(dir, 'bad.yaml'), '--admin', 'off']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /partisan-ts start: invalid option keepalive\.idleMs="fast"/);
    const env = await cli(['join', 'not-a-node']);
    assert.equal(env.code, 2);
    assert.match(env.stderr, /invalid option node="not-a-node": expected name@host:port/);
  });
});
