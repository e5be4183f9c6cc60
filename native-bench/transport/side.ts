/**
 * One side of the transport benchmark in its own process, driven by run.ts over IPC. run.ts
 * starts a fresh sender process and a fresh receiver process per transport (and after any
 * failure), so the two sides never share an event loop and nothing one transport leaves
 * behind (native threads, sockets awaiting GC, a grown heap) weighs on the next one.
 */
import { runSender, startReceiver, type Receiver, type ReceiverResult, type Sender, type Variant } from './endpoints.js';

export type ToSide = { type: 'receive'; variant: Variant } | { type: 'send'; variant: Variant; port: number } | { type: 'release' };
export type FromSide =
  | { type: 'ready'; port: number }
  | { type: 'result'; result: ReceiverResult }
  | { type: 'sent'; framesSent: number }
  | { type: 'released' }
  | { type: 'error'; message: string };

function send(message: FromSide): void {
  process.send?.(message);
}

function failure(err: unknown): FromSide {
  return { type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

let sender: Sender | undefined;

/** Listen, answer `ready`, count until every stream ended, close, answer `result`. */
async function receive(variant: Variant): Promise<void> {
  let receiver: Receiver | undefined;
  try {
    receiver = await startReceiver(variant);
    send({ type: 'ready', port: receiver.port });
    const result = await receiver.done;
    await receiver.close();
    send({ type: 'result', result });
  } catch (err) {
    await receiver?.close().catch(() => {});
    send(failure(err));
  }
}

/** Dial and write until the variant's deadline, end the streams, answer `sent`; close on `release`. */
async function transmit(variant: Variant, port: number): Promise<void> {
  try {
    sender = await runSender(variant, port);
    send({ type: 'sent', framesSent: sender.framesSent });
  } catch (err) {
    send(failure(err));
  }
}

async function release(): Promise<void> {
  const s = sender;
  sender = undefined;
  try {
    await s?.close();
    send({ type: 'released' });
  } catch (err) {
    send(failure(err));
  }
}

if (process.send === undefined) {
  console.error('side.ts is started by native-bench/transport/run.ts');
  process.exit(2);
}
process.on('message', (message: ToSide) => {
  if (message.type === 'receive') void receive(message.variant);
  else if (message.type === 'send') void transmit(message.variant, message.port);
  else void release();
});
// The orchestrator is done (or gone): nothing is left to measure.
process.on('disconnect', () => process.exit(0));
