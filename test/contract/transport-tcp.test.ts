import { createTransport } from './factories/tcp.js';
import { spawnPeerProcess } from './spawn-peer.js';
import { transportContract } from './transport.js';

transportContract('tcp', {
  host: '127.0.0.1',
  create: createTransport,
  killDetectionMs: 5_000,
  startKillablePeer: () => spawnPeerProcess('test/contract/factories/tcp.ts'),
});
