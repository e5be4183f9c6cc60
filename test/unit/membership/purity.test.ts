/**
 * The membership state machines run unchanged in nodes, worker threads and the simulator:
 * they must not reach for the platform, the clock or global randomness (STYLE.md).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const dir = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../../src/membership');
const forbidden: [RegExp, string][] = [
  [/from\s+['"]node:/, 'a node: import'],
  [/\bDate\.now\b|\bnew Date\(/, 'wall-clock time'],
  [/\bperformance\.now\b/, 'monotonic time'],
  [/\bMath\.random\b/, 'global randomness'],
  [/\bset(Timeout|Interval|Immediate)\b/, 'a timer'],
  [/\bprocess\./, 'the process object'],
];

describe('membership purity', () => {
  it('no file in src/membership reaches for node:, time, timers or Math.random', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length >= 10);
    for (const file of files) {
      const code = readFileSync(join(dir, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      for (const [pattern, what] of forbidden) assert.ok(!pattern.test(code), `${file} uses ${what}`);
    }
  });
});
