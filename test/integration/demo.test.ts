/**
 * `npm run demo -- --duration N` with stdout not a terminal: plain progress lines, then the
 * summary line, with traffic actually delivered.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('npm run demo', () => {
  it('runs a 4-node cluster for the given duration and prints a summary line', async () => {
    const child = spawn(npm, ['run', '--silent', 'demo', '--', '--duration', '3', '--vehicles', '500'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PARTISAN_LOG_LEVEL: 'warn' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.doesNotMatch(stdout, /\x1b\[/, 'no terminal control sequences when stdout is not a TTY');
    assert.match(stdout, /^demo: t=\d+s \d+ msgs\/s, p99 [\d.]+ ms, members 4\/4\/4\/4/m);
    const summary = /^demo: 4 nodes, (\d+) msgs\/s delivered, p99 ([\d.]+) ms, (\d+) dropped$/m.exec(stdout);
    assert.ok(summary, `summary line missing:\n${stdout}`);
    assert.ok(Number(summary[1]) > 0, 'traffic was delivered');
    assert.ok(Number(summary[2]) > 0);
    assert.equal(Number(summary[3]), 0, 'nothing dropped');
    assert.match(stdout, /every node has every vehicle.s latest position/);
  });
});
