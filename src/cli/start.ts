/**
 * `partisan-ts start`: run one node until SIGINT/SIGTERM (or POST /v1/stop). A graceful stop
 * flushes what `ack: true` senders still wait for, leaves the cluster (so the others drop this
 * node at once instead of retrying it) and closes every connection after flushing its queues.
 * A second signal exits at once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startNode, type Node } from '../node/node.js';
import { createNodeMetrics, type NodeMetrics } from '../observability/metrics.js';
import { markStarted } from '../observability/status.js';
import type { HostPort } from '../transport/transport.js';
import { formatHostPort, formatNodeRef } from './addresses.js';
import { AdminServer, isLoopback } from './admin-server.js';
import type { StartConfig } from './config.js';

export interface RunningNode {
  node: Node;
  admin: AdminServer | undefined;
  metricsAddress: HostPort | undefined;
  /** Resolves once the node has stopped (gracefully or not). */
  stopped: Promise<void>;
  /** Graceful stop (idempotent). */
  stop(): Promise<void>;
}

async function serveMetrics(metrics: NodeMetrics, address: HostPort): Promise<Server> {
  const server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  return server;
}

function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Poll `cond` every 20 ms until it holds or `deadline` (ms since epoch) passes. */
async function waitFor(cond: () => boolean, deadline: number): Promise<boolean> {
  while (!cond()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

export async function startFromConfig(config: StartConfig, say: (line: string) => void): Promise<RunningNode> {
  const node = await startNode(config.node);
  markStarted(node);
  const metrics = createNodeMetrics(node);
  let admin: AdminServer | undefined;
  let metricsServer: Server | undefined;
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const log = node.logger;
      log.info('stopping');
      await Promise.all([admin?.close(), closeServer(metricsServer)]);
      const deadline = Date.now() + config.shutdownTimeoutMs;
      try {
        // 1. Acknowledged messages still in flight get a chance to be acknowledged.
        const flushed = await waitFor(() => (node.stats().ackUnacked ?? 0) === 0, Date.now() + config.shutdownTimeoutMs / 2);
        if (!flushed) log.warn({ unacked: node.stats().ackUnacked }, 'stopping with unacknowledged messages');
        // 2. Leave, so the others forget this node instead of redialing it.
        if (config.leaveOnStop && node.members().length > 1) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([node.leave(), new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
          clearTimeout(timer);
        }
      } catch (err) {
        log.warn({ err }, 'graceful stop step failed');
      }
      // 3. Close every connection after flushing its queues.
      await node.stop();
      metrics.close();
      say(`stopped ${node.nodeString()}`);
      resolveStopped();
    })();
    return stopping;
  };

  try {
    if (config.admin) {
      admin = await AdminServer.start({ node, address: config.admin, metrics, stop: () => void stop() });
      if (!isLoopback(config.admin.host)) node.logger.warn({ admin: config.admin }, 'the admin endpoint listens beyond loopback and has no authentication');
    }
    if (config.metrics) metricsServer = await serveMetrics(metrics, config.metrics);
  } catch (err) {
    await admin?.close();
    await node.stop();
    metrics.close();
    throw err;
  }
  for (const spec of config.join) {
    try {
      node.join(spec);
    } catch (err) {
      node.logger.warn({ err, node: spec.name }, 'cannot join');
    }
  }
  const metricsAddress = metricsServer ? (metricsServer.address() as AddressInfo) : undefined;
  const listen = node
    .nodeSpec()
    .listenAddrs.map((a) => formatHostPort(a))
    .join(', ');
  say(
    `node ${node.nodeString()} listening on ${listen} (${typeof node.options.transport === 'string' ? node.options.transport : 'custom'}, cluster ${node.options.clusterId}` +
      `${node.options.security ? ', authenticated' : ''}); others join it with: ${formatNodeRef(node.nodeSpec())}` +
      `${admin ? `; admin http://${formatHostPort(admin.address)}` : ''}${metricsAddress ? `; metrics http://${formatHostPort({ host: metricsAddress.address, port: metricsAddress.port })}/metrics` : ''}`,
  );
  return {
    node,
    admin,
    metricsAddress: metricsAddress ? { host: metricsAddress.address, port: metricsAddress.port } : undefined,
    stopped,
    stop,
  };
}

/** Stop gracefully on SIGINT/SIGTERM; a second signal exits at once. Returns an uninstaller. */
export function stopOnSignals(running: RunningNode): () => void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    signalled = true;
    void running.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
