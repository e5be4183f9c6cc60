import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../util/clock.js';
import { systemRandom } from '../util/random.js';
import { workerDataOf } from '../util/worker.js';
import { ChannelGroup } from './channel-group.js';
import { packSends } from './frame-batch.js';
import { serializeError, type FromWorker, type GroupEvent, type GroupInit, type ToGroup } from './worker-protocol.js';

/**
 * Entry of a broadcast channel worker: one ChannelGroup fed from the parent port. It holds no
 * native transport object (only bytes cross), so the main thread may terminate it at any
 * time — which is how a handler stuck in a loop is dealt with (DESIGN.md, Threads).
 */

const port = parentPort!;
const init = workerDataOf(workerData) as GroupInit;
const early: ToGroup[] = [];
let group: ChannelGroup | undefined;

// Listen first: messages posted while handlers load wait here, in order.
port.on('message', (msg: ToGroup) => {
  if (group) group.handle(msg);
  else early.push(msg);
});

function post(event: GroupEvent): void {
  if (event.t !== 'out') {
    port.postMessage(event satisfies FromWorker);
    return;
  }
  const { sends, consumed, updates } = event.out;
  const packed = packSends(sends);
  const message: FromWorker = { t: 'out', data: packed.data, sends: packed.sends, consumed, updates };
  try {
    port.postMessage(message, [packed.data.buffer as ArrayBuffer]);
  } catch {
    // An update the structured clone refuses must not cost the frames and credit with it.
    port.postMessage({ ...message, updates: [] } satisfies FromWorker, [packed.data.buffer as ArrayBuffer]);
  }
}

try {
  group = await ChannelGroup.start(init, { clock: systemClock, random: systemRandom, emit: post });
} catch (err) {
  port.postMessage({ t: 'fatal', error: serializeError(err) } satisfies FromWorker);
  process.exit(1);
}
port.postMessage({ t: 'ready' } satisfies FromWorker);
for (const msg of early.splice(0)) group.handle(msg);
