#!/usr/bin/env node
/**
 * The `partisan-ts` command. `start` runs a node; `join`, `leave`, `members`, `status` and
 * `stop` talk to a running node through its admin endpoint (loopback HTTP, default
 * 127.0.0.1:4370, `--admin` or PARTISAN_ADMIN); `cert` writes a development CA and node
 * certificates; `demo` runs a local 4-node cluster with a simulated fleet.
 */
import { Command, Option } from 'commander';
import type { NodeSpec } from '../membership/types.js';
import { formatStatus, type NodeStatus } from '../observability/status.js';
import { writeCertificates } from '../security/cert-files.js';
import type { HostPort } from '../transport/transport.js';
import { isPartisanError } from '../util/errors.js';
import { formatHostPort, formatNodeRef, parseHostPort, parseNodeRef } from './addresses.js';
import { AdminError, adminRequest } from './admin-client.js';
import { DEFAULT_ADMIN, START_OPTIONS, startConfig } from './config.js';
import { startFromConfig, stopOnSignals } from './start.js';

const out = (line: string): void => void process.stdout.write(`${line}\n`);
// `partisan-ts status | head` closes the pipe early: that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

/** Run a command body; report errors as one line on stderr with a non-zero exit code. */
function action<A extends unknown[]>(name: string, body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (err) {
      const code = isPartisanError(err) || err instanceof AdminError ? ` [${err.code}]` : '';
      process.stderr.write(`partisan-ts ${name}: ${(err as Error).message}${code}\n`);
      process.exitCode = isPartisanError(err, 'ERR_INVALID_OPTION') ? 2 : 1;
    }
  };
}

function adminAddress(flag: string | undefined): HostPort {
  const text = flag ?? process.env.PARTISAN_ADMIN;
  return text ? parseHostPort('--admin', text, false) : DEFAULT_ADMIN;
}

const adminOption = (): Option => new Option('--admin <host:port>', `admin endpoint of the node (env PARTISAN_ADMIN)`).default(undefined, formatHostPort(DEFAULT_ADMIN));

