/**
 * Processes the benchmarks start from outside Node (nats-server, erl, epmd): free ports, waiting
 * for a listener, and CPU time / peak RSS read from /proc so they appear beside our own roles.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { clkTck } from './clock-ticks.js';

/** A TCP port free right now on loopback (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolve once something accepts TCP connections on the port (or fail after `timeoutMs`). */
export async function waitForPort(port: number, timeoutMs = 10_000, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`process exited (${child.signalCode ?? child.exitCode}) before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whether `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** CPU ms (user + system) a process used so far, from /proc (Linux); undefined elsewhere. */
export function procCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clkTck();
  } catch {
    return undefined;
  }
}

/** Peak RSS (VmHWM) of a process in MB, from /proc. */
export function procPeakRssMB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? (Number(m[1]) * 1024) / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU of an external process over a window: call start() and stop() at its ends. */
export function externalWindow(role: string, pid: number) {
  let cpu0 = 0;
  let t0 = 0;
  let cpu1 = 0;
  let t1 = 0;
  return {
    start() {
      cpu0 = procCpuMs(pid) ?? 0;
      t0 = performance.now();
    },
    stop() {
      cpu1 = procCpuMs(pid) ?? 0;
      t1 = performance.now();
    },
    usage() {
      const cpuMs = cpu1 - cpu0;
      return { role, cpuMs: Math.round(cpuMs), cpuCores: t1 > t0 ? Math.round((cpuMs / (t1 - t0)) * 100) / 100 : 0, peakRssMB: Math.round(procPeakRssMB(pid) ?? 0) };
    },
  };
}
