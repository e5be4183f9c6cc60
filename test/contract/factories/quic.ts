/**
 * The quic transport with short timeouts for tests: a killed peer is noticed after ~1.5 s of
 * silence (keep-alives every 0.5 s keep live connections well inside that).
 */
import { QuicTransport } from '../../../src/transport/quic/quic-transport.js';
import type { Transport } from '../../../src/transport/transport.js';

export function createTransport(): Promise<Transport> {
  return QuicTransport.create({ idleTimeoutMs: 1_500, keepAliveIntervalMs: 500, handshakeTimeoutMs: 2_000 });
}
