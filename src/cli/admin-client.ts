/**
 * The CLI side of the admin endpoint (src/cli/admin-server.ts): one HTTP request per command,
 * with errors a person can act on.
 */
import type { HostPort } from '../transport/transport.js';
import { formatHostPort } from './addresses.js';

export class AdminError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

export async function adminRequest<T>(admin: HostPort, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 15_000): Promise<T> {
  const url = `http://${formatHostPort(admin)}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      signal: AbortSignal.timeout(timeoutMs),
      ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) } : {}),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code === 'ECONNREFUSED') {
      throw new AdminError(`no node admin endpoint at ${formatHostPort(admin)} (is \`partisan-ts start\` running there? pass --admin host:port)`, 'ECONNREFUSED');
    }
    throw new AdminError(`admin request ${method} ${url} failed: ${(err as Error).message}`, cause?.code ?? 'EREQUEST');
  }
  const text = await res.text();
  let value: unknown;
  try {
    value = text.length > 0 ? JSON.parse(text) : {};
  } catch {
    value = text;
  }
  if (!res.ok) {
    const e = (value as { error?: { code?: string; message?: string } }).error;
    throw new AdminError(e?.message ?? `HTTP ${res.status}`, e?.code ?? `HTTP_${res.status}`);
  }
  return value as T;
}
