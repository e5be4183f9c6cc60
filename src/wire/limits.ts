import { intOption, objectOption, rejectUnknownKeys } from '../util/options.js';

export interface WireLimitsOptions {
  /** Largest frame body accepted or sent, in bytes. Default 8 MiB (8388608). */
  maxFrameSize?: number;
  /** How long a peer has to complete our handshake, in ms. Default 10000. */
  maxHandshakeTime?: number;
  /**
   * Largest batched write while a lane is backlogged, bytes. Default 256 KiB (262144): each
   * native write costs a round trip to the transport's thread, and measured 100 B throughput
   * rose 1.7× from 64 KiB to 256 KiB writes (docs/benchmarks, quic-batch256k).
   */
  writeBatchBytes?: number;
  /** Bytes asked for per read from a stream; ≥ 64 KiB keeps native calls rare. Default 65536. */
  readChunkBytes?: number;
}

export interface WireLimits {
  readonly maxFrameSize: number;
  readonly maxHandshakeTime: number;
  readonly writeBatchBytes: number;
  readonly readChunkBytes: number;
}

export const DEFAULT_WIRE_LIMITS: WireLimits = Object.freeze({
  maxFrameSize: 8 * 1024 * 1024,
  maxHandshakeTime: 10_000,
  writeBatchBytes: 256 * 1024,
  readChunkBytes: 64 * 1024,
});

/** Largest frame the length prefix can express with room for the type byte. */
const ABSOLUTE_MAX_FRAME = 2 ** 31 - 1;

export function resolveWireLimits(options: WireLimitsOptions | undefined, field = 'wire'): WireLimits {
  const raw = objectOption(field, options);
  rejectUnknownKeys(field, raw, ['maxFrameSize', 'maxHandshakeTime', 'writeBatchBytes', 'readChunkBytes']);
  return Object.freeze({
    maxFrameSize: intOption(`${field}.maxFrameSize`, raw.maxFrameSize, DEFAULT_WIRE_LIMITS.maxFrameSize, 1024, ABSOLUTE_MAX_FRAME),
    maxHandshakeTime: intOption(`${field}.maxHandshakeTime`, raw.maxHandshakeTime, DEFAULT_WIRE_LIMITS.maxHandshakeTime, 1, 3_600_000),
    writeBatchBytes: intOption(`${field}.writeBatchBytes`, raw.writeBatchBytes, DEFAULT_WIRE_LIMITS.writeBatchBytes, 1024, 16 * 1024 * 1024),
    readChunkBytes: intOption(`${field}.readChunkBytes`, raw.readChunkBytes, DEFAULT_WIRE_LIMITS.readChunkBytes, 1024, 16 * 1024 * 1024),
  });
}
