/**
 * `partisan-ts start` configuration: a YAML or JSON file, `PARTISAN_*` environment variables
 * and command-line flags, merged in that order (a flag beats the environment, which beats the
 * file), then validated — node options by resolveNodeOptions(), the CLI's own by
 * resolveStartConfig() — so a bad value fails at start with ERR_INVALID_OPTION naming the field.
 *
 * START_OPTIONS is the one table of every flag and variable: the parser, `--help` and
 * docs/configuration.md are generated from it.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { NodeSpec } from '../membership/types.js';
import { resolveNodeOptions, type NodeOptions } from '../node/node-options.js';
import type { HostPort } from '../transport/transport.js';
import { InvalidOptionError, PartisanError } from '../util/errors.js';
import { boolOption, intOption, objectOption, rejectUnknownKeys } from '../util/options.js';
import { parseHostPort, parseNodeRef } from './addresses.js';

export type OptionKind = 'string' | 'int' | 'list' | 'bool' | 'address' | 'channels';

export interface StartOption {
  /** Path in the config file (`security.ca`). */
  key: string;
  /** Command-line flag, commander syntax. */
  flag: string;
  env: string;
  kind: OptionKind;
  /** Shown in --help and docs/configuration.md. */
  description: string;
  /** The default, as text for humans. */
  defaultText: string;
}

/** Every `start` option with a flag and an environment variable. */
export const START_OPTIONS: readonly StartOption[] = [
  { key: 'name', flag: '--name <name@host>', env: 'PARTISAN_NAME', kind: 'string', description: 'Node name, name@host.', defaultText: 'node-<random>@<host>' },
  { key: 'host', flag: '--host <host>', env: 'PARTISAN_HOST', kind: 'string', description: 'Host to listen on and advertise.', defaultText: '127.0.0.1' },
  { key: 'port', flag: '--port <port>', env: 'PARTISAN_PORT', kind: 'int', description: 'Port to listen on (0 picks a free one).', defaultText: '0' },
  { key: 'clusterId', flag: '--cluster-id <id>', env: 'PARTISAN_CLUSTER_ID', kind: 'string', description: 'Cluster id; nodes of another cluster are refused.', defaultText: 'partisan' },
  { key: 'transport', flag: '--transport <kind>', env: 'PARTISAN_TRANSPORT', kind: 'string', description: 'quic, tcp or webtransport.', defaultText: 'quic' },
  {
    key: 'channels',
    flag: '--channels <list>',
    env: 'PARTISAN_CHANNELS',
    kind: 'channels',
    description: 'Channels besides default, comma separated; name or name:parallelism.',
    defaultText: 'none',
  },
  {
    key: 'broadcast',
    flag: '--broadcast <list>',
    env: 'PARTISAN_BROADCAST',
    kind: 'list',
    description: 'Channels that carry Plumtree broadcast with the latestPosition handler (each is added to channels).',
    defaultText: 'none',
  },
  { key: 'peerService', flag: '--peer-service <kind>', env: 'PARTISAN_PEER_SERVICE', kind: 'string', description: 'fullMesh, hyparview or static.', defaultText: 'fullMesh' },
  { key: 'join', flag: '--join <list>', env: 'PARTISAN_JOIN', kind: 'list', description: 'Nodes to join at start, comma separated name@host:port.', defaultText: 'none' },
  {
    key: 'security.ca',
    flag: '--ca <file|dev>',
    env: 'PARTISAN_CA',
    kind: 'string',
    description: "Cluster CA certificate (PEM file) to authenticate peers; 'dev' = an in-memory CA of this process only.",
    defaultText: '<data-dir>/ca.crt; without --data-dir, none: peers are not authenticated',
  },
  { key: 'security.cert', flag: '--cert <file>', env: 'PARTISAN_CERT', kind: 'string', description: "This node's certificate (PEM file).", defaultText: '<data-dir>/node.crt' },
  { key: 'security.keyPath', flag: '--key <file>', env: 'PARTISAN_KEY', kind: 'string', description: "This node's Ed25519 key (PEM file, 0600; created when absent).", defaultText: '<data-dir>/node.key' },
  { key: 'security.dataDir', flag: '--data-dir <dir>', env: 'PARTISAN_DATA_DIR', kind: 'string', description: 'Directory with node.key, node.crt and ca.crt (partisan-ts cert writes one per node); turns authentication on.', defaultText: 'none' },
  {
    key: 'admin',
    flag: '--admin <host:port|off>',
    env: 'PARTISAN_ADMIN',
    kind: 'address',
    description: 'Admin HTTP endpoint for join/leave/members/status/stop (loopback unless told otherwise).',
    defaultText: '127.0.0.1:4370',
  },
  {
    key: 'metrics',
    flag: '--metrics <host:port|off>',
    env: 'PARTISAN_METRICS',
    kind: 'address',
    description: 'Prometheus /metrics endpoint (the admin endpoint serves /metrics too).',
    defaultText: 'off',
  },
  { key: 'logLevel', flag: '--log-level <level>', env: 'PARTISAN_LOG_LEVEL', kind: 'string', description: 'fatal, error, warn, info, debug, trace or silent.', defaultText: 'info' },
  {
    key: 'shutdownTimeoutMs',
    flag: '--shutdown-timeout <ms>',
    env: 'PARTISAN_SHUTDOWN_TIMEOUT',
    kind: 'int',
    description: 'On SIGINT/SIGTERM: time allowed to flush acknowledged messages and leave, ms.',
    defaultText: '10000',
  },
  { key: 'leaveOnStop', flag: '--no-leave-on-stop', env: 'PARTISAN_LEAVE_ON_STOP', kind: 'bool', description: 'Leave the cluster on SIGINT/SIGTERM (--no-leave-on-stop keeps the membership entry).', defaultText: 'true' },
];

