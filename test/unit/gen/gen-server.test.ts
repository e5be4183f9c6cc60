import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GenServer, type From, type GenServerBehaviour } from '../../../src/gen/index.js';
import type { Node } from '../../../src/node/node.js';
import type { ExitReason } from '../../../src/process/process.js';
import type { Pid } from '../../../src/process/ref.js';
import { FakeClock } from '../../../src/util/clock.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { clusters, code, observeChannels, totalMonitors } from '../rpc/cluster.js';

const start = clusters();

type Request = { op: 'get' } | { op: 'add'; by: number } | { op: 'wait' } | { op: 'crash' } | { op: 'stop' } | { op: 'ask'; server: Pid };
type Cast = { op: 'release' } | { op: 'die' } | { op: 'bump' };
interface CounterState {
  n: number;
  waiting: From[];
  info: unknown[];
}

/** A counter with deferred replies; `terminated` collects terminate reasons. */
function counter(terminated: ExitReason[] = []): GenServerBehaviour<CounterState, number, Request, unknown, Cast> {
  return {
    init: (n) => ({ n, waiting: [], info: [] }),
    async handleCall(request, from, state, ctx) {
      switch (request.op) {
        case 'get':
          return { reply: { n: state.n, info: state.info }, state };
        case 'add':
          return { reply: state.n + request.by, state: { ...state, n: state.n + request.by } };
        case 'wait':
          return { noreply: true, state: { ...state, waiting: [...state.waiting, from] } };
        case 'crash':
          throw new Error('crashed on purpose');
        case 'stop':
          return { reply: 'bye', state, stop: 'normal' };
        case 'ask':
          return { reply: await ctx.call(request.server, { op: 'get' }), state };
      }
    },
    handleCast(message, state, ctx) {
      switch (message.op) {
        case 'release':
          for (const from of state.waiting) ctx.reply(from, state.n);
          return { state: { ...state, waiting: [] } };
        case 'bump':
          return { state: { ...state, n: state.n + 1 } };
        case 'die':
          throw new Error('died in a cast');
      }
    },
    handleInfo: (message, state) => ({ state: { ...state, info: [...state.info, message] } }),
    terminate: (reason) => {
      terminated.push(reason);
    },
  };
}

function processCount(node: Node): number {
  return node.stats().processes ?? 0;
}

