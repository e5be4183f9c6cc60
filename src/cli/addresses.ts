/**
 * The address forms the CLI reads: `host:port` (IPv6 in brackets: `[::1]:9000`) and a node
 * reference `name@host:port` — a node name followed by the port it listens on, at the host of
 * its name. A bare `host:port` cannot say which node answers there, and our handshake checks
 * that the node reached is the node expected (Partisan's unexpected_peer), so `join` needs the
 * name: from `name@host:port`, or by asking that node's admin endpoint (`--peer-admin`).
 */
import type { NodeSpec } from '../membership/types.js';
import { nodeName } from '../membership/types.js';
import type { HostPort } from '../transport/transport.js';
import { InvalidOptionError } from '../util/errors.js';

/** Parse `host:port` / `[v6]:port`. Throws ERR_INVALID_OPTION naming `field`. */
export function parseHostPort(field: string, text: string, allowPortZero = true): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535 || (!allowPortZero && port === 0)) {
    throw new InvalidOptionError(field, text, 'expected host:port (IPv6 as [addr]:port)');
  }
  return { host: (match[1] ?? match[2])!, port };
}

export function formatHostPort(address: HostPort): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** The host part of a node name (`gw1@10.0.0.5` → `10.0.0.5`, `a@[::1]` → `::1`). */
export function hostOfName(name: string): string {
  const host = name.slice(name.lastIndexOf('@') + 1);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Parse a node reference `name@host:port` into a spec reaching the node at `host:port`.
 * `addresses` (e.g. from `--address`) replaces the address derived from the name. Throws
 * ERR_INVALID_OPTION naming `field`.
 */
export function parseNodeRef(field: string, text: string, addresses: HostPort[] = []): NodeSpec {
  const t = text.trim();
  if (!t.includes('@')) {
    throw new InvalidOptionError(field, text, 'expected name@host:port (a bare host:port does not say which node answers there; or use --peer-admin)');
  }
  const portMatch = /:(\d{1,5})$/.exec(t);
  const nameText = portMatch && !t.endsWith(']') ? t.slice(0, portMatch.index) : t;
  let name;
  try {
    name = nodeName(nameText);
  } catch {
    throw new InvalidOptionError(field, text, 'expected name@host:port');
  }
  if (addresses.length > 0) return { name, listenAddrs: addresses };
  if (!portMatch || nameText === t) throw new InvalidOptionError(field, text, 'expected name@host:port (or name@host with --address host:port)');
  const port = Number(portMatch[1]);
  if (port < 1 || port > 65535) throw new InvalidOptionError(field, text, 'port must be 1..65535');
  return { name, listenAddrs: [{ host: hostOfName(nameText), port }] };
}

/** `name@host:port` of a spec's first address when its host is the name's host, else `name` plus addresses. */
export function formatNodeRef(spec: NodeSpec): string {
  const first = spec.listenAddrs[0];
  if (!first) return spec.name;
  return hostOfName(spec.name) === first.host ? `${spec.name}:${first.port}` : `${spec.name} (${spec.listenAddrs.map(formatHostPort).join(', ')})`;
}
