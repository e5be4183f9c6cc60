/**
 * Worker side of the quic worker-thread test: tries to create the quic transport, reports the
 * outcome and whether the native binding was ever loaded in this thread, then waits to be
 * terminated (a worker holding native QUIC objects would abort the process at that point).
 */
import { parentPort } from 'node:worker_threads';
import { quinnBindingLoaded } from '../../../src/transport/quic/binding.js';
import { QuicTransport } from '../../../src/transport/quic/quic-transport.js';

let code: string | undefined;
try {
  const transport = await QuicTransport.create();
  await transport.close();
  code = 'created';
} catch (err) {
  code = (err as { code?: string }).code ?? String(err);
}
parentPort!.postMessage({ code, bindingLoaded: quinnBindingLoaded() });
// Stay alive until the test terminates us.
setInterval(() => {}, 60_000);
