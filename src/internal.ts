/** Building blocks behind the public API, for tests, benchmarks and experiments. No stability promise. */
export * from './index.js';
export * from './wire/index.js';
export { ConnectionTable, type ConnectionTableHandle } from './connections/connection-table.js';
export { ConnectionManager } from './connections/connection-manager.js';
export { OutboundQueue } from './channels/outbound-queue.js';
export { Plumtree } from './broadcast/plumtree.js';
export { FullMeshMembership } from './membership/full-mesh.js';
export { HyParView } from './membership/hyparview.js';
export { AckSender, AckReceiver } from './delivery/ack-tracker.js';
export { CausalDelivery, CausalLabel } from './delivery/causal.js';
export { FakeClock, systemClock, type Clock } from './util/clock.js';
export { seededRandom, systemRandom, type Random } from './util/random.js';
export { startWorker, siblingModuleUrl } from './util/worker.js';
