import { createTransport } from './factories/quic.js';
import { spawnPeerProcess } from './spawn-peer.js';
import { transportContract } from './transport.js';

transportContract('quic', {
  host: '127.0.0.1',
  create: createTransport,
  startKillablePeer: () => spawnPeerProcess('test/contract/factories/quic.ts'),
  // The idle timeout is 1.5 s; the rest is headroom for a loaded 2-core machine.
  killDetectionMs: 10_000,
});
