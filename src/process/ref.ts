import { PartisanError, describe } from '../util/errors.js';
import { boolOption, objectOption, rejectUnknownKeys } from '../util/options.js';

/**
 * Remote references as Partisan URIs (partisan_remote_ref, `remote_ref_format = uri`):
 *
 *     partisan:pid:<node>:<id>    partisan:ref:<node>:<id>    partisan:name:<node>:<name>
 *
 * A ref is a branded string holding the canonical (unpadded) URI, so refs compare with `===`,
 * work as Map keys and cross the wire as they are. Padding is a wire/storage form only.
 *
 * Node names are `name@host`. An IPv6 host is always written in brackets (`gw@[fd00::1]`):
 * the URI uses `:` as its separator, and brackets make the node part unambiguous without
 * escaping (as in URLs, RFC 3986). `toNodeName` brackets a bare IPv6 host for the caller.
 * Hosts are kept as given (no case folding, no IPv6 compression), so `isLocal` is string
 * equality on the canonical form.
 */

export type NodeName = string & { readonly __brand: 'NodeName' };
/** `partisan:pid:<node>:<id>`: a process on a node. */
export type Pid = string & { readonly __brand: 'Pid' };
/** `partisan:ref:<node>:<id>`: a unique reference (monitor, call) made on a node. */
export type Ref = string & { readonly __brand: 'Ref' };
/** `partisan:name:<node>:<registered>`: a process registered under a name on a node. */
export type RegisteredName = string & { readonly __brand: 'RegisteredName' };
export type RemoteRef = Pid | Ref | RegisteredName;

export type RemoteRefParts =
  | { readonly kind: 'pid'; readonly node: NodeName; readonly id: number }
  | { readonly kind: 'ref'; readonly node: NodeName; readonly id: number }
  | { readonly kind: 'name'; readonly node: NodeName; readonly name: string };

export interface RemoteRefOptions {
  /**
   * Pad URIs shorter than 65 bytes to exactly 65 (`:` then 0x1f fill), as Partisan does to
   * force off-heap binaries. One key, unlike Partisan (§7.6: init sets
   * `remote_ref_uri_padding` while the encoder reads `remote_ref_binary_padding`). Default false.
   */
  remoteRefBinaryPadding?: boolean;
}

export interface ResolvedRemoteRefOptions {
  readonly remoteRefBinaryPadding: boolean;
}

export function resolveRemoteRefOptions(options?: RemoteRefOptions, field = 'remoteRefs'): ResolvedRemoteRefOptions {
  const raw = objectOption(field, options);
  rejectUnknownKeys(field, raw, ['remoteRefBinaryPadding']);
  return Object.freeze({ remoteRefBinaryPadding: boolOption(`${field}.remoteRefBinaryPadding`, raw.remoteRefBinaryPadding, false) });
}

/** Partisan's padded width, bytes (`maybe_pad/1`). */
export const REMOTE_REF_PADDED_BYTES = 65;
const PAD_FILL = '\x1f';
const SCHEME = 'partisan:';

// Erlang-ish node name part; hosts: DNS names / IPv4 (letters, digits, `.`, `-`, `_`) or a
// bracketed IPv6 literal with an optional zone (`%eth0`).
const NAME_PART = /^[A-Za-z0-9_.+-]{1,255}$/;
const PLAIN_HOST = /^[A-Za-z0-9_.-]{1,253}$/;
const IPV6_HOST = /^\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?\]$/;
/** Registered names: printable ASCII without `:` (the URI separator and padding marker). */
const REGISTERED = /^[\x21-\x39\x3b-\x7e]{1,255}$/;
const ID = /^(0|[1-9][0-9]{0,15})$/;

function invalid(what: string, input: unknown): PartisanError {
  return new PartisanError('ERR_INVALID_REF', `invalid ${what}: ${describe(input)}`, { details: { input } });
}

/**
 * Validate a node name (`name@host`) and return its canonical form. A bare IPv6 host
 * (`gw@fd00::1`) is bracketed; anything else malformed throws ERR_INVALID_REF.
 */
export function toNodeName(input: string): NodeName {
  const node = canonicalNode(input);
  if (node === undefined) throw invalid('node name', input);
  return node;
}

export function isNodeName(input: unknown): input is NodeName {
  return typeof input === 'string' && canonicalNode(input) === input;
}

function canonicalNode(input: string): NodeName | undefined {
  if (typeof input !== 'string') return undefined;
  const at = input.indexOf('@');
  if (at < 0) return undefined;
  const name = input.slice(0, at);
  let host = input.slice(at + 1);
  if (!NAME_PART.test(name)) return undefined;
  if (!host.startsWith('[') && host.includes(':')) host = `[${host}]`;
  if (!PLAIN_HOST.test(host) && !IPV6_HOST.test(host)) return undefined;
  return `${name}@${host}` as NodeName;
}

function checkId(id: number, input: unknown): number {
  if (!Number.isSafeInteger(id) || id < 0) throw invalid('ref id', input);
  return id;
}

