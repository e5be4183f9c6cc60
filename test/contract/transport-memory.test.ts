import { MemoryNetwork } from '../../src/transport/memory/memory-transport.js';
import { echoStreams, transportContract } from './transport.js';

const network = new MemoryNetwork();
let hosts = 0;
let peers = 0;

transportContract('memory', {
  host: 'mem-server',
  create: async () => network.transport(`mem-${hosts++}`),
  killDetectionMs: 1_000,
  startKillablePeer: async () => {
    const host = `mem-peer-${peers++}`;
    const transport = network.transport(host);
    const listener = await transport.listen({ host, port: 0 }, (c) => echoStreams(c));
    return { address: listener.address, kill: () => network.crash(host) };
  },
});
