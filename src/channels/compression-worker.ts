import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Piscina } from 'piscina';
import { wholeTransferable } from '../util/worker.js';

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
  // Move the result back rather than have it cloned. zlib's output may be a view of a larger
  // or untransferable ArrayBuffer (Node 24 refuses to transfer it: DataCloneError), so move
  // only a buffer that is wholly this result; otherwise copy once here, off the main thread.
  const whole = wholeTransferable(out);
  return Piscina.move(whole ? new Uint8Array(whole) : new Uint8Array(out));
}
