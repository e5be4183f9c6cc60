/**
 * Types shared by every peer service manager: node names and node specs (DESIGN.md,
 * "Vocabulary"). Pure: no `node:` imports, safe in workers and in the simulator.
 */
import type { HostPort } from '../transport/transport.js';
import { InvalidOptionError, PartisanError } from '../util/errors.js';

/** A node's name, `name@host` (e.g. `gw1@10.0.0.5`). It survives restarts; addresses do not. */
export type NodeName = string & { readonly __brand: 'NodeName' };

/** One address a node listens on. */
export type ListenAddr = HostPort;

/**
 * How to reach a node. Membership is keyed by `name`, so two specs with the same name are two
 * versions of one node, never two members.
 *
 * `channels` holds channel *names* only. Partisan puts each channel's options in the spec
 * (issue #239): they must be identical cluster-wide anyway, bloat every gossip round, and a
 * mismatch made one node appear twice. Channel options are cluster configuration, checked in
 * the handshake; the spec only says which channels a node serves.
 */
export interface NodeSpec {
  readonly name: NodeName;
  /** In order of preference. */
  readonly listenAddrs: readonly ListenAddr[];
  /** Channel names this node serves; absent means "the cluster's configured channels". */
  readonly channels?: readonly string[];
  /** Role for the client/server peer service (Partisan's `tag`): 'server' or 'client'. */
  readonly tag?: string;
}

const NODE_NAME = /^[^\s@]+@[^\s@]+$/;

/** Checks and brands a node name; throws ERR_INVALID_OPTION unless it looks like `name@host`. */
export function nodeName(value: string): NodeName {
  if (typeof value !== 'string' || !NODE_NAME.test(value)) {
    throw new InvalidOptionError('name', value, 'expected a node name of the form name@host');
  }
  return value as NodeName;
}

export function isNodeName(value: unknown): value is NodeName {
  return typeof value === 'string' && NODE_NAME.test(value);
}

/** Same name, same addresses in the same order, same channel set. */
export function specsEqual(a: NodeSpec, b: NodeSpec): boolean {
  if (a === b) return true;
  if (a.name !== b.name || a.tag !== b.tag || a.listenAddrs.length !== b.listenAddrs.length) return false;
  for (let i = 0; i < a.listenAddrs.length; i++) {
    const x = a.listenAddrs[i]!;
    const y = b.listenAddrs[i]!;
    if (x.host !== y.host || x.port !== y.port || x.certHash !== y.certHash) return false;
  }
  const ca = a.channels ? [...a.channels].sort() : undefined;
  const cb = b.channels ? [...b.channels].sort() : undefined;
  if (ca === undefined || cb === undefined) return ca === cb;
  return ca.length === cb.length && ca.every((c, i) => c === cb[i]);
}

/**
 * Validates a spec that came off the wire (gossip, HyParView exchange lists) and returns a
 * fresh object holding only the known fields. Throws ERR_WIRE_MALFORMED_FRAME.
 */
export function parseNodeSpec(value: unknown): NodeSpec {
  const bad = (why: string): never => {
    throw new PartisanError('ERR_WIRE_MALFORMED_FRAME', `malformed node spec: ${why}`, { details: { value } });
  };
  if (value === null || typeof value !== 'object') return bad('not an object');
  const v = value as Record<string, unknown>;
  if (!isNodeName(v.name)) return bad('name is not name@host');
  if (!Array.isArray(v.listenAddrs)) return bad('listenAddrs is not an array');
  const listenAddrs = v.listenAddrs.map((a: unknown): ListenAddr => {
    const addr = a as Record<string, unknown> | null;
    if (addr === null || typeof addr !== 'object' || typeof addr.host !== 'string') return bad('address host');
    if (typeof addr.port !== 'number' || !Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) return bad('address port');
    if (addr.certHash === undefined) return { host: addr.host, port: addr.port };
    if (typeof addr.certHash !== 'string' || !/^[0-9a-f]{64}$/.test(addr.certHash)) return bad('address certHash');
    return { host: addr.host, port: addr.port, certHash: addr.certHash };
  });
  if (v.tag !== undefined && (typeof v.tag !== 'string' || v.tag.length > 64)) return bad('tag is not a short string');
  const tag = v.tag === undefined ? {} : { tag: v.tag as string };
  if (v.channels === undefined) return { name: v.name, listenAddrs, ...tag };
  if (!Array.isArray(v.channels) || !v.channels.every((c) => typeof c === 'string')) return bad('channels is not a list of names');
  return { name: v.name, listenAddrs, channels: [...(v.channels as string[])], ...tag };
}
