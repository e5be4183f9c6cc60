import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Piscina } from 'piscina';

/** One compression task in a piscina worker: stateless, CPU only, bytes in and out. */
export interface CompressionTask {
  op: 'deflate' | 'inflate';
  data: Uint8Array;
  level: number;
  /** Largest inflated size accepted (zip-bomb guard). */
  maxOutput: number;
}

export default function compressionTask(task: CompressionTask): unknown {
  const out =
    task.op === 'deflate'
      ? deflateRawSync(task.data, { level: task.level })
      : inflateRawSync(task.data, { maxOutputLength: task.maxOutput });
  // Move the result back instead of copying it.
  return Piscina.move(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
}
