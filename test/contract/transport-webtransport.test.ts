import { createTransport } from './factories/webtransport.js';
import { spawnPeerProcess } from './spawn-peer.js';
import { transportContract } from './transport.js';

transportContract('webtransport', {
  host: '127.0.0.1',
  create: createTransport,
  killDetectionMs: 5_000,
  startKillablePeer: () => spawnPeerProcess('test/contract/factories/webtransport.ts'),
});
