import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatNodeRef, parseHostPort, parseNodeRef } from '../../../src/cli/addresses.js';
import { configFromEnv, flagAttribute, loadConfigFile, START_OPTIONS, startConfig } from '../../../src/cli/config.js';
import { isPartisanError } from '../../../src/util/errors.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function file(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'partisan-cli-'));
  dirs.push(dir);
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

function invalid(field: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isPartisanError(err, 'ERR_INVALID_OPTION'), String(err));
    assert.equal(err.details.field, field, err.message);
    return true;
  };
}

describe('partisan-ts start configuration', () => {
  it('has one flag and one PARTISAN_ variable per option', () => {
    const flags = START_OPTIONS.map((o) => flagAttribute(o));
    assert.equal(new Set(flags).size, flags.length);
    assert.ok(START_OPTIONS.every((o) => /^PARTISAN_[A-Z_]+$/.test(o.env)));
    assert.equal(flagAttribute(START_OPTIONS.find((o) => o.key === 'clusterId')!), 'clusterId');
    assert.equal(flagAttribute(START_OPTIONS.find((o) => o.key === 'leaveOnStop')!), 'leaveOnStop');
  });

  it('merges file < environment < flags', async () => {
    const path = await file('node.yaml', ['name: a@127.0.0.1', 'port: 9001', 'clusterId: fleet', 'channels: [gps]', 'admin: 127.0.0.1:4401', 'join: [b@127.0.0.1:9002]'].join('\n'));
    const config = await startConfig({ config: path, port: '9003' }, { PARTISAN_PORT: '9002', PARTISAN_CLUSTER_ID: 'fleet2', PARTISAN_LOG_LEVEL: 'warn' });
    assert.equal(config.node.name, 'a@127.0.0.1');
    assert.equal(config.node.port, 9003);
    assert.equal(config.node.clusterId, 'fleet2');
    assert.equal(config.node.logLevel, 'warn');
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 4401 });
    assert.equal(config.metrics, undefined);
    assert.deepEqual(config.join, [{ name: 'b@127.0.0.1', listenAddrs: [{ host: '127.0.0.1', port: 9002 }] }]);
    assert.equal(config.leaveOnStop, true);
  });

  it('reads JSON, resolves paths relative to the file, and turns a broadcast list into latestPosition channels', async () => {
    const path = await file('node.json', JSON.stringify({ broadcast: ['gps'], channels: [{ name: 'bulk', parallelism: 2 }], security: { dataDir: 'data/a' }, admin: false }));
    const config = await startConfig({ config: path }, {});
    assert.deepEqual(config.node.broadcast, { gps: { handler: 'latestPosition' } });
    assert.deepEqual(config.node.channels, [{ name: 'bulk', parallelism: 2 }, 'gps']);
    assert.equal(config.node.security?.dataDir, join(path, '..', 'data/a'));
    assert.equal(config.admin, undefined);
  });

  it('parses flag and variable values by kind', async () => {
    const config = await startConfig({ channels: 'gps:4,bulk', noLeave: undefined, leaveOnStop: false, ca: 'dev', metrics: '127.0.0.1:0' }, { PARTISAN_JOIN: 'b@127.0.0.1:9002, c@127.0.0.1:9003', PARTISAN_ADMIN: 'off' });
    assert.deepEqual(config.node.channels, [{ name: 'gps', parallelism: 4 }, 'bulk']);
    assert.equal(config.leaveOnStop, false);
    assert.deepEqual(config.node.security, { ca: 'dev' });
    assert.deepEqual(config.metrics, { host: '127.0.0.1', port: 0 });
    assert.equal(config.admin, undefined);
    assert.equal(config.join.length, 2);
  });

  it('names the field of a bad value, wherever it came from', async () => {
    await assert.rejects(startConfig({}, { PARTISAN_PORT: 'ninety' }), invalid('PARTISAN_PORT'));
    await assert.rejects(startConfig({ port: '70000' }, {}), invalid('port'));
    await assert.rejects(startConfig({ transport: 'carrier-pigeon' }, {}), invalid('transport'));
    await assert.rejects(startConfig({ join: 'localhost:9000' }, {}), invalid('join[0]'));
    await assert.rejects(startConfig({ admin: 'nowhere' }, {}), invalid('admin'));
    await assert.rejects(startConfig({ cert: 'x.crt' }, {}), invalid('security.ca'));
    await assert.rejects(startConfig({ config: await file('bad.yaml', 'keepalive:\n  idleMs: 1\n') }, {}), invalid('keepalive.idleMs'));
    await assert.rejects(startConfig({ config: await file('bad.yaml', 'nmae: a@b\n') }, {}), invalid('nmae'));
    await assert.rejects(startConfig({ config: await file('bad.yaml', 'channels: [{name: gps, parallelism: 0}]\n') }, {}), invalid('channels[0][gps].parallelism'));
    await assert.rejects(loadConfigFile('/nonexistent/partisan.yaml'), invalid('config'));
    await assert.rejects(loadConfigFile(await file('bad.yaml', 'a: [')), invalid('config'));
    assert.throws(() => configFromEnv({ PARTISAN_LEAVE_ON_STOP: 'maybe' }), invalid('PARTISAN_LEAVE_ON_STOP'));
  });
});

describe('CLI addresses', () => {
  it('parses host:port and name@host:port', () => {
    assert.deepEqual(parseHostPort('x', '[::1]:80'), { host: '::1', port: 80 });
    assert.deepEqual(parseNodeRef('x', 'gw1@10.0.0.5:9000'), { name: 'gw1@10.0.0.5', listenAddrs: [{ host: '10.0.0.5', port: 9000 }] });
    assert.deepEqual(parseNodeRef('x', 'a@[::1]:9000'), { name: 'a@[::1]', listenAddrs: [{ host: '::1', port: 9000 }] });
    assert.deepEqual(parseNodeRef('x', 'gw1@gw1.local', [{ host: '10.0.0.5', port: 1 }]), { name: 'gw1@gw1.local', listenAddrs: [{ host: '10.0.0.5', port: 1 }] });
    assert.throws(() => parseNodeRef('x', '10.0.0.5:9000'), invalid('x'));
    assert.throws(() => parseNodeRef('x', 'gw1@10.0.0.5'), invalid('x'));
    assert.throws(() => parseHostPort('x', 'a:b'), invalid('x'));
    assert.equal(formatNodeRef({ name: 'gw1@10.0.0.5' as never, listenAddrs: [{ host: '10.0.0.5', port: 9000 }] }), 'gw1@10.0.0.5:9000');
  });
});
