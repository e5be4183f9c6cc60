import { randomBytes } from 'node:crypto';
import { resolveChannels, type ChannelOptions, type ResolvedChannel } from '../channels/channel-options.js';
import type { KeepaliveOptions } from '../connections/peer-connection.js';
import type { Authenticator } from '../connections/handshake.js';
import type { Logger } from 'pino';
import { resolveSecurityOptions, type ResolvedSecurityOptions, type SecurityOptions } from '../security/node-security.js';
import type { ReliableDeliveryOptions } from './reliable-delivery.js';
import { resolveCompressionOptions, type CompressionOptions } from '../channels/compression.js';
import { resolveRemoteRefOptions, type RemoteRefOptions, type ResolvedRemoteRefOptions } from '../process/ref.js';
import type { Transport, HostPort } from '../transport/transport.js';
import type { MemoryNetwork } from '../transport/memory/memory-transport.js';
import { systemClock, type Clock } from '../util/clock.js';
import { InvalidOptionError } from '../util/errors.js';
import { enumOption, intOption, objectOption, rejectUnknownKeys, stringOption } from '../util/options.js';
import { systemRandom, type Random } from '../util/random.js';
import { resolveWireLimits, type WireLimits, type WireLimitsOptions } from '../wire/limits.js';

export type TransportKind = 'quic' | 'tcp' | 'webtransport' | 'memory';
export type PeerServiceKind = 'fullMesh' | 'hyparview' | 'clientServer' | 'static';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Everything `startNode()` takes. Every field is optional; the defaults make a working
 * single node on loopback over QUIC.
 */
export interface NodeOptions {
  /** Node name `name@host`. Default `node-<random hex>@<host>` (Partisan generates one too). */
  name?: string;
  /** Host to listen on and advertise. Default '127.0.0.1'. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 0. */
  port?: number;
  /** Full list of listen addresses; overrides host/port. */
  listenAddrs?: HostPort[];
  /** Nodes of another cluster id are refused in the handshake. Default 'partisan'. */
  clusterId?: string;
  /** 'quic' (default), 'tcp', 'webtransport', 'memory', or a Transport instance. */
  transport?: TransportKind | Transport;
  /** With transport 'memory': the in-process network to join. Default: one shared per process. */
  memoryNetwork?: MemoryNetwork;
  /** Options passed to the quic transport (see QuicTransportOptions). */
  quic?: Record<string, unknown>;
  /** Options passed to the webtransport transport (see WebTransportOptions). */
  webtransport?: Record<string, unknown>;
  /** Options passed to the tcp transport (see TcpTransportOptions). */
  tcp?: Record<string, unknown>;
  /** Channels besides `default` (which always exists). Default: none. */
  channels?: Array<ChannelOptions | string>;
  /**
   * Broadcast channels: channel name → its Plumtree/handler settings (see the broadcast layer's
   * BroadcastChannelConfig: `handler`, `worker`, `plumtree`). Each must also be in `channels`.
   * Default: none.
   */
  broadcast?: Record<string, unknown>;
  /**
   * This node's role for `peerService: 'clientServer'` — 'server' (connects to everyone) or
   * 'client' (connects to servers only) — as Partisan's `tag`. Default: env PARTISAN_TAG, else none.
   */
  tag?: string;
  /** Membership strategy. Default 'fullMesh'. */
  peerService?: PeerServiceKind;
  /** Peer-service specific settings (gossip period, HyParView view sizes, …). */
  membership?: Record<string, unknown>;
  /** Frame size and handshake limits. */
  wire?: WireLimitsOptions;
  /** Application keepalive on every connection. Defaults: idle 5000 ms, timeout 5000 ms, 3 attempts. */
  keepalive?: Partial<KeepaliveOptions>;
  /** Peer slots in the connection table. Default 1024. */
  maxPeers?: number;
  /** Default mailbox bound for spawned processes, messages. Default 1,000,000. */
  mailboxCapacity?: number;
  /** Remote reference encoding (padding). */
  remoteRefs?: RemoteRefOptions;
  /** Checks peers' credentials in the handshake. Default: accept every peer of the cluster id. */
  authenticator?: Authenticator;
  /**
   * Cluster-CA authentication (src/security/node-security.ts): the CA, this node's certificate
   * and its persistent Ed25519 key. Builds the authenticator, makes QUIC prove the certified key
   * and gives tcp mutual TLS. Use `{ ca: 'dev' }` for a development CA shared by the nodes of
   * one process. Default: none (every peer of the cluster id is accepted). Not with `authenticator`.
   */
  security?: SecurityOptions;
  /** Log level of the node's pino logger. Default `PARTISAN_LOG_LEVEL` from the environment, else 'info'. */
  logLevel?: LogLevel;
  /** A pino logger to log to (its level wins over logLevel). Default: a new one on stderr. */
  logger?: Logger;
  /**
   * `ack: true` retransmission/deadlines, causal buffer bounds, and `journalDir` for
   * exactly-once across receiver restarts (see ReliableDeliveryOptions). Default: in memory.
   */
  delivery?: ReliableDeliveryOptions;
  /** Payload compression for channels with `compression` set: threshold, pool or inline. */
  compression?: CompressionOptions;
  /** Injected time source (tests, simulator). Default: the system clock. */
  clock?: Clock;
  /** Injected randomness (tests, simulator). Default: Math.random. */
  random?: Random;
}

