/** The bare quinn binding as the benchmarks' QUIC ceiling: configured exactly as our quic transport. */
import { loadQuinnBinding, type QuinnBinding, type QuinnConfig } from '../../src/transport/quic/binding.js';
import { quinnConfigInit, resolveQuicOptions, type QuicTransportOptions } from '../../src/transport/quic/quic-transport.js';

export { loadQuinnBinding, type QuinnBinding };

/** A binding Config built from the same options (and defaults) the quic transport resolves. */
export function quinnConfig(binding: QuinnBinding, options: QuicTransportOptions = {}): QuinnConfig {
  return binding.createConfig(quinnConfigInit(resolveQuicOptions(options)));
}
