/**
 * The operator documentation stays in step with the code: every error code, every option,
 * flag and environment variable, every diagnostics channel and metric is documented.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { documentedNames } from '../../../scripts/gen-config-docs.js';
import { DiagnosticsChannelNames } from '../../../src/observability/channels.js';
import { ErrorCodes } from '../../../src/util/errors.js';

const read = (path: string): string => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');

describe('docs', () => {
  it('errors.md has one section per code of ErrorCodes, and no other', () => {
    const documented = [...read('docs/errors.md').matchAll(/^### (ERR_[A-Z_]+)\s*$/gm)].map((m) => m[1]!);
    assert.equal(new Set(documented).size, documented.length, 'a code is documented twice');
    const table = Object.keys(ErrorCodes);
    assert.deepEqual(
      table.filter((c) => !documented.includes(c)),
      [],
      'codes missing from docs/errors.md',
    );
    assert.deepEqual(
      documented.filter((c) => !table.includes(c)),
      [],
      'docs/errors.md documents codes that src/util/errors.ts does not have',
    );
  });

  it('configuration.md documents every option, flag and variable (regenerate: npm run docs:config)', () => {
    const text = read('docs/configuration.md');
    const { flags, envs, options } = documentedNames();
    for (const f of flags) assert.ok(text.includes(f), `flag ${f}`);
    for (const e of envs) assert.ok(text.includes(`\`${e}\``), `variable ${e}`);
    for (const o of options) assert.ok(text.includes(`| \`${o.name}\` |`), `option ${o.section}: ${o.name}`);
  });

  it('architecture.md lists every diagnostics channel and metric', () => {
    const text = read('docs/architecture.md');
    for (const name of Object.values(DiagnosticsChannelNames)) assert.ok(text.includes(`\`${name}\``), name);
    const metrics = [...read('src/observability/metrics.ts').matchAll(/this\.(?:gauge|counter)\('([a-z_]+)'/g)].map((m) => `partisan_${m[1]}`);
    assert.ok(metrics.length > 20);
    for (const m of metrics) assert.ok(text.includes(m), m);
  });
});