export interface ResolvedNodeOptions {
  readonly name: string;
  readonly listenAddrs: HostPort[];
  readonly clusterId: string;
  readonly transport: TransportKind | Transport;
  readonly memoryNetwork: MemoryNetwork | undefined;
  readonly quic: Record<string, unknown>;
  readonly webtransport: Record<string, unknown>;
  readonly tcp: Record<string, unknown>;
  readonly channels: ResolvedChannel[];
  readonly broadcast: Record<string, unknown>;
  readonly tag: string | undefined;
  readonly peerService: PeerServiceKind;
  readonly membership: Record<string, unknown>;
  readonly wire: WireLimits;
  readonly keepalive: KeepaliveOptions;
  readonly maxPeers: number;
  readonly mailboxCapacity: number;
  readonly remoteRefs: ResolvedRemoteRefOptions;
  readonly authenticator: Authenticator | undefined;
  readonly security: ResolvedSecurityOptions | undefined;
  readonly logLevel: LogLevel;
  readonly logger: Logger | undefined;
  readonly delivery: ReliableDeliveryOptions;
  readonly compression: CompressionOptions;
  readonly clock: Clock;
  readonly random: Random;
}

const KEYS = [
  'name', 'host', 'port', 'listenAddrs', 'clusterId', 'transport', 'memoryNetwork', 'quic', 'webtransport', 'tcp', 'channels', 'broadcast', 'tag',
  'peerService', 'membership', 'wire', 'keepalive', 'maxPeers', 'mailboxCapacity', 'remoteRefs', 'authenticator',
  'clock', 'random', 'delivery', 'compression', 'security', 'logLevel', 'logger',
] as const;

const NODE_NAME = /^[A-Za-z0-9_.+-]{1,255}@(\[[0-9A-Fa-f:.%A-Za-z]+\]|[A-Za-z0-9_.-]{1,253})$/;

