/**
 * The receiving side of the transport benchmark, in its own process (started by run.ts with
 * an IPC channel): for each `start` message it listens, answers `ready` with the port, counts
 * until every stream ended, closes, and answers `result`.
 */
import { startReceiver, type Receiver, type ReceiverResult, type Variant } from './endpoints.js';

export type ToReceiver = { type: 'start'; variant: Variant };
export type FromReceiver = { type: 'ready'; port: number } | { type: 'result'; result: ReceiverResult } | { type: 'error'; message: string };

function send(message: FromReceiver): void {
  process.send?.(message);
}

async function run(variant: Variant): Promise<void> {
  let receiver: Receiver | undefined;
  try {
    receiver = await startReceiver(variant);
    send({ type: 'ready', port: receiver.port });
    const result = await receiver.done;
    await receiver.close();
    send({ type: 'result', result });
  } catch (err) {
    await receiver?.close().catch(() => {});
    send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}

if (process.send === undefined) {
  console.error('receiver.ts is started by native-bench/transport/run.ts');
  process.exit(2);
}
process.on('message', (message: ToReceiver) => {
  if (message.type === 'start') void run(message.variant);
});
// The parent is done (or gone): nothing is left to measure.
process.on('disconnect', () => process.exit(0));
