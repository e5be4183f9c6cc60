/** Contract/benchmark factory: a plain-TCP transport with default options. */
import type { Transport } from '../../../src/transport/transport.js';

export async function createTransport(): Promise<Transport> {
  const { TcpTransport } = await import('../../../src/transport/tcp/tcp-transport.js');
  return new TcpTransport();
}
