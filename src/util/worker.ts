import * as workerThreads from 'node:worker_threads';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Worker threads must start both from the TypeScript sources (tests, run through tsx) and from
 * the compiled package. Node 20 does not apply the parent's `--import tsx` hooks to a
 * worker's entry file, so a `.ts` entry is started through a tiny ESM bootstrap (a data: URL)
 * that registers tsx first and then imports the real entry.
 */

/** URL of a module next to `importMetaUrl`, with the caller's own extension (.ts or .js). */
export function siblingModuleUrl(importMetaUrl: string, relativeName: string): URL {
  const extension = importMetaUrl.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`${relativeName}${extension}`, importMetaUrl);
}

const ENTRY_KEY = '__partisanWorkerEntry';
const DATA_KEY = '__partisanWorkerData';

export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = [
    `import { workerData } from 'node:worker_threads';`,
    `const { register } = await import(${JSON.stringify(tsxApi)});`,
    `register();`,
    `await import(workerData.${ENTRY_KEY});`,
  ].join('\n');
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), {
    ...options,
    workerData: { [ENTRY_KEY]: entry.href, [DATA_KEY]: options.workerData },
  });
}

/** Inside a worker started by `startWorker`: the `workerData` the parent passed. */
export function workerDataOf(raw: unknown): unknown {
  if (raw && typeof raw === 'object' && ENTRY_KEY in raw) return (raw as Record<string, unknown>)[DATA_KEY];
  return raw;
}

/** `isMarkedAsUntransferable` exists from Node 21; on Node 20 nothing is marked. */
const markedCheck = (workerThreads as { isMarkedAsUntransferable?: (value: object) => boolean }).isMarkedAsUntransferable;

/**
 * The ArrayBuffer behind `view` when it may be moved to another thread in a transfer list:
 * the view covers all of it (moving a larger buffer would move bytes that are not ours), it is
 * not shared, and Node has not marked it untransferable (its Buffer pool slabs, and on Node 24
 * zlib's output, are). Otherwise undefined: copy instead.
 */
export function wholeTransferable(view: Uint8Array): ArrayBuffer | undefined {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer)) return undefined;
  if (view.byteOffset !== 0 || view.byteLength !== buffer.byteLength) return undefined;
  if (markedCheck?.(buffer)) return undefined;
  return buffer;
}
