import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GenStatem, type GenContext, type HandleEventBehaviour, type StateFunctionsBehaviour } from '../../../src/gen/index.js';
import type { Process } from '../../../src/process/process.js';
import type { Pid } from '../../../src/process/ref.js';
import { FakeClock } from '../../../src/util/clock.js';
import { isPartisanError } from '../../../src/util/errors.js';
import { clusters, observeChannels, totalMonitors } from '../rpc/cluster.js';

const start = clusters();

/** OTP's code lock: buttons while locked, open on the right code, relock on a state timeout. */
type DoorState = 'locked' | 'open';
interface DoorData {
  code: number[];
  buttons: number[];
  observer: Pid;
}

function tell(ctx: GenContext, data: DoorData, event: unknown[]): void {
  ctx.node.forwardMessage(data.observer, event);
}

const door: StateFunctionsBehaviour<DoorState, DoorData, { code: number[]; observer: Pid }> = {
  stateEnter: true,
  init: ({ code, observer }) => ({ state: 'locked', data: { code, buttons: [], observer } }),
  states: {
    locked(event, content, data, ctx) {
      switch (event.type) {
        case 'enter':
          tell(ctx, data, ['enter', 'locked', content]);
          return { data: { ...data, buttons: [] } };
        case 'cast': {
          const buttons = [...data.buttons, content as number];
          if (buttons.join() === data.code.join()) return { nextState: 'open', data: { ...data, buttons: [] } };
          tell(ctx, data, ['button', content]);
          // Idle too long between buttons: start over (an event timeout, so any event cancels it).
          return { data: { ...data, buttons }, actions: [{ type: 'eventTimeout', time: 30_000, content: 'reset' }] };
        }
        case 'eventTimeout':
          tell(ctx, data, ['reset', data.buttons]);
          return { data: { ...data, buttons: [] } };
        case 'call':
          return { actions: [{ type: 'reply', from: event.from, value: { state: 'locked', buttons: data.buttons } }] };
        default:
          return undefined;
      }
    },
    open(event, content, data, ctx) {
      switch (event.type) {
        case 'enter':
          tell(ctx, data, ['enter', 'open', content]);
          return { actions: [{ type: 'stateTimeout', time: 10_000, content: 'lock' }] };
        case 'stateTimeout':
          tell(ctx, data, ['timeout', content]);
          return { nextState: 'locked' };
        case 'cast':
          // Buttons pressed while open count for the next locked period.
          tell(ctx, data, ['postponed', content]);
          return { actions: [{ type: 'postpone' }] };
        case 'call':
          ctx.reply(event.from, { state: 'open' });
          return undefined;
        default:
          return undefined;
      }
    },
  },
};

