/**
 * The admin endpoint of a node started by `partisan-ts start`: small JSON over HTTP for the
 * CLI's join / leave / members / status / stop, plus /metrics. It listens on loopback unless
 * configured otherwise and has no authentication of its own, so:
 * - anything but a loopback host is logged as a warning at start;
 * - requests carrying an `Origin` header are refused (browsers send one on cross-site
 *   requests: no CSRF), and so are requests whose Host header is a name other than
 *   `localhost` — an IP literal or localhost only, which defeats DNS rebinding;
 * - mutating requests must be POST with a JSON body.
 *
 *   GET  /v1/status   NodeStatus (src/observability/status.ts)
 *   GET  /v1/members  { node, members }
 *   GET  /v1/spec     the node spec (how to reach this node)
 *   POST /v1/join     { spec } → 202 { joining }
 *   POST /v1/leave    { node? } → { left }
 *   POST /v1/stop     → 202, then a graceful stop (as SIGTERM)
 *   GET  /metrics     Prometheus text
 *
 * Errors are `{ error: { code, message } }`: a PartisanError code (ERR_*), or an HTTP-level
 * reason (forbidden, not_found, method_not_allowed, unsupported_media_type, bad_request).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { parseNodeSpec } from '../membership/types.js';
import type { Node } from '../node/node.js';
import type { NodeMetrics } from '../observability/metrics.js';
import { nodeStatus } from '../observability/status.js';
import type { HostPort } from '../transport/transport.js';
import { isPartisanError, TransportError } from '../util/errors.js';

export interface AdminServerOptions {
  node: Node;
  address: HostPort;
  /** The node's metrics, served on /metrics. */
  metrics: NodeMetrics;
  /** Graceful stop, as on SIGTERM. */
  stop(): void;
}

const MAX_BODY = 64 * 1024;

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
}

export class AdminServer {
  private constructor(
    private readonly server: Server,
    readonly address: HostPort,
  ) {}

  static async start(options: AdminServerOptions): Promise<AdminServer> {
    const server = createServer((req, res) => void handle(options, req, res));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new TransportError('ERR_TRANSPORT_LISTEN_FAILED', `admin endpoint cannot listen on ${options.address.host}:${options.address.port}: ${err.message}${err.code === 'EADDRINUSE' ? ' (pass --admin <host:port> or --admin off)' : ''}`, {
            cause: err,
          }),
        ),
      );
      server.listen(options.address.port, options.address.host, () => resolve());
    });
    const bound = server.address() as AddressInfo;
    return new AdminServer(server, { host: bound.address, port: bound.port });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** Host header: an IP literal or localhost (with any port). */
function hostHeaderOk(host: string | undefined): boolean {
  if (host === undefined) return true;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || isIP(name) !== 0;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('expected a JSON object');
  return value as Record<string, unknown>;
}

async function handle(o: AdminServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    if (req.headers.origin !== undefined || !hostHeaderOk(req.headers.host)) return fail(res, 403, 'forbidden', 'browser requests and host names other than localhost are refused');
    const path = (req.url ?? '/').split('?')[0];
    const node = o.node;
    if (req.method === 'GET') {
      switch (path) {
        case '/v1/status':
          return send(res, 200, await nodeStatus(node));
        case '/v1/members':
          return send(res, 200, { node: node.nodeString(), members: node.members() });
        case '/v1/spec':
          return send(res, 200, node.nodeSpec());
        case '/metrics': {
          const text = await o.metrics.metrics();
          res.writeHead(200, { 'content-type': o.metrics.contentType });
          res.end(text);
          return;
        }
        default:
          return fail(res, 404, 'not_found', `no ${path}`);
      }
    }
    if (req.method !== 'POST') return fail(res, 405, 'method_not_allowed', `${req.method} is not allowed`);
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return fail(res, 415, 'unsupported_media_type', 'expected application/json');
    const body = await readJson(req);
    switch (path) {
      case '/v1/join': {
        let spec;
        try {
          spec = parseNodeSpec(body.spec);
        } catch {
          return fail(res, 400, 'ERR_INVALID_OPTION', 'expected { spec: { name, listenAddrs: [{host, port}] } }');
        }
        node.join(spec);
        return send(res, 202, { joining: spec });
      }
      case '/v1/leave': {
        const target = typeof body.node === 'string' ? body.node : undefined;
        await node.leave(target);
        return send(res, 200, { left: target ?? node.nodeString() });
      }
      case '/v1/stop':
        send(res, 202, { stopping: node.nodeString() });
        o.stop();
        return;
      default:
        return fail(res, 404, 'not_found', `no ${path}`);
    }
  } catch (err) {
    if (res.headersSent) return;
    if (isPartisanError(err)) return fail(res, 400, err.code, err.message);
    return fail(res, 400, 'bad_request', (err as Error).message);
  }
}
