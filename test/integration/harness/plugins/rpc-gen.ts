/** Agent commands for the RPC / GenServer integration suite (loaded via PARTISAN_AGENT_PLUGINS). */
import type { Node } from '../../../../src/node/node.js';
import { createRpc, type Rpc } from '../../../../src/rpc/index.js';
import { GenServer, type GenServerBehaviour } from '../../../../src/gen/index.js';
import { isPartisanError } from '../../../../src/util/errors.js';

/** Errors cross IPC as their code, so tests can tell them apart. */
async function outcome(p: Promise<unknown>): Promise<{ ok: true; value: unknown } | { ok: false; code: string; message: string; details?: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, code: isPartisanError(err) ? err.code : 'UNCODED', message: (err as Error).message, details: isPartisanError(err) ? err.details : undefined };
  }
}

/** A counter server whose `sleep` request answers only after `ms` (to be killed mid-call). */
const counter: GenServerBehaviour<{ n: number }, number> = {
  init: (n) => ({ n }),
  handleCall: async (req, _from, s) => {
    const r = req as { op: string; ms?: number };
    if (r.op === 'sleep') await new Promise((resolve) => setTimeout(resolve, r.ms ?? 0));
    if (r.op === 'crash') throw new Error('server crashed on purpose');
    return { reply: s.n, state: { n: s.n + 1 } };
  },
  handleCast: (_m, s) => ({ state: s }),
  handleInfo: (_m, s) => ({ state: s }),
};

export function commands(need: () => Node): Record<string, (...args: never[]) => unknown> {
  let rpc: Rpc | undefined;
  const r = (): Rpc => (rpc ??= createRpc(need()));
  return {
    rpcServe: () => {
      r().register('echo', (...args: unknown[]) => args);
      r().register('slow', async (ms: unknown) => {
        await new Promise((resolve) => setTimeout(resolve, Number(ms)));
        return 'late';
      });
      r().register('boom', () => {
        throw new TypeError('boom from the remote side');
      });
      return true;
    },
    rpcCall: (node: string, fn: string, args: unknown[], options: Record<string, unknown> = {}) => outcome(r().call(node, fn, args, options)),
    rpcMulticall: (nodes: string[], fn: string, args: unknown[], options: Record<string, unknown> = {}) =>
      r()
        .multicall(nodes, fn, args, options)
        .then((results) => results.map((x) => (x.ok ? x : { node: x.node, ok: false, code: isPartisanError(x.error) ? x.error.code : 'UNCODED' }))),
    genStart: (name: string) => GenServer.start(need(), counter, 0, { name }),
    genCall: (node: string, name: string, request: unknown, timeout = 5_000) => outcome(GenServer.call(need(), { name, node }, request, { timeout })),
  };
}
