/** The README's code example runs as written (imports rewritten to the sources). */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { it } from 'node:test';

it("runs the README's example", async () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'README has a ts example');
  const index = pathToFileURL(fileURLToPath(new URL('../../../src/index.ts', import.meta.url))).href;
  const logged: unknown[] = [];
  const source = code.replace("from 'partisan-ts'", `from ${JSON.stringify(index)}`).replaceAll('console.log(', 'globalThis.__readmeLog(');
  const file = fileURLToPath(new URL(`./readme-example-${process.pid}.tmp.ts`, import.meta.url));
  (globalThis as Record<string, unknown>).__readmeLog = (...args: unknown[]) => logged.push(...args);
  writeFileSync(file, source);
  try {
    await import(pathToFileURL(file).href);
  } finally {
    rmSync(file, { force: true });
  }
  assert.deepEqual(logged, [{ vehicleId: 'veh-7', lat: 52.1, lon: 4.3 }, { alert: 'geofence' }]);
});