export function pid(node: NodeName | string, id: number): Pid {
  return `${SCHEME}pid:${toNodeName(node)}:${checkId(id, id)}` as Pid;
}

export function ref(node: NodeName | string, id: number): Ref {
  return `${SCHEME}ref:${toNodeName(node)}:${checkId(id, id)}` as Ref;
}

export function registeredName(node: NodeName | string, name: string): RegisteredName {
  if (typeof name !== 'string' || !REGISTERED.test(name)) throw invalid('registered name', name);
  return `${SCHEME}name:${toNodeName(node)}:${name}` as RegisteredName;
}

export function formatRef(parts: RemoteRefParts): RemoteRef {
  switch (parts.kind) {
    case 'pid':
      return pid(parts.node, parts.id);
    case 'ref':
      return ref(parts.node, parts.id);
    case 'name':
      return registeredName(parts.node, parts.name);
    default:
      throw invalid('remote ref parts', parts);
  }
}

/** Parse a URI (padded or not); anything malformed throws ERR_INVALID_REF and nothing else. */
export function parseRef(input: string): RemoteRefParts {
  const parts = tryParse(input);
  if (parts === undefined) throw invalid('remote ref', input);
  return parts;
}

/** The canonical (unpadded) branded form of a URI received from the wire or a user. */
export function toRemoteRef(input: string): RemoteRef {
  return formatRef(parseRef(input));
}

/** Wire/storage form: the URI, padded to 65 bytes when `remoteRefBinaryPadding` is on. */
export function encodeRef(ref: RemoteRef, options: RemoteRefOptions = {}): string {
  if (options.remoteRefBinaryPadding !== true) return ref;
  // Every character of a valid URI is ASCII, so UTF-16 length == byte length.
  if (ref.length >= REMOTE_REF_PADDED_BYTES) return ref;
  return `${ref}:`.padEnd(REMOTE_REF_PADDED_BYTES, PAD_FILL);
}

export function refNode(ref: RemoteRef): NodeName {
  return parseRef(ref).node;
}

export function isRemoteRef(input: unknown): input is RemoteRef {
  return typeof input === 'string' && tryParse(input) !== undefined && !isPadded(input);
}

export function isPid(input: unknown): input is Pid {
  return isRemoteRef(input) && input.startsWith(`${SCHEME}pid:`);
}

export function isReference(input: unknown): input is Ref {
  return isRemoteRef(input) && input.startsWith(`${SCHEME}ref:`);
}

export function isName(input: unknown): input is RegisteredName {
  return isRemoteRef(input) && input.startsWith(`${SCHEME}name:`);
}

/** True when the ref points at `localNode` (Partisan `is_local/2`). */
export function isLocal(ref: RemoteRef, localNode: NodeName): boolean {
  return refNode(ref) === localNode;
}

function isPadded(input: string): boolean {
  return input.endsWith(PAD_FILL) || (input.length === REMOTE_REF_PADDED_BYTES && input.endsWith(':'));
}

/** Strip Partisan padding (`:` + 0x1f fill up to 65 bytes); undefined when it is malformed. */
function unpad(input: string): string | undefined {
  if (input.length !== REMOTE_REF_PADDED_BYTES || !isPadded(input)) return input;
  let end = input.length;
  while (end > 0 && input.charCodeAt(end - 1) === 0x1f) end--;
  if (end === 0 || input.charCodeAt(end - 1) !== 0x3a) return undefined;
  return input.slice(0, end - 1);
}

function tryParse(raw: unknown): RemoteRefParts | undefined {
  if (typeof raw !== 'string' || raw.length > 1024 || !raw.startsWith(SCHEME)) return undefined;
  const input = unpad(raw);
  if (input === undefined) return undefined;
  const kindEnd = input.indexOf(':', SCHEME.length);
  if (kindEnd < 0) return undefined;
  const kind = input.slice(SCHEME.length, kindEnd);
  if (kind !== 'pid' && kind !== 'ref' && kind !== 'name') return undefined;
  // The node part ends at the first `:` after `@`, skipping a bracketed IPv6 host.
  const at = input.indexOf('@', kindEnd + 1);
  if (at < 0) return undefined;
  let nodeEnd: number;
  if (input[at + 1] === '[') {
    const close = input.indexOf(']', at + 2);
    if (close < 0) return undefined;
    nodeEnd = close + 1;
    if (input[nodeEnd] !== ':') return undefined;
  } else {
    nodeEnd = input.indexOf(':', at + 1);
    if (nodeEnd < 0) return undefined;
  }
  const nodeText = input.slice(kindEnd + 1, nodeEnd);
  const node = canonicalNode(nodeText);
  if (node === undefined || node !== nodeText) return undefined;
  const target = input.slice(nodeEnd + 1);
  if (kind === 'name') return REGISTERED.test(target) ? { kind, node, name: target } : undefined;
  if (!ID.test(target)) return undefined;
  const id = Number(target);
  return Number.isSafeInteger(id) ? { kind, node, id } : undefined;
}