describe('GenStatem', () => {
  it('runs a code lock: enter calls, postponed events, state timeout, event timeout', async () => {
    const clock = new FakeClock();
    const { nodes: [a] } = await start(['a'], { clock });
    const observer: Process = a!.spawnMailbox();
    const next = (): Promise<unknown> => observer.receive();
    const lock = await GenStatem.start(a!, door, { code: [1, 2, 3], observer: observer.pid });
    assert.deepEqual(await next(), ['enter', 'locked', 'locked'], 'the initial enter call gets the state itself');

    for (const button of [1, 2, 3]) GenStatem.cast(a!, lock, button);
    assert.deepEqual(await next(), ['button', 1]);
    assert.deepEqual(await next(), ['button', 2]);
    assert.deepEqual(await next(), ['enter', 'open', 'locked']);

    GenStatem.cast(a!, lock, 7);
    assert.deepEqual(await next(), ['postponed', 7]);
    clock.advance(9_999);
    assert.deepEqual(await GenStatem.call(a!, lock, 'status'), { state: 'open' }, 'events do not cancel a state timeout');
    clock.advance(1);
    assert.deepEqual(await next(), ['timeout', 'lock']);
    assert.deepEqual(await next(), ['enter', 'locked', 'open']);
    assert.deepEqual(await next(), ['button', 7], 'the postponed button is replayed after the state change');

    // The call is an event: it cancels the event timeout button 7 started.
    assert.deepEqual(await GenStatem.call(a!, lock, 'status'), { state: 'locked', buttons: [7] });
    clock.advance(30_000);
    assert.deepEqual(await GenStatem.call(a!, lock, 'status'), { state: 'locked', buttons: [7] });

    // With no event in between, it fires.
    GenStatem.cast(a!, lock, 8);
    assert.deepEqual(await next(), ['button', 8]);
    // getState is a system message, not an event: it waits for the transition and cancels nothing.
    assert.deepEqual(await GenStatem.getState(a!, lock), { state: 'locked', data: { code: [1, 2, 3], buttons: [7, 8], observer: observer.pid } });
    clock.advance(30_000);
    assert.deepEqual(await next(), ['reset', [7, 8]]);
    assert.deepEqual(await GenStatem.call(a!, lock, 'status'), { state: 'locked', buttons: [] });

    await GenStatem.stop(a!, lock);
    assert.equal(observer.mailbox.size, 0);
  });

  it('handles generic timeouts across states, next events first, and Infinity to cancel', async () => {
    const clock = new FakeClock();
    const { nodes: [a] } = await start(['a'], { clock });
    const observer = a!.spawnMailbox();
    type S = { phase: 'idle' | 'busy' };
    const machine: HandleEventBehaviour<S, number, Pid> = {
      init: () => ({ state: { phase: 'idle' }, data: 0, actions: [{ type: 'genericTimeout', name: 'tick', time: 1_000, content: 'first' }] }),
      handleEvent(event, content, state, data, ctx) {
        const to = observer.pid;
        switch (event.type) {
          case 'cast':
            if (content === 'go') {
              return {
                nextState: { phase: 'busy' },
                actions: [
                  { type: 'nextEvent', event: 'internal', content: 'step1' },
                  { type: 'nextEvent', event: 'internal', content: 'step2' },
                ],
              };
            }
            if (content === 'quiet') return { actions: [{ type: 'genericTimeout', name: 'tick', time: Infinity }] };
            ctx.node.forwardMessage(to, ['cast', content, state.phase]);
            return undefined;
          case 'internal':
            ctx.node.forwardMessage(to, ['internal', content]);
            return { data: data + 1 };
          case 'genericTimeout':
            ctx.node.forwardMessage(to, ['tick', event.name, content, state.phase, data]);
            return { actions: [{ type: 'genericTimeout', name: 'tick', time: 1_000, content: 'again' }] };
          case 'call':
            return { actions: [{ type: 'reply', from: event.from, value: { phase: state.phase, data } }] };
          default:
            return undefined;
        }
      },
    };
    const pid = await GenStatem.start(a!, machine, observer.pid);
    GenStatem.cast(a!, pid, 'go');
    GenStatem.cast(a!, pid, 'later');
    assert.deepEqual(await observer.receive(), ['internal', 'step1']);
    assert.deepEqual(await observer.receive(), ['internal', 'step2']);
    assert.deepEqual(await observer.receive(), ['cast', 'later', 'busy'], 'next events run before the queued cast');
    clock.advance(1_000);
    assert.deepEqual(await observer.receive(), ['tick', 'tick', 'first', 'busy', 2], 'a generic timeout survives a state change');
    GenStatem.cast(a!, pid, 'quiet');
    assert.deepEqual(await GenStatem.call(a!, pid, 'status'), { phase: 'busy', data: 2 });
    clock.advance(5_000);
    assert.deepEqual(await GenStatem.call(a!, pid, 'status'), { phase: 'busy', data: 2 });
    assert.equal(observer.mailbox.size, 0, 'the cancelled tick never fired');
  });

  it('serves remote calls on the requested channel and fails waiting callers when it crashes', async () => {
    const { nodes: [a, b] } = await start(['a', 'b']);
    const atB = observeChannels(b!);
    const machine: HandleEventBehaviour<'on' | 'off', null> = {
      init: () => ({ state: 'off', data: null }),
      handleEvent(event, content, state) {
        if (event.type !== 'call') return undefined;
        if (content === 'flip') return { nextState: state === 'on' ? 'off' : 'on', actions: [{ type: 'reply', from: event.from, value: state === 'on' ? 'off' : 'on' }] };
        if (content === 'park') return { actions: [{ type: 'postpone' }] };
        throw new Error(`cannot ${String(content)}`);
      },
    };
    const pid = await GenStatem.start(b!, machine, null, { name: 'switch' });
    assert.equal(await GenStatem.call(a!, { name: 'switch', node: 'b@mem' }, 'flip', { channel: 'gps' }), 'on');
    assert.deepEqual(
      atB.filter((r) => (r.payload as { $gen_call?: unknown }).$gen_call !== undefined).map((r) => r.channel),
      ['gps'],
    );
    // A postponed call waits; the crash then fails it with the reason.
    const parked = GenStatem.call(a!, pid, 'park');
    await assert.rejects(GenStatem.call(a!, pid, 'explode'), (err: unknown) => isPartisanError(err, 'ERR_NOPROC') && (err.details.reason as { error: string }).error === 'cannot explode');
    await assert.rejects(parked, (err: unknown) => isPartisanError(err, 'ERR_NOPROC'));
    await a!.isProcessAlive(pid);
    assert.deepEqual(totalMonitors(a!), {});
    assert.deepEqual(totalMonitors(b!), {});
  });

  it('crashes on an enter call that tries to change the state', async () => {
    const { nodes: [a] } = await start(['a']);
    const bad: HandleEventBehaviour<string, null> = {
      stateEnter: true,
      init: () => ({ state: 'a', data: null }),
      handleEvent(event, _content, state) {
        if (event.type === 'enter') return state === 'b' ? { nextState: 'c' } : undefined;
        return event.type === 'call' ? { nextState: 'b' } : undefined;
      },
    };
    const pid = await GenStatem.start(a!, bad, null);
    await assert.rejects(GenStatem.call(a!, pid, 'go'), (err: unknown) => {
      assert.ok(isPartisanError(err, 'ERR_NOPROC'));
      assert.match((err.details.reason as { error: string }).error, /cannot change the state/);
      return true;
    });
  });
});
