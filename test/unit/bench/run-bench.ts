/**
 * Runs one `npm run bench` scenario in --quick mode in a child process and returns its result
 * document, for the smoke tests: they prove each scenario still runs end to end and writes the
 * documented shape. No timing thresholds: the machine running the tests may be arbitrarily busy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchDocument } from '../../../native-bench/lib/result.js';

export async function runQuick(scenario: string, args: string[] = []): Promise<{ doc: BenchDocument; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), `partisan-bench-${scenario}-`));
  try {
    const json = join(dir, `${scenario}.json`);
    const child = spawn(process.execPath, ['--import', 'tsx', 'native-bench/run.ts', scenario, '--quick', '--json', json, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, output);
    const doc = JSON.parse(await readFile(json, 'utf8')) as BenchDocument;
    assertShape(doc, scenario);
    return { doc, output };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The shape every scenario writes: { scenario, env: {commit, node, cpu, cores, date}, options, runs: [{variant, metrics}] }. */
export function assertShape(doc: BenchDocument, scenario: string): void {
  assert.equal(doc.scenario, scenario);
  assert.ok(doc.env.commit && doc.env.node && doc.env.cpu && doc.env.cores > 0 && doc.env.date, 'env');
  assert.equal(typeof doc.env.loadAverage, 'number');
  assert.equal(typeof doc.options, 'object');
  assert.ok(Array.isArray(doc.runs) && Array.isArray(doc.skipped));
  for (const run of doc.runs) {
    assert.equal(typeof run.variant, 'string');
    assert.equal(typeof run.metrics, 'object');
  }
}

/** Variants of the document, sorted. */
export function variants(doc: BenchDocument): string[] {
  return doc.runs.map((r) => r.variant).sort();
}