/** Keys of NodeOptions a config file may set (the rest are objects only code can give). */
const NODE_KEYS = [
  'name', 'host', 'port', 'listenAddrs', 'clusterId', 'transport', 'quic', 'tcp', 'channels', 'broadcast', 'peerService',
  'membership', 'wire', 'keepalive', 'maxPeers', 'mailboxCapacity', 'remoteRefs', 'delivery', 'security', 'logLevel',
] as const;
const CLI_KEYS = ['join', 'admin', 'metrics', 'shutdownTimeoutMs', 'leaveOnStop'] as const;

/** The merged, not yet validated configuration (file ∪ env ∪ flags). */
export type RawConfig = Record<string, unknown>;

export const DEFAULT_ADMIN: HostPort = { host: '127.0.0.1', port: 4370 };

export interface StartConfig {
  /** Options for startNode(). */
  node: NodeOptions;
  /** Specs to join at start. */
  join: NodeSpec[];
  /** Admin endpoint, or undefined when off. */
  admin: HostPort | undefined;
  /** Dedicated /metrics endpoint, or undefined when off. */
  metrics: HostPort | undefined;
  shutdownTimeoutMs: number;
  leaveOnStop: boolean;
}

/** Read a YAML or JSON config file (YAML is a superset of JSON). Relative paths in it are relative to the file. */
export async function loadConfigFile(path: string): Promise<RawConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidOptionError('config', path, `cannot read the config file: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new InvalidOptionError('config', path, `cannot parse the config file: ${(err as Error).message}`);
  }
  const config = objectOption('config', value ?? {});
  return resolvePaths(config, dirname(resolve(path)));
}

/** Make the file paths a config file names relative to its own directory. */
function resolvePaths(config: RawConfig, base: string): RawConfig {
  const abs = (v: unknown): unknown => (typeof v === 'string' && v !== 'dev' && !v.trimStart().startsWith('-----BEGIN') && !isAbsolute(v) ? resolve(base, v) : v);
  const out: RawConfig = { ...config };
  if (out.security && typeof out.security === 'object') {
    const s = { ...(out.security as Record<string, unknown>) };
    for (const k of ['ca', 'cert', 'key', 'keyPath', 'dataDir']) if (k in s) s[k] = abs(s[k]);
    out.security = s;
  }
  if (out.delivery && typeof out.delivery === 'object') {
    const d = { ...(out.delivery as Record<string, unknown>) };
    if ('journalDir' in d) d.journalDir = abs(d.journalDir);
    out.delivery = d;
  }
  if (out.broadcast && typeof out.broadcast === 'object' && !Array.isArray(out.broadcast)) {
    const b: Record<string, unknown> = {};
    for (const [channel, c] of Object.entries(out.broadcast as Record<string, unknown>)) {
      const h = c && typeof c === 'object' ? (c as Record<string, unknown>).handler : undefined;
      if (h && typeof h === 'object' && typeof (h as Record<string, unknown>).module === 'string' && !/^[a-z]+:/.test((h as Record<string, string>).module!)) {
        b[channel] = { ...(c as object), handler: { ...(h as object), module: resolve(base, (h as Record<string, string>).module!) } };
      } else {
        b[channel] = c;
      }
    }
    out.broadcast = b;
  }
  return out;
}

function setPath(target: RawConfig, key: string, value: unknown): void {
  const parts = key.split('.');
  let at = target;
  for (const p of parts.slice(0, -1)) {
    const next = at[p];
    at[p] = next && typeof next === 'object' && !Array.isArray(next) ? { ...(next as RawConfig) } : {};
    at = at[p] as RawConfig;
  }
  at[parts.at(-1)!] = value;
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Convert one flag or environment value to its config value; `source` names it in errors. */
export function parseOptionValue(option: StartOption, value: unknown, source: string): unknown {
  if (typeof value !== 'string') return value;
  switch (option.kind) {
    case 'int': {
      const n = Number(value);
      if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidOptionError(source, value, 'expected an integer');
      return n;
    }
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(value)) return true;
      if (/^(0|false|no|off)$/i.test(value)) return false;
      throw new InvalidOptionError(source, value, 'expected true or false');
    case 'list':
      return list(value);
    case 'channels':
      return list(value).map((c) => {
        const [name, parallelism] = c.split(':');
        if (parallelism === undefined) return name!;
        const p = Number(parallelism);
        if (!/^\d+$/.test(parallelism)) throw new InvalidOptionError(source, value, 'expected name or name:parallelism, comma separated');
        return { name: name!, parallelism: p };
      });
    default:
      return value;
  }
}

/** PARTISAN_* variables as config values. */
export function configFromEnv(env: NodeJS.ProcessEnv): RawConfig {
  const out: RawConfig = {};
  for (const o of START_OPTIONS) {
    const v = env[o.env];
    if (v !== undefined && v !== '') setPath(out, o.key, parseOptionValue(o, v, o.env));
  }
  return out;
}

/** Commander's parsed flags (camelCased attribute names) as config values. */
export function configFromFlags(flags: Record<string, unknown>): RawConfig {
  const out: RawConfig = {};
  for (const o of START_OPTIONS) {
    const v = flags[flagAttribute(o)];
    if (v === undefined) continue;
    // commander gives --no-x as x=false only when the flag was used; its default (true) is not a value.
    if (o.kind === 'bool' && v === true) continue;
    setPath(out, o.key, parseOptionValue(o, v, flagName(o)));
  }
  return out;
}

export function flagName(o: StartOption): string {
  return o.flag.split(' ')[0]!;
}

/** The attribute commander stores a flag under (`--cluster-id` → clusterId, `--no-leave-on-stop` → leaveOnStop). */
export function flagAttribute(o: StartOption): string {
  return flagName(o)
    .replace(/^--(no-)?/, '')
    .replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** Merge layers: later ones win, key by key (one level deep into security/admin/metrics objects). */
export function mergeConfig(...layers: RawConfig[]): RawConfig {
  const out: RawConfig = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      const prev = out[k];
      out[k] =
        prev && v && typeof prev === 'object' && typeof v === 'object' && !Array.isArray(prev) && !Array.isArray(v) ? { ...(prev as RawConfig), ...(v as RawConfig) } : v;
    }
  }
  return out;
}

function addressOption(field: string, value: unknown, fallback: HostPort | undefined): HostPort | undefined {
  if (value === undefined) return fallback;
  if (value === false || value === 'off' || value === 'false') return undefined;
  if (typeof value === 'string') return parseHostPort(field, value);
  const o = objectOption(field, value);
  rejectUnknownKeys(field, o, ['host', 'port', 'enabled']);
  if (o.enabled === false) return undefined;
  return {
    host: typeof o.host === 'string' ? o.host : (fallback?.host ?? '127.0.0.1'),
    port: intOption(`${field}.port`, o.port, fallback?.port ?? 0, 0, 65535),
  };
}

/**
 * Validate a merged configuration. Node options go through resolveNodeOptions (so its errors
 * name the field); `broadcast` given as a list of names becomes latestPosition channels.
 */
export function resolveStartConfig(raw: RawConfig): StartConfig {
  rejectUnknownKeys('', raw, [...NODE_KEYS, ...CLI_KEYS]);
  const node: RawConfig = {};
  for (const k of NODE_KEYS) if (raw[k] !== undefined) node[k] = raw[k];
  if (Array.isArray(node.broadcast)) {
    const names = node.broadcast as unknown[];
    const broadcast: RawConfig = {};
    for (const [i, n] of names.entries()) {
      if (typeof n !== 'string') throw new InvalidOptionError(`broadcast[${i}]`, n, 'expected a channel name');
      broadcast[n] = { handler: 'latestPosition' };
    }
    node.broadcast = broadcast;
  }
  if (node.broadcast && typeof node.broadcast === 'object') {
    // A broadcast channel must be a channel: add the missing ones.
    const channels = Array.isArray(node.channels) ? [...(node.channels as unknown[])] : [];
    const names = new Set(channels.map((c) => (typeof c === 'string' ? c : (c as { name?: unknown } | null)?.name)));
    for (const b of Object.keys(node.broadcast as RawConfig)) if (!names.has(b)) channels.push(b);
    node.channels = channels;
  }
  // Validate now: a bad value stops `start` before anything listens.
  resolveNodeOptions(node as NodeOptions);

  let join: NodeSpec[] = [];
  if (raw.join !== undefined) {
    const items = typeof raw.join === 'string' ? list(raw.join) : raw.join;
    if (!Array.isArray(items)) throw new InvalidOptionError('join', raw.join, 'expected a list of name@host:port');
    join = items.map((item, i) => {
      if (typeof item === 'string') return parseNodeRef(`join[${i}]`, item);
      throw new InvalidOptionError(`join[${i}]`, item, 'expected name@host:port');
    });
  }
  return {
    node: node as NodeOptions,
    join,
    admin: addressOption('admin', raw.admin, DEFAULT_ADMIN),
    metrics: addressOption('metrics', raw.metrics, undefined),
    shutdownTimeoutMs: intOption('shutdownTimeoutMs', raw.shutdownTimeoutMs, 10_000, 0, 3_600_000),
    leaveOnStop: boolOption('leaveOnStop', raw.leaveOnStop, true),
  };
}

/** Load `--config`/PARTISAN_CONFIG (if any), then env, then flags; validate. */
export async function startConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<StartConfig> {
  const file = (flags.config as string | undefined) ?? env.PARTISAN_CONFIG;
  const fromFile = file ? await loadConfigFile(file) : {};
  try {
    return resolveStartConfig(mergeConfig(fromFile, configFromEnv(env), configFromFlags(flags)));
  } catch (err) {
    if (err instanceof PartisanError && file) err.message = `${err.message} (config file ${file}, environment and flags merged)`;
    throw err;
  }
}
