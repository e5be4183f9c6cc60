import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import { Piscina } from 'piscina';
import { PartisanError, WireError } from '../util/errors.js';
import { enumOption, intOption, objectOption, rejectUnknownKeys } from '../util/options.js';
import { siblingModuleUrl } from '../util/worker.js';
import type { CompressionTask } from './compression-worker.js';

/**
 * Payload compression for channels with `compression` set (Partisan's channel option). Large
 * payloads are msgpack-encoded and deflated in a piscina pool, so a bulk channel's 512 KiB
 * payloads never block the event loop that serves latency-sensitive channels; small ones are
 * sent as they are (compressing 100 bytes costs more than it saves).
 */

export interface CompressionOptions {
  /** Payloads whose estimated encoded size is at least this are compressed, bytes. Default 16 KiB. */
  thresholdBytes?: number;
  /** 'pool' (piscina worker threads) or 'inline' (on the calling thread, for comparison). Default 'pool'. */
  mode?: 'pool' | 'inline';
  /** Pool threads. Default 1 (the machine's other core does the rest). */
  maxThreads?: number;
  /** Largest payload accepted after inflating, bytes (guards against zip bombs). Default 64 MiB. */
  maxInflatedBytes?: number;
}

export interface ResolvedCompressionOptions {
  readonly thresholdBytes: number;
  readonly mode: 'pool' | 'inline';
  readonly maxThreads: number;
  readonly maxInflatedBytes: number;
}

export function resolveCompressionOptions(options?: CompressionOptions, field = 'compression'): ResolvedCompressionOptions {
  const raw = objectOption(field, options);
  rejectUnknownKeys(field, raw, ['thresholdBytes', 'mode', 'maxThreads', 'maxInflatedBytes']);
  return Object.freeze({
    thresholdBytes: intOption(`${field}.thresholdBytes`, raw.thresholdBytes, 16 * 1024, 0, 1 << 30),
    mode: enumOption(`${field}.mode`, raw.mode, 'pool', ['pool', 'inline'] as const),
    maxThreads: intOption(`${field}.maxThreads`, raw.maxThreads, 1, 1, 64),
    maxInflatedBytes: intOption(`${field}.maxInflatedBytes`, raw.maxInflatedBytes, 64 * 1024 * 1024, 1024, 2 ** 31),
  });
}

export class PayloadCompression {
  readonly options: ResolvedCompressionOptions;
  private pool: Piscina | undefined;
  private closed = false;
  readonly counters = { compressed: 0, bytesIn: 0, bytesOut: 0, inflated: 0 };

  constructor(options?: CompressionOptions) {
    this.options = resolveCompressionOptions(options);
  }

  /** msgpack-encode and deflate `payload` at `level`. */
  async compress(payload: unknown, level: number): Promise<Uint8Array> {
    // A fresh buffer of our own: msgpackr may reuse its output buffer, and this one is transferred.
    const raw = new Uint8Array(pack(payload));
    const rawBytes = raw.length; // read before the buffer is transferred to the pool
    const out = this.options.mode === 'inline' ? deflateRawSync(raw, { level }) : await this.run({ op: 'deflate', data: raw, level, maxOutput: 0 }, raw);
    this.counters.compressed++;
    this.counters.bytesIn += rawBytes;
    this.counters.bytesOut += out.length;
    return out;
  }

  /** Inflate and decode a payload `compress` produced. Malformed input → ERR_WIRE_MALFORMED_FRAME. */
  async decompress(data: Uint8Array): Promise<unknown> {
    try {
      const raw =
        this.options.mode === 'inline'
          ? inflateRawSync(data, { maxOutputLength: this.options.maxInflatedBytes })
          : await this.run({ op: 'inflate', data: new Uint8Array(data), level: 0, maxOutput: this.options.maxInflatedBytes });
      this.counters.inflated++;
      return unpack(raw);
    } catch (err) {
      throw new WireError('ERR_WIRE_MALFORMED_FRAME', `compressed payload could not be decoded: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  private run(task: CompressionTask, transfer?: Uint8Array): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new PartisanError('ERR_NODE_STOPPED', 'compression pool is closed'));
    // Started on first use: nodes with no compressed channel never spawn threads.
    this.pool ??= new Piscina({
      filename: siblingModuleUrl(import.meta.url, './compression-worker').href,
      maxThreads: this.options.maxThreads,
      minThreads: 0,
      idleTimeout: 30_000,
    });
    const data = transfer ?? task.data;
    return this.pool.run(task, { transferList: [data.buffer as ArrayBuffer] }) as Promise<Uint8Array>;
  }
}
