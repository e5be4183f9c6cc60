/**
 * Worker side of the connection-table test: waits on a shared "step" counter (no messages),
 * answers a fixed set of queries from the table, writes the answers into shared memory and
 * bumps a shared "done" counter.
 */
import { workerData } from 'node:worker_threads';
import { ConnectionTable, type ConnectionTableHandle } from '../../../src/connections/connection-table.js';
import { workerDataOf } from '../../../src/util/worker.js';

interface Data {
  table: ConnectionTableHandle;
  control: SharedArrayBuffer;
  queries: Array<{ node: string; channel?: string }>;
}

const data = workerDataOf(workerData) as Data;
const table = ConnectionTable.attach(data.table);
const control = new Int32Array(data.control);
// control[0] = step requested by main, control[1] = step answered by worker, control[2..] answers.
let step = 0;
for (;;) {
  Atomics.wait(control, 0, step);
  step = Atomics.load(control, 0);
  if (step < 0) break;
  data.queries.forEach((q, i) => {
    // Answer encoding: bit0 isConnected(node, channel?), bit1 isFullyConnected(node), rest = generation+1.
    const connected = table.isConnected(q.node, q.channel) ? 1 : 0;
    const full = table.isFullyConnected(q.node) ? 2 : 0;
    Atomics.store(control, 2 + i, connected | full | ((table.generation(q.node) + 1) << 2));
  });
  Atomics.store(control, 1, step);
  Atomics.notify(control, 1);
}