describe('GenServer', () => {
  it('serves local calls by pid, name and name URI, with casts and info in order', async () => {
    const { nodes: [a] } = await start(['a']);
    const pid = await GenServer.start(a!, counter(), 10, { name: 'counter' });
    assert.equal(await GenServer.call(a!, pid, { op: 'add', by: 1 }), 11);
    assert.equal(await GenServer.call(a!, 'counter', { op: 'add', by: 1 }), 12);
    GenServer.cast(a!, a!.name('counter'), { op: 'bump' });
    a!.forwardMessage(pid, { hello: 'info' });
    assert.deepEqual(await GenServer.call(a!, a!.name('counter'), { op: 'get' }), { n: 13, info: [{ hello: 'info' }] });
    assert.deepEqual(await GenServer.getState(a!, pid), { n: 13, waiting: [], info: [{ hello: 'info' }] });
    await assert.rejects(GenServer.start(a!, counter(), 0, { name: 'counter' }), code('ERR_NAME_TAKEN'));
  });

  it('fails start with the error init threw', async () => {
    const { nodes: [a] } = await start(['a']);
    const before = processCount(a!);
    await assert.rejects(
      GenServer.start(a!, { init: () => Promise.reject(new Error('no config')) }, undefined),
      (err: unknown) => err instanceof Error && err.message === 'no config',
    );
    assert.equal(processCount(a!), before);
  });

  it('serves remote calls and casts by pid and by {name, node}', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    const pid = await GenServer.start(b!, counter(), 0, { name: 'counter' });
    assert.equal(await GenServer.call(a!, pid, { op: 'add', by: 5 }), 5);
    await GenServer.cast(a!, { name: 'counter', node: 'b@mem' }, { op: 'bump' });
    assert.deepEqual(await GenServer.call(a!, { name: 'counter', node: 'b@mem' }, { op: 'get' }), { n: 6, info: [] });
    // A server calling another server on another node.
    const local = await GenServer.start(a!, counter(), 100);
    assert.deepEqual(await GenServer.call(a!, pid, { op: 'ask', server: local }), { n: 100, info: [] });
  });

  it('answers deferred calls with reply(from, value)', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    const pid = await GenServer.start(b!, counter(), 7);
    const first = GenServer.call(a!, pid, { op: 'wait' });
    const second = GenServer.call(b!, pid, { op: 'wait' });
    // A call after the waits is behind them in the server's mailbox: both are parked now.
    await GenServer.call(a!, pid, { op: 'get' });
    GenServer.cast(a!, pid, { op: 'release' });
    assert.deepEqual(await Promise.all([first, second]), [7, 7]);
  });

  it('turns the server exiting mid-call into ERR_NOPROC with the exit reason', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    const terminated: ExitReason[] = [];
    const pid = await GenServer.start(b!, counter(terminated), 0);
    const waiting = GenServer.call(a!, pid, { op: 'wait' });
    await GenServer.call(a!, pid, { op: 'get' });
    GenServer.cast(a!, pid, { op: 'die' });
    await assert.rejects(waiting, (err: unknown) => {
      assert.ok(isPartisanError(err, 'ERR_NOPROC'));
      assert.equal((err.details.reason as { error: string }).error, 'died in a cast');
      return true;
    });
    assert.equal((terminated[0] as { error: string }).error, 'died in a cast', 'terminate ran with the reason');
    await assert.rejects(GenServer.call(a!, pid, { op: 'get' }), (err: unknown) => isPartisanError(err, 'ERR_NOPROC') && err.details.reason === 'noproc');

    const crashing = await GenServer.start(b!, counter(), 0);
    await assert.rejects(GenServer.call(a!, crashing, { op: 'crash' }), (err: unknown) => {
      assert.ok(isPartisanError(err, 'ERR_NOPROC'));
      assert.equal((err.details.reason as { error: string }).error, 'crashed on purpose');
      return true;
    });
    await assert.rejects(GenServer.call(a!, { name: 'nobody', node: 'b@mem' }, { op: 'get' }), code('ERR_NOPROC'));
    await assert.rejects(GenServer.call(a!, 'nobody', { op: 'get' }), code('ERR_NOPROC'));
  });

  it('turns the server node dying mid-call into ERR_NOT_CONNECTED', async () => {
    const { nodes: [a, b], memoryNetwork } = await start(['a', 'b']);
    const pid = await GenServer.start(b!, counter(), 0);
    const waiting = GenServer.call(a!, pid, { op: 'wait' }, { timeout: Infinity });
    await GenServer.call(a!, pid, { op: 'get' });
    memoryNetwork.crash('b');
    await assert.rejects(waiting, (err: unknown) => isPartisanError(err, 'ERR_NOT_CONNECTED') && err.details.node === 'b@mem');
    await assert.rejects(GenServer.call(a!, pid, { op: 'get' }), code('ERR_NOT_CONNECTED'));
    assert.deepEqual(totalMonitors(a!), {});
  });

  it('sends calls and replies on the requested channel', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    const atA = observeChannels(a!);
    const atB = observeChannels(b!);
    const pid = await GenServer.start(b!, counter(), 1, { channel: 'gps' });
    assert.equal(await GenServer.call(a!, pid, { op: 'add', by: 1 }, { channel: 'gps' }), 2);
    const calls = atB.filter((r) => (r.payload as { $gen_call?: unknown }).$gen_call !== undefined);
    const replies = atA.filter((r) => (r.payload as { $gen_reply?: unknown }).$gen_reply !== undefined);
    assert.deepEqual(calls.map((r) => r.channel), ['gps']);
    assert.deepEqual(replies.map((r) => r.channel), ['gps']);
    // The server's `channel` start option is the default for calls it makes itself.
    const onA = await GenServer.start(a!, counter(), 40);
    atA.length = 0;
    assert.deepEqual(await GenServer.call(a!, pid, { op: 'ask', server: onA }), { n: 40, info: [] });
    assert.deepEqual(
      atA.filter((r) => (r.payload as { $gen_call?: unknown }).$gen_call !== undefined).map((r) => r.channel),
      ['gps'],
    );
    await assert.rejects(GenServer.call(a!, pid, { op: 'get' }, { channel: 'nope' }), code('ERR_UNKNOWN_CHANNEL'));
  });

  it('times out, and a late reply becomes a dead letter instead of a stray message', async () => {
    const clock = new FakeClock();
    const { nodes: [a, b] } = await start(['a', 'b'], { clock });
    const pid = await GenServer.start(b!, counter(), 3);
    const late = GenServer.call(a!, pid, { op: 'wait' }, { timeout: 100 });
    await GenServer.call(a!, pid, { op: 'get' });
    clock.advance(100);
    await assert.rejects(late, (err: unknown) => isPartisanError(err, 'ERR_RPC_TIMEOUT') && err.details.timeout === 100);
    const deadLetters = a!.stats().deadLetters;
    GenServer.cast(a!, pid, { op: 'release' });
    // The server sends the late reply before this answer, on the same lane.
    assert.equal(await GenServer.call(a!, pid, { op: 'add', by: 1 }), 4);
    assert.equal(a!.stats().deadLetters, deadLetters + 1, 'the late reply hit the exited alias');
    assert.equal(a!.currentProcess().mailbox.size, 0);
  });

  it('stops a server: terminate runs, stop resolves, later calls get noproc', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    const terminated: ExitReason[] = [];
    const pid = await GenServer.start(b!, counter(terminated), 0, { name: 'svc' });
    await GenServer.stop(a!, { name: 'svc', node: 'b@mem' }, 'shutdown');
    assert.deepEqual(terminated, ['shutdown']);
    await assert.rejects(GenServer.call(a!, pid, { op: 'get' }), code('ERR_NOPROC'));
    await assert.rejects(GenServer.stop(a!, pid), code('ERR_NOPROC'));
    const other = await GenServer.start(b!, counter(terminated), 0);
    assert.equal(await GenServer.call(a!, other, { op: 'stop' }), 'bye', 'a reply before a stop result still goes out');
    assert.deepEqual(terminated, ['shutdown', 'normal']);
  });

  it('leaves no monitor, process or timer behind after many calls', async () => {
    const clock = new FakeClock();
    const { nodes: [a, b] } = await start(['a', 'b'], { clock });
    const remote = await GenServer.start(b!, counter(), 0);
    const local = await GenServer.start(a!, counter(), 0);
    const processesA = processCount(a!);
    const processesB = processCount(b!);
    const timers = clock.pending();
    // Time only matters to the calls meant to time out; move it along until all settle.
    const pump = setInterval(() => clock.advance(1), 1);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 300 }, (_, i) => {
        const server = i % 2 === 0 ? remote : local;
        if (i % 50 === 0) return GenServer.call(a!, { name: 'nobody', node: 'b@mem' }, { op: 'get' });
        if (i % 30 === 0) return GenServer.call(a!, server, { op: 'wait' }, { timeout: 1 });
        return GenServer.call(a!, server, { op: 'add', by: 1 }, i % 3 === 0 ? { channel: 'gps' } : {});
      }),
    ).finally(() => clearInterval(pump));
    assert.ok(outcomes.filter((o) => o.status === 'fulfilled').length > 250);
    assert.ok(outcomes.some((o) => o.status === 'rejected' && isPartisanError(o.reason, 'ERR_RPC_TIMEOUT')));
    GenServer.cast(a!, remote, { op: 'release' });
    GenServer.cast(a!, local, { op: 'release' });
    await GenServer.call(a!, remote, { op: 'get' });
    // Demonitors travel on the default channel; one more round trip there means b has them all.
    await a!.isProcessAlive(remote);
    assert.deepEqual(totalMonitors(a!), {});
    assert.deepEqual(totalMonitors(b!), {});
    assert.equal(processCount(a!), processesA, 'every call alias exited');
    assert.equal(processCount(b!), processesB);
    assert.equal(clock.pending(), timers, 'every call timer was cancelled');
  });
});
