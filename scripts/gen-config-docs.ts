/**
 * Generates docs/configuration.md from the code: every option interface's fields with their
 * doc comments (where each default is written, per STYLE.md) read with the TypeScript compiler
 * API, and the `partisan-ts start` flags and PARTISAN_* variables from START_OPTIONS.
 *
 *   node --import tsx scripts/gen-config-docs.ts          # rewrite docs/configuration.md
 *   node --import tsx scripts/gen-config-docs.ts --check  # exit 1 when it is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { START_OPTIONS, flagName } from '../src/cli/config.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The option interfaces, in reading order: where they sit in `startNode()` options. */
export const SECTIONS: ReadonlyArray<{ path: string; file: string; name: string; intro?: string }> = [
  { path: 'startNode(options)', file: 'src/node/node-options.ts', name: 'NodeOptions' },
  { path: 'channels[]', file: 'src/channels/channel-options.ts', name: 'ChannelOptions', intro: 'Each entry is a channel name or an object; `default` always exists.' },
  { path: 'security', file: 'src/security/node-security.ts', name: 'SecurityOptions', intro: 'Cluster-CA authentication; see "Security" in architecture.md.' },
  { path: 'broadcast.<channel>', file: 'src/broadcast/channel-config.ts', name: 'BroadcastChannelConfig', intro: 'One entry per broadcast channel (each must also be in `channels`).' },
  { path: 'broadcast.<channel>.restartBackoff', file: 'src/broadcast/channel-config.ts', name: 'RestartBackoffOptions' },
  { path: 'broadcast.<channel>.plumtree', file: 'src/broadcast/options.ts', name: 'PlumtreeOptions' },
  { path: "membership (peerService: 'fullMesh')", file: 'src/membership/drivers/full-mesh-service.ts', name: 'FullMeshServiceOptions' },
  { path: "membership (peerService: 'hyparview')", file: 'src/membership/drivers/hyparview-service.ts', name: 'HyParViewServiceOptions', intro: 'Plus every HyParViewOptions field below.' },
  { path: "membership (peerService: 'hyparview'), state machine", file: 'src/membership/hyparview-options.ts', name: 'HyParViewOptions' },
  { path: 'wire', file: 'src/wire/limits.ts', name: 'WireLimitsOptions' },
  { path: 'keepalive', file: 'src/connections/peer-connection.ts', name: 'KeepaliveOptions' },
  { path: 'delivery', file: 'src/node/reliable-delivery.ts', name: 'ReliableDeliveryOptions' },
  { path: 'delivery.ack', file: 'src/delivery/ack-tracker.ts', name: 'AckSenderOptions' },
  { path: 'delivery.causal', file: 'src/delivery/causal.ts', name: 'CausalOptions' },
  { path: 'compression', file: 'src/channels/compression.ts', name: 'CompressionOptions' },
  { path: 'remoteRefs', file: 'src/process/ref.ts', name: 'RemoteRefOptions' },
  { path: "quic (transport: 'quic')", file: 'src/transport/quic/quic-transport.ts', name: 'QuicTransportOptions' },
  { path: "tcp (transport: 'tcp')", file: 'src/transport/tcp/tcp-transport.ts', name: 'TcpTransportOptions' },
  { path: 'forwardMessage(dest, msg, options)', file: 'src/node/node.ts', name: 'ForwardOptions', intro: 'Per-message options (not configuration, listed for completeness).' },
];

