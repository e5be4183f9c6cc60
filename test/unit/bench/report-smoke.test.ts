/**
 * `npm run bench:report` renders result documents into Markdown with SVG charts made by
 * Vega-Lite + Vega in Node: a synthetic p2p and hol document in a temporary folder.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { benchEnv } from '../../../native-bench/lib/env.js';
import type { BenchDocument } from '../../../native-bench/lib/result.js';
import { renderReport } from '../../../native-bench/report.js';

const latency = { p50: 1, p90: 2, p99: 3, p999: 4, max: 5, count: 10 };

it('bench:report renders every result document with its machine line and SVG charts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'partisan-report-'));
  try {
    await mkdir(join(dir, 'results'));
    const p2p: BenchDocument = {
      scenario: 'p2p',
      env: benchEnv(),
      options: { command: 'npm run bench -- p2p' },
      runs: [
        { variant: 'quic/100B', transport: 'quic', messageBytes: 100, metrics: { msgsPerSec: 1000, mbPerSec: 0.1, latencyMs: latency, processes: [] } },
        { variant: 'quinn-binding/100B', transport: 'quinn-binding', messageBytes: 100, metrics: { msgsPerSec: 2000, mbPerSec: 0.2, processes: [] } },
      ],
      skipped: [{ variant: 'webtransport/100B', reason: 'handshake failed' }],
      summary: { ratios: [{ transport: 'quic', baseline: 'quinn-binding', messageBytes: 100, ratio: 0.5 }], quic100MsgsPerSec: 1000, targetMet: false },
    };
    const hol: BenchDocument = {
      scenario: 'hol',
      env: benchEnv(),
      options: { command: 'npm run bench -- hol' },
      runs: [
        { variant: 'quic-idle', bulkBytes: 0, rttMs: 0, metrics: { gpsLatencyMs: latency, bulkMBps: 0 } },
        { variant: 'quic-channels', bulkBytes: 524288, rttMs: 0, metrics: { gpsLatencyMs: { ...latency, p99: 6 }, bulkMBps: 100 } },
      ],
      skipped: [],
      summary: { ratios: [{ variant: 'quic-channels', bulkBytes: 524288, rttMs: 0, p99: 6, idleP99: 3, ratio: 2 }], quicChannelsTargetMet: true },
    };
    await writeFile(join(dir, 'results', 'p2p.json'), JSON.stringify(p2p));
    await writeFile(join(dir, 'results', 'hol.json'), JSON.stringify(hol));
    assert.deepEqual((await renderReport(dir)).sort(), ['hol', 'p2p']);
    const md = await readFile(join(dir, 'README.md'), 'utf8');
    assert.match(md, /Machine: .+ cores/);
    assert.match(md, /quinn-binding/);
    assert.match(md, /webtransport\/100B: handshake failed/);
    assert.match(md, /!\[.*\]\(charts\/p2p-throughput\.svg\)/);
    assert.match(md, /!\[.*\]\(charts\/hol-gps-p99\.svg\)/);
    const svg = await readFile(join(dir, 'charts', 'p2p-throughput.svg'), 'utf8');
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
