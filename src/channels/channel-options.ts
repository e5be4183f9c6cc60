import { InvalidOptionError } from '../util/errors.js';
import { boolOption, enumOption, intOption, objectOption, rejectUnknownKeys } from '../util/options.js';

/** The channel every node has: control traffic and point-to-point messages (Partisan's `undefined`). */
export const DEFAULT_CHANNEL = 'default';

const CHANNEL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export type OverflowPolicy = 'block' | 'dropOldest' | 'error';

/** Where a channel's incoming frames are decoded: on the main thread, or in the node's decode worker. */
export type DecodeThread = 'main' | 'worker';

export interface ChannelOptions {
  /** Channel name: 1–64 characters of [A-Za-z0-9_.-]. */
  name: string;
  /** Streams per peer; a partition key picks one, so per-key order holds. Default 1. */
  parallelism?: number;
  /**
   * Newest value per partition key wins: while the outbound queue is backed up, a queued
   * message is replaced by a newer one with the same key (latest GPS position). Default false.
   */
  monotonic?: boolean;
  /** Compress payloads: false, true (level 6) or a zlib level 0–9, as Partisan. Default false. */
  compression?: boolean | number;
  /**
   * Outbound queue bound per (peer, stream), in messages. Default 4096: enough to batch a
   * full write, small enough that a saturated lane neither queues seconds of latency nor keeps
   * tens of thousands of messages alive through young-generation GCs (measured: 1.4× the
   * throughput and a tenth of the p99 of 65536, docs/benchmarks quic-queue4k).
   */
  maxQueueMessages?: number;
  /** Outbound queue bound per (peer, stream), in bytes. Default 16 MiB. */
  maxQueueBytes?: number;
  /** What a full outbound queue does: 'block' the sender, 'dropOldest', or 'error'. Default 'dropOldest' for monotonic channels, otherwise 'block'. */
  overflow?: OverflowPolicy;
  /**
   * Receiver credit window per stream, bytes: at most this much may be in flight unread.
   * Bounds head-of-line delay a bulk channel imposes on others. Default 1 MiB.
   */
  creditBytes?: number;
  /**
   * Where incoming frames are decoded. 'worker' keeps a bulk channel's frame decoding off the
   * main thread that serves latency-sensitive channels (DESIGN.md's head-of-line rules): its
   * streams hand whole frames to the node's decode worker, which returns decoded messages, with
   * binary payloads moved rather than copied. Per-stream order is kept. Not allowed on the
   * default channel (it carries control traffic). Default 'main'.
   */
  decode?: DecodeThread;
}

export interface ResolvedChannel {
  readonly name: string;
  readonly parallelism: number;
  readonly monotonic: boolean;
  /** zlib level, or 0 for off. */
  readonly compression: number;
  readonly maxQueueMessages: number;
  readonly maxQueueBytes: number;
  readonly overflow: OverflowPolicy;
  readonly creditBytes: number;
  readonly decode: DecodeThread;
}

const KEYS = ['name', 'parallelism', 'monotonic', 'compression', 'maxQueueMessages', 'maxQueueBytes', 'overflow', 'creditBytes', 'decode'] as const;

export function resolveChannelOptions(options: ChannelOptions | string, field = 'channels'): ResolvedChannel {
  const raw = typeof options === 'string' ? { name: options } : objectOption(field, options);
  const name = raw.name;
  if (typeof name !== 'string' || !CHANNEL_NAME.test(name)) {
    throw new InvalidOptionError(`${field}.name`, name, 'expected 1-64 characters of [A-Za-z0-9_.-]');
  }
  const at = `${field}[${name}]`;
  rejectUnknownKeys(at, raw, KEYS);
  const monotonic = boolOption(`${at}.monotonic`, raw.monotonic, false);
  let compression = 0;
  const decode = enumOption<DecodeThread>(`${at}.decode`, raw.decode, 'main', ['main', 'worker']);
  if (decode === 'worker' && name === DEFAULT_CHANNEL) {
    throw new InvalidOptionError(`${at}.decode`, decode, 'the default channel carries control traffic and is decoded on the main thread');
  }
  if (raw.compression === true) compression = 6;
  else if (raw.compression !== undefined && raw.compression !== false) compression = intOption(`${at}.compression`, raw.compression, 0, 0, 9);
  return Object.freeze({
    name,
    parallelism: intOption(`${at}.parallelism`, raw.parallelism, 1, 1, 64),
    monotonic,
    compression,
    maxQueueMessages: intOption(`${at}.maxQueueMessages`, raw.maxQueueMessages, 4096, 1, 1 << 30),
    maxQueueBytes: intOption(`${at}.maxQueueBytes`, raw.maxQueueBytes, 16 * 1024 * 1024, 1024, 2 ** 40),
    overflow: enumOption<OverflowPolicy>(`${at}.overflow`, raw.overflow, monotonic ? 'dropOldest' : 'block', ['block', 'dropOldest', 'error']),
    creditBytes: intOption(`${at}.creditBytes`, raw.creditBytes, 1024 * 1024, 64 * 1024, 1 << 30),
    decode,
  });
}

/**
 * Resolve a node's channel list: names must be unique, and the default channel is always
 * present. Unlike Partisan (§7.8), options given for the default channel are honoured.
 */
export function resolveChannels(channels: ReadonlyArray<ChannelOptions | string> | undefined): ResolvedChannel[] {
  if (channels !== undefined && !Array.isArray(channels)) throw new InvalidOptionError('channels', channels, 'expected an array');
  const out: ResolvedChannel[] = [];
  const seen = new Set<string>();
  for (const [i, c] of (channels ?? []).entries()) {
    const resolved = resolveChannelOptions(c, `channels[${i}]`);
    if (seen.has(resolved.name)) throw new InvalidOptionError(`channels[${i}].name`, resolved.name, 'duplicate channel name');
    seen.add(resolved.name);
    out.push(resolved);
  }
  if (!seen.has(DEFAULT_CHANNEL)) out.unshift(resolveChannelOptions(DEFAULT_CHANNEL));
  else out.sort((a, b) => (a.name === DEFAULT_CHANNEL ? -1 : b.name === DEFAULT_CHANNEL ? 1 : 0));
  return out;
}