function bracketIfIpv6(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function resolveAddress(field: string, value: unknown): HostPort {
  const raw = objectOption(field, value);
  return {
    host: stringOption(`${field}.host`, raw.host, '127.0.0.1'),
    port: intOption(`${field}.port`, raw.port, 0, 0, 65535),
  };
}

export function resolveNodeOptions(options: NodeOptions = {}): ResolvedNodeOptions {
  const raw = objectOption('options', options);
  rejectUnknownKeys('', raw, KEYS);
  const host = stringOption('host', raw.host, '127.0.0.1');
  const port = intOption('port', raw.port, 0, 0, 65535);
  let listenAddrs: HostPort[];
  if (raw.listenAddrs !== undefined) {
    if (!Array.isArray(raw.listenAddrs) || raw.listenAddrs.length === 0) {
      throw new InvalidOptionError('listenAddrs', raw.listenAddrs, 'expected a non-empty array of {host, port}');
    }
    listenAddrs = raw.listenAddrs.map((a, i) => resolveAddress(`listenAddrs[${i}]`, a));
  } else {
    listenAddrs = [{ host, port }];
  }
  const name = stringOption('name', raw.name, `node-${randomBytes(4).toString('hex')}@${bracketIfIpv6(listenAddrs[0]!.host)}`);
  if (!NODE_NAME.test(name)) throw new InvalidOptionError('name', name, 'expected name@host (host may be a bracketed IPv6 address)');
  const transport = raw.transport;
  if (transport !== undefined && typeof transport !== 'object') {
    enumOption('transport', transport, 'quic', ['quic', 'tcp', 'webtransport', 'memory']);
  } else if (transport !== undefined && (transport === null || typeof (transport as Transport).dial !== 'function')) {
    throw new InvalidOptionError('transport', transport, "expected 'quic', 'tcp', 'webtransport', 'memory' or a Transport");
  }
  const keepalive = objectOption('keepalive', raw.keepalive);
  rejectUnknownKeys('keepalive', keepalive, ['idleMs', 'timeoutMs', 'attempts']);
  return Object.freeze({
    name,
    listenAddrs,
    clusterId: stringOption('clusterId', raw.clusterId, 'partisan', /^[A-Za-z0-9_.:-]{1,128}$/),
    transport: (transport as TransportKind | Transport | undefined) ?? 'quic',
    memoryNetwork: raw.memoryNetwork as MemoryNetwork | undefined,
    quic: objectOption('quic', raw.quic),
    webtransport: objectOption('webtransport', raw.webtransport),
    tcp: objectOption('tcp', raw.tcp),
    channels: resolveChannels(raw.channels as Array<ChannelOptions | string> | undefined),
    tag: raw.tag === undefined && process.env.PARTISAN_TAG === undefined ? undefined : stringOption('tag', raw.tag ?? process.env.PARTISAN_TAG, '', /^[A-Za-z0-9_.-]{1,64}$/),
    broadcast: resolveBroadcastChannels(raw.broadcast, raw.channels as Array<ChannelOptions | string> | undefined),
    peerService: enumOption<PeerServiceKind>('peerService', raw.peerService, 'fullMesh', ['fullMesh', 'hyparview', 'clientServer', 'static']),
    membership: objectOption('membership', raw.membership),
    wire: resolveWireLimits(raw.wire as WireLimitsOptions | undefined),
    keepalive: {
      idleMs: intOption('keepalive.idleMs', keepalive.idleMs, 5_000, 50, 3_600_000),
      timeoutMs: intOption('keepalive.timeoutMs', keepalive.timeoutMs, 5_000, 50, 3_600_000),
      attempts: intOption('keepalive.attempts', keepalive.attempts, 3, 1, 100),
    },
    maxPeers: intOption('maxPeers', raw.maxPeers, 1024, 1, 1_000_000),
    mailboxCapacity: intOption('mailboxCapacity', raw.mailboxCapacity, 1_000_000, 1, 1 << 30),
    remoteRefs: resolveRemoteRefOptions(raw.remoteRefs as RemoteRefOptions | undefined),
    authenticator: raw.authenticator as Authenticator | undefined,
    security: resolveSecurity(raw.security, raw.authenticator),
    logLevel: enumOption<LogLevel>('logLevel', raw.logLevel, envLogLevel(), LOG_LEVELS),
    logger: raw.logger as Logger | undefined,
    delivery: objectOption('delivery', raw.delivery) as ReliableDeliveryOptions,
    compression: resolveCompressionOptions(raw.compression as CompressionOptions | undefined),
    clock: (raw.clock as Clock | undefined) ?? systemClock,
    random: (raw.random as Random | undefined) ?? systemRandom,
  });
}

function resolveSecurity(value: unknown, authenticator: unknown): ResolvedSecurityOptions | undefined {
  if (value === undefined) return undefined;
  if (authenticator !== undefined) throw new InvalidOptionError('security', '<security>', 'give either security or authenticator, not both');
  return resolveSecurityOptions(value);
}

/** PARTISAN_LOG_LEVEL when it names a level, else 'info'. */
function envLogLevel(): LogLevel {
  const level = process.env.PARTISAN_LOG_LEVEL;
  return (LOG_LEVELS as readonly string[]).includes(level ?? '') ? (level as LogLevel) : 'info';
}

/** Broadcast channel configs stay opaque here (the broadcast layer validates them); names must be channels. */
function resolveBroadcastChannels(value: unknown, channels: Array<ChannelOptions | string> | undefined): Record<string, unknown> {
  const raw = objectOption('broadcast', value);
  const known = new Set((channels ?? []).map((c) => (typeof c === 'string' ? c : c.name)));
  for (const name of Object.keys(raw)) {
    if (!known.has(name)) throw new InvalidOptionError(`broadcast.${name}`, raw[name], 'a broadcast channel must also be listed in channels');
    if (name === 'default') throw new InvalidOptionError('broadcast.default', raw[name], 'the default channel carries control traffic and cannot be a broadcast channel');
  }
  return raw;
}
