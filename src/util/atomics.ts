/**
 * `Atomics.waitAsync` exists in Node ≥ 16 but is typed only in TypeScript's ES2024 lib, which
 * would also admit APIs Node 20 lacks (Promise.withResolvers, Object.groupBy). So it is
 * declared here once, narrowly.
 */
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

const waitAsyncImpl = (Atomics as unknown as {
  waitAsync(view: Int32Array, index: number, value: number, timeoutMs?: number): WaitAsyncResult;
}).waitAsync;

/** Resolves when `view[index]` is notified or no longer equals `value`, or after `timeoutMs`. */
export async function waitAsync(view: Int32Array, index: number, value: number, timeoutMs: number): Promise<void> {
  const result = waitAsyncImpl(view, index, value, timeoutMs);
  if (result.async) await result.value;
}