export function buildProgram(): Command {
  const program = new Command('partisan-ts')
    .description('A distributed runtime for Node.js after Erlang Partisan: run and operate nodes.')
    .showHelpAfterError()
    .version('0.1.0');

  const start = program
    .command('start')
    .description('Run a node until SIGINT/SIGTERM. Flags beat PARTISAN_* variables, which beat the config file.')
    .option('--config <file>', 'YAML or JSON config file (env PARTISAN_CONFIG); see docs/configuration.md');
  for (const o of START_OPTIONS) start.addOption(new Option(o.flag, `${o.description} (env ${o.env}; default ${o.defaultText})`));
  start.action(
    action('start', async (flags: Record<string, unknown>) => {
      const config = await startConfig(flags, process.env);
      const running = await startFromConfig(config, out);
      const uninstall = stopOnSignals(running);
      await running.stopped;
      uninstall();
      // Anything still holding the event loop now is a leak: do not hang the shell on it.
      setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
    }),
  );

  program
    .command('join')
    .description('Make the running node join the cluster of <node>, given as name@host:port.')
    .argument('[node]', 'the node to join: name@host:port (the name is checked in the handshake)')
    .option('--address <host:port...>', 'address(es) of <node> when they differ from its name host')
    .option('--peer-admin <host:port>', "ask this admin endpoint of the other node for its name and address instead")
    .addOption(adminOption())
    .action(
      action('join', async (target: string | undefined, flags: { address?: string[]; peerAdmin?: string; admin?: string }) => {
        let spec: NodeSpec;
        if (flags.peerAdmin) {
          spec = await adminRequest<NodeSpec>(parseHostPort('--peer-admin', flags.peerAdmin, false), 'GET', '/v1/spec');
        } else if (target) {
          spec = parseNodeRef('node', target, (flags.address ?? []).map((a) => parseHostPort('--address', a, false)));
        } else {
          throw new AdminError('which node? give name@host:port or --peer-admin host:port', 'USAGE');
        }
        const admin = adminAddress(flags.admin);
        const self = await adminRequest<NodeSpec>(admin, 'GET', '/v1/spec');
        await adminRequest(admin, 'POST', '/v1/join', { spec });
        out(`${self.name} is joining ${formatNodeRef(spec)}`);
      }),
    );

  program
    .command('leave')
    .description('Make the running node leave the cluster, or remove [node] from it.')
    .argument('[node]', 'a member to remove (default: the node itself)')
    .addOption(adminOption())
    .action(
      action('leave', async (target: string | undefined, flags: { admin?: string }) => {
        const res = await adminRequest<{ left: string }>(adminAddress(flags.admin), 'POST', '/v1/leave', target ? { node: target } : {});
        out(`${res.left} left the cluster`);
      }),
    );

  program
    .command('members')
    .description("List the cluster's members as the running node sees them.")
    .option('--json', 'print JSON')
    .addOption(adminOption())
    .action(
      action('members', async (flags: { json?: boolean; admin?: string }) => {
        const res = await adminRequest<{ node: string; members: string[] }>(adminAddress(flags.admin), 'GET', '/v1/members');
        if (flags.json) out(JSON.stringify(res));
        else for (const m of res.members) out(m === res.node ? `${m} (this node)` : m);
      }),
    );

  program
    .command('status')
    .description('Connections per channel, queue depths, broadcast metrics and counters of the running node.')
    .option('--json', 'print JSON')
    .addOption(adminOption())
    .action(
      action('status', async (flags: { json?: boolean; admin?: string }) => {
        const status = await adminRequest<NodeStatus>(adminAddress(flags.admin), 'GET', '/v1/status');
        out(flags.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      }),
    );

  program
    .command('stop')
    .description('Stop the running node gracefully (as SIGTERM: flush, leave, close).')
    .addOption(adminOption())
    .action(
      action('stop', async (flags: { admin?: string }) => {
        const res = await adminRequest<{ stopping: string }>(adminAddress(flags.admin), 'POST', '/v1/stop');
        out(`${res.stopping} is stopping`);
      }),
    );

  program
    .command('cert')
    .description('Create a cluster CA (or reuse the one in --out) and a certificate + Ed25519 key per node, files 0600, directories 0700.')
    .requiredOption('--out <dir>', 'output directory')
    .option('--node <name...>', 'node names (name@host), one directory each', [])
    .option('--days <n>', 'node certificate validity, days', '365')
    .option('--ca-days <n>', 'validity of a new CA, days', '3650')
    .action(
      action('cert', async (flags: { out: string; node: string[]; days: string; caDays: string }) => {
        const days = Number(flags.days);
        const caDays = Number(flags.caDays);
        const written = await writeCertificates({ dir: flags.out, nodes: flags.node, validityDays: days, caValidityDays: caDays });
        out(`${written.caCreated ? 'created' : 'reused'} CA ${written.caCertPath} (key ${written.caKeyPath}: keep it off the nodes)`);
        for (const n of written.nodes) {
          out(`${n.name}: ${n.certPath} (valid until ${n.notAfter.toISOString().slice(0, 10)}), key ${n.keyPath}`);
          out(`  start it with: partisan-ts start --name ${n.name} --data-dir ${n.dir}`);
        }
      }),
    );

  program
    .command('demo')
    .description('Run a local 4-node cluster with a simulated vehicle fleet and a live view, until Ctrl-C or --duration.')
    .option('--duration <s>', 'stop after this many seconds')
    .option('--vehicles <n>', 'simulated vehicles', '2000')
    .option('--interval <ms>', 'report period per vehicle, ms', '1000')
    .option('--nodes <n>', 'nodes in the cluster (half gateways, half operations)', '4')
    .addOption(new Option('--transport <kind>', 'transport (default quic; tcp where QUIC cannot load)').choices(['quic', 'tcp']))
    .option('--insecure', 'no cluster CA (peers are not authenticated)')
    .option('--plain', 'plain progress lines even on a terminal')
    .action(
      action('demo', async (flags: { duration?: string; vehicles: string; interval: string; nodes: string; transport?: 'quic' | 'tcp'; insecure?: boolean; plain?: boolean }) => {
        const num = (field: string, text: string, min: number): number => {
          const n = Number(text);
          if (!Number.isFinite(n) || n < min) throw new AdminError(`${field} must be a number ≥ ${min}, got ${JSON.stringify(text)}`, 'USAGE');
          return n;
        };
        const controller = new AbortController();
        const onSignal = (): void => {
          if (controller.signal.aborted) process.exit(130);
          controller.abort();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          const { runDemo } = await import('../demo/demo.js');
          await runDemo({
            ...(flags.duration !== undefined ? { durationS: num('--duration', flags.duration, 0) } : {}),
            vehicles: Math.floor(num('--vehicles', flags.vehicles, 1)),
            intervalMs: num('--interval', flags.interval, 10),
            nodes: Math.floor(num('--nodes', flags.nodes, 2)),
            ...(flags.transport ? { transport: flags.transport } : {}),
            secure: !flags.insecure,
            ...(flags.plain ? { live: false } : {}),
            signal: controller.signal,
          });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
      }),
    );
  return program;
}

await buildProgram().parseAsync(process.argv);