export interface OptionDoc {
  name: string;
  type: string;
  doc: string;
  defaultText: string;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** `Default …` sentence of a doc comment (STYLE.md: every default is written next to its field). */
export function defaultOf(doc: string): string {
  // The last "Default …" sentence: an earlier "Default" may be an adjective ("Default mailbox bound").
  const all = [...doc.matchAll(/\bDefaults?\b:?\s*(.+?)(?:\.(?:\s|$)|$)/g)];
  const m = all.at(-1);
  return m ? oneLine(m[1]!) : '';
}

/** The fields of interface `name` in `file`, with their doc comments; undefined when it does not exist. */
export function interfaceOptions(file: string, name: string): OptionDoc[] | undefined {
  let text: string;
  try {
    text = readFileSync(new URL(file, `file://${root}`), 'utf8');
  } catch {
    return undefined;
  }
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  let found: ts.InterfaceDeclaration | undefined;
  source.forEachChild((n) => {
    if (ts.isInterfaceDeclaration(n) && n.name.text === name) found = n;
  });
  if (!found) return undefined;
  const out: OptionDoc[] = [];
  for (const m of found.members) {
    if (!ts.isPropertySignature(m) || !m.name) continue;
    const docs = (m as unknown as { jsDoc?: ts.JSDoc[] }).jsDoc ?? [];
    const doc = oneLine(docs.map((d) => (typeof d.comment === 'string' ? d.comment : ts.getTextOfJSDocComment(d.comment) ?? '')).join(' '));
    out.push({ name: m.name.getText(source), type: oneLine(m.type?.getText(source) ?? 'unknown'), doc, defaultText: defaultOf(doc) });
  }
  return out;
}

/** A table cell inside a code span. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** A table cell of prose: `<name>` placeholders must not read as HTML. */
function prose(text: string): string {
  return cell(text)
    .split('`')
    .map((part, i) => (i % 2 === 0 ? part.replace(/</g, '&lt;') : part))
    .join('`');
}

export function renderConfigurationDoc(): string {
  const lines: string[] = [];
  lines.push('# Configuration');
  lines.push('');
  lines.push('<!-- Generated by scripts/gen-config-docs.ts from the option interfaces and START_OPTIONS: edit those, then run `npm run docs:config`. -->');
  lines.push('');
  lines.push('A node is configured in code with `startNode(options)`, or on the command line with');
  lines.push('`partisan-ts start` — flags, `PARTISAN_*` environment variables or a YAML/JSON config file.');
  lines.push('Every option is validated when the node starts; a bad value fails with `ERR_INVALID_OPTION`');
  lines.push('and a message naming the field and the value, e.g.');
  lines.push('`invalid option keepalive.idleMs="fast": expected an integer in [50, 3600000]`.');
  lines.push('');
  lines.push('## `partisan-ts start`: flags, environment, config file');
  lines.push('');
  lines.push('Precedence: a flag beats its environment variable, which beats the config file, which beats');
  lines.push('the default. `--config <file>` (or `PARTISAN_CONFIG`) names the file: YAML, or JSON when it');
  lines.push('ends in `.json`. The file holds any `startNode()` option that is plain data (everything below');
  lines.push('except `transport` instances, `memoryNetwork`, `authenticator`, `logger`, `clock`, `random`)');
  lines.push('plus the CLI keys of this table; paths in it are relative to the file.');
  lines.push('');
  lines.push('| Flag | Environment | Config key | Default | Meaning |');
  lines.push('|---|---|---|---|---|');
  for (const o of START_OPTIONS) {
    lines.push(`| \`${cell(o.flag)}\` | \`${o.env}\` | \`${o.key}\` | ${prose(o.defaultText)} | ${prose(o.description)} |`);
  }
  lines.push('');
  lines.push('List values (`--channels`, `--broadcast`, `--join`) are comma separated. In a config file,');
  lines.push('`broadcast` may be a list of channel names (each gets the `latestPosition` handler) or the');
  lines.push('full per-channel object; `admin` and `metrics` take `host:port`, `false`, or `{host, port}`.');
  lines.push('The client commands (`join`, `leave`, `members`, `status`, `stop`) find the node with');
  lines.push('`--admin host:port` or `PARTISAN_ADMIN` (default `127.0.0.1:4370`).');
  lines.push('');
  lines.push('```yaml');
  lines.push('# gw1.yaml — partisan-ts start --config gw1.yaml');
  lines.push('name: gw1@10.0.0.5');
  lines.push('host: 10.0.0.5');
  lines.push('port: 9000');
  lines.push('clusterId: fleet');
  lines.push('channels:');
  lines.push('  - { name: gps, parallelism: 2 }');
  lines.push('  - { name: bulk, parallelism: 2, creditBytes: 262144 }');
  lines.push('broadcast:');
  lines.push('  gps: { handler: latestPosition }');
  lines.push('join: [gw2@10.0.0.6:9000]');
  lines.push('security: { dataDir: ./certs/gw1@10.0.0.5 }   # node.key, node.crt, ca.crt from `partisan-ts cert`');
  lines.push('admin: 127.0.0.1:4370');
  lines.push('metrics: 0.0.0.0:9464');
  lines.push('logLevel: info');
  lines.push('```');
  lines.push('');
  lines.push('## `startNode()` options');
  lines.push('');
  lines.push('Each table lists one options object: field, type, default (from the field\'s doc comment) and');
  lines.push('meaning. Nested objects have their own table, titled by their path.');
  for (const s of SECTIONS) {
    const options = interfaceOptions(s.file, s.name);
    if (!options) continue;
    lines.push('');
    lines.push(`### \`${s.path}\``);
    lines.push('');
    lines.push(`\`${s.name}\` in \`${s.file}\`.${s.intro ? ` ${s.intro}` : ''}`);
    lines.push('');
    lines.push('| Option | Type | Default | Meaning |');
    lines.push('|---|---|---|---|');
    for (const o of options) lines.push(`| \`${o.name}\` | \`${cell(o.type)}\` | ${prose(o.defaultText || '—')} | ${prose(o.doc)} |`);
  }
  lines.push('');
  lines.push('## Environment variables read by the library');
  lines.push('');
  lines.push('| Variable | Effect |');
  lines.push('|---|---|');
  lines.push('| `PARTISAN_LOG_LEVEL` | Default of `logLevel` for every node of the process (fatal, error, warn, info, debug, trace, silent). |');
  lines.push(`| ${START_OPTIONS.map((o) => `\`${o.env}\``).join(', ')}, \`PARTISAN_CONFIG\` | Read by \`partisan-ts start\` only (table above). |`);
  lines.push('| `PARTISAN_ADMIN` | Admin endpoint the client commands talk to. |');
  lines.push('');
  return lines.join('\n');
}

/** Names every generated table documents (for the docs test). */
export function documentedNames(): { flags: string[]; envs: string[]; options: Array<{ section: string; name: string }> } {
  return {
    flags: START_OPTIONS.map((o) => flagName(o)),
    envs: START_OPTIONS.map((o) => o.env),
    options: SECTIONS.flatMap((s) => (interfaceOptions(s.file, s.name) ?? []).map((o) => ({ section: s.path, name: o.name }))),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = new URL('docs/configuration.md', `file://${root}`);
  const text = renderConfigurationDoc();
  if (process.argv.includes('--check')) {
    const current = readFileSync(target, 'utf8');
    if (current !== text) {
      process.stderr.write('docs/configuration.md is out of date: run npm run docs:config\n');
      process.exit(1);
    }
  } else {
    writeFileSync(target, text);
    process.stdout.write(`wrote ${fileURLToPath(target)}\n`);
  }
}
