import { MemoryNetwork } from '../transport/memory/memory-transport.js';
import type { Transport } from '../transport/transport.js';
import type { ResolvedNodeOptions } from './node-options.js';

let sharedMemoryNetwork: MemoryNetwork | undefined;

/** The in-process network nodes with `transport: 'memory'` join when given none. */
export function defaultMemoryNetwork(): MemoryNetwork {
  sharedMemoryNetwork ??= new MemoryNetwork();
  return sharedMemoryNetwork;
}

/**
 * The transport a node asked for. Each is imported only when chosen: the QUIC binding is a
 * native module, and the WebTransport package prints a loader banner at import.
 */
export async function createTransport(options: ResolvedNodeOptions): Promise<Transport> {
  const kind = options.transport;
  if (typeof kind === 'object') return kind;
  switch (kind) {
    case 'memory':
      // The memory network's notion of a host (for faults and partitions) is the listen host.
      return (options.memoryNetwork ?? defaultMemoryNetwork()).transport(options.listenAddrs[0]!.host);
    case 'tcp': {
      const { TcpTransport } = await import('../transport/tcp/tcp-transport.js');
      return new TcpTransport(options.tcp);
    }
    case 'webtransport': {
      const mod = await import('../transport/webtransport/webtransport-transport.js');
      // WebTransport pins server certificates by hash: each listen address carries its
      // certificate's hash (`certHash`), so node specs tell dialers what to pin.
      return mod.createWebTransportTransport(options.webtransport);
    }
    case 'quic':
    default: {
      const { QuicTransport } = await import('../transport/quic/quic-transport.js');
      // Streams a peer may open must cover every lane (Σ parallelism), with room for lanes
      // being reopened; unless the user chose a number.
      const lanes = options.channels.reduce((n, c) => n + c.parallelism, 0);
      const quic = { maxConcurrentStreams: Math.max(256, 2 * lanes + 16), ...options.quic };
      return QuicTransport.create(quic);
    }
  }
}
