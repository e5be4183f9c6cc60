import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRpc } from '../../../src/rpc/rpc.js';
import { FakeClock } from '../../../src/util/clock.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { clusters, code, deferred, observeChannels } from './cluster.js';

const start = clusters();

describe('rpc', () => {
  it('calls registered functions and modules on another node and on itself', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    const rpcB = createRpc(b!);
    rpcB.register('echo', (x: unknown) => x);
    assert.deepEqual(rpcB.registerModule('math', { add: (x: number, y: number) => x + y, mul: async (x: number, y: number) => x * y, pi: 3 }), ['math.add', 'math.mul']);
    const rpcA = createRpc(a!);
    rpcA.register('whoami', () => a!.node());
    assert.equal(await rpcA.call(b!.node(), 'math.add', [1, 2]), 3);
    assert.equal(await rpcA.call(b!.node(), 'math.mul', [6, 7]), 42);
    assert.deepEqual(await rpcA.call(b!.node(), 'echo', [{ nested: [1, 'two'] }]), { nested: [1, 'two'] });
    assert.equal(await rpcA.call(a!.node(), 'whoami'), 'a@mem', 'a local call runs here');
    assert.equal(rpcB.unregisterModule('math'), 2);
    await assert.rejects(rpcA.call(b!.node(), 'math.add', [1, 2]), code('ERR_RPC_UNKNOWN_FUNCTION'));
  });

  it('reports a remote exception with its message and stack', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    createRpc(b!).register('explode', function explodeOnPurpose(what: string) {
      throw new RangeError(`bad ${what}`);
    });
    await assert.rejects(createRpc(a!).call(b!.node(), 'explode', ['input']), (err: unknown) => {
      assert.ok(isPartisanError(err, 'ERR_RPC_REMOTE_EXCEPTION'));
      assert.equal(err.details.remoteMessage, 'bad input');
      assert.equal(err.details.remoteName, 'RangeError');
      assert.equal(err.details.node, 'b@mem');
      assert.match(String(err.details.remoteStack), /explodeOnPurpose/);
      assert.match(err.message, /bad input/);
      return true;
    });
  });

  it('tells an unknown function apart, also on a node that never started RPC', async () => {
    const { nodes: [a, b, c] } = await start(['a', 'b', 'c']);
    createRpc(b!);
    const rpc = createRpc(a!);
    await assert.rejects(rpc.call(b!.node(), 'nope'), code('ERR_RPC_UNKNOWN_FUNCTION'));
    await assert.rejects(rpc.call(c!.node(), 'nope'), code('ERR_RPC_UNKNOWN_FUNCTION'));
    await assert.rejects(rpc.call(a!.node(), 'nope'), code('ERR_RPC_UNKNOWN_FUNCTION'));
    // Only registered names run: runtime call handlers are not reachable through RPC.
    await assert.rejects(rpc.call(b!.node(), 'proc.exit', [{ id: 1, reason: 'killed' }]), code('ERR_RPC_UNKNOWN_FUNCTION'));
  });

  it('times out a slow function, and its late reply reaches nobody', async () => {
    const clock = new FakeClock();
    const { nodes: [a, b] } = await start(['a', 'b'], { clock });
    const started = deferred();
    const gate = deferred();
    const rpcB = createRpc(b!);
    rpcB.register('slow', async () => {
      started.resolve();
      await gate.promise;
      return 'late';
    });
    rpcB.register('fast', () => 'fresh');
    const rpc = createRpc(a!);
    const call = rpc.call(b!.node(), 'slow', [], { timeout: 100 });
    await started.promise;
    clock.advance(100);
    await assert.rejects(call, (err: unknown) => isPartisanError(err, 'ERR_RPC_TIMEOUT') && err.details.fn === 'slow');
    gate.resolve();
    const deadLetters = a!.stats().deadLetters;
    // Same channel, so FIFO: the late reply arrives before this answer and must not be taken for it.
    assert.equal(await rpc.call(b!.node(), 'fast'), 'fresh');
    assert.equal(a!.currentProcess().mailbox.size, 0, 'nothing in the caller mailbox');
    assert.equal(a!.stats().deadLetters, deadLetters, 'not even as a dead letter');
  });

  it('fails fast for an unknown or stopped node', async () => {
    const { nodes: [a, , c] } = await start(['a', 'b', 'c']);
    const rpc = createRpc(a!);
    await assert.rejects(rpc.call('nobody@mem', 'echo', [1]), code('ERR_NOT_CONNECTED'));
    await c!.stop();
    await assert.rejects(rpc.call('c@mem', 'echo', [1]), code('ERR_NOT_CONNECTED'));
    await assert.rejects(rpc.call('b@mem', 'echo', [1], { channel: 'nope' }), code('ERR_UNKNOWN_CHANNEL'));
  });

  it('fails with ERR_NOT_CONNECTED when the node dies mid-call', async () => {
    const { nodes: [a, b], memoryNetwork } = await start(['a', 'b']);
    const started = deferred();
    const gate = deferred();
    createRpc(b!).register('hang', async () => {
      started.resolve();
      await gate.promise;
    });
    const call = createRpc(a!).call(b!.node(), 'hang', [], { timeout: Infinity });
    await started.promise;
    memoryNetwork.crash('b');
    await assert.rejects(call, (err: unknown) => isPartisanError(err, 'ERR_NOT_CONNECTED') && err.details.node === 'b@mem');
    gate.resolve();
  });

  it('multicall gives one result per node, with the down node as an error', async () => {
    const { nodes: [a, b, c], memoryNetwork } = await start(['a', 'b', 'c']);
    for (const n of [a!, b!, c!]) createRpc(n).register('name', () => n.node());
    const down = new Promise<string>((resolve) => a!.onDown('c@mem', resolve));
    memoryNetwork.crash('c');
    await down;
    const results = await createRpc(a!).multicall(['b@mem', 'c@mem', 'a@mem'], 'name');
    assert.deepEqual(
      results.map((r) => (r.ok ? { node: r.node, value: r.value } : { node: r.node, code: r.error.code })),
      [
        { node: 'b@mem', value: 'b@mem' },
        { node: 'c@mem', code: 'ERR_NOT_CONNECTED' },
        { node: 'a@mem', value: 'a@mem' },
      ],
    );
  });

  it('lets per-call options win over the defaults and sends on the chosen channel', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    createRpc(b!).register('echo', (x: unknown) => x);
    const seen = observeChannels(b!);
    const rpc = createRpc(a!, { channel: 'gps' });
    assert.equal(await rpc.call(b!.node(), 'echo', ['on gps']), 'on gps');
    assert.equal(await rpc.call(b!.node(), 'echo', ['on default'], { channel: 'default' }), 'on default');
    const requests = seen.filter((r) => (r.payload as { name?: string })?.name === 'rpc.call');
    assert.deepEqual(
      requests.map((r) => [r.channel, (r.payload as { body: { args: unknown[] } }).body.args[0]]),
      [
        ['gps', 'on gps'],
        ['default', 'on default'],
      ],
    );
    const strict = createRpc(a!, { channel: 'nope' });
    await assert.rejects(strict.call(b!.node(), 'echo', [1]), code('ERR_UNKNOWN_CHANNEL'));
    assert.equal(await strict.call(b!.node(), 'echo', [1], { channel: 'default' }), 1);
    assert.throws(() => createRpc(a!, { timeout: -1 }), code('ERR_INVALID_OPTION'));
  });

  it('casts without waiting, and a cast to a missing node is silently dropped', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    const got = deferred<unknown[]>();
    createRpc(b!).register('record', (...args: unknown[]) => got.resolve(args));
    const rpc = createRpc(a!);
    await rpc.cast(b!.node(), 'record', ['x', 1], { channel: 'gps' });
    assert.deepEqual(await got.promise, ['x', 1]);
    assert.doesNotThrow(() => rpc.cast('nobody@mem', 'record', []));
    rpc.multicast(['b@mem', 'nobody@mem'], 'unknown-is-fine', []);
  });

  it('sends requests now and collects the responses later', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    const gate = deferred();
    const rpcB = createRpc(b!);
    rpcB.register('square', (x: number) => x * x);
    rpcB.register('wait', async () => {
      await gate.promise;
      return 'done';
    });
    const rpc = createRpc(a!);
    const waiting = rpc.sendRequest<string>(b!.node(), 'wait');
    const squares = [1, 2, 3].map((x) => rpc.sendRequest<number>(b!.node(), 'square', [x]));
    assert.deepEqual(await Promise.all(squares.map((r) => rpc.receiveResponse(r))), [1, 4, 9]);
    assert.deepEqual(rpc.checkResponse(waiting), { done: false });
    gate.resolve();
    assert.equal(await rpc.receiveResponse(waiting), 'done');
    assert.deepEqual(rpc.checkResponse(waiting), { done: true, ok: true, value: 'done' });
    const failed = rpc.sendRequest(b!.node(), 'missing');
    await assert.rejects(rpc.receiveResponse(failed), code('ERR_RPC_UNKNOWN_FUNCTION'));
  });

  it('refuses a second function under a taken name', async () => {
    const { nodes: [a] } = await start(['a']);
    const rpc = createRpc(a!);
    const f = () => 1;
    rpc.register('f', f);
    rpc.register('f', f);
    assert.throws(() => rpc.register('f', () => 2), code('ERR_NAME_TAKEN'));
    assert.throws(() => rpc.register('', f), code('ERR_INVALID_OPTION'));
    assert.equal(createRpc(a!).registered().includes('f'), true, 'RPC instances of a node share its functions');
  });
});
