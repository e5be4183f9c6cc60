/**
 * A transport peer in its own OS process, for the contract suite's abrupt-kill test:
 *   node --import tsx test/contract/peer-process.ts <factory-module> <host>
 * The factory module exports `createTransport(): Promise<Transport>`. The process listens on
 * <host>:0, prints `PORT <n>` on stdout, and echoes every stream until it is killed.
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { Transport } from '../../src/transport/transport.js';
import { echoStreams } from './transport.js';

const [factoryPath, host = '127.0.0.1'] = process.argv.slice(2);
if (!factoryPath) {
  console.error('usage: peer-process.ts <factory-module> [host]');
  process.exit(2);
}
const factory = (await import(pathToFileURL(resolve(factoryPath)).href)) as { createTransport(): Promise<Transport> };
const transport = await factory.createTransport();
const listener = await transport.listen({ host, port: 0 }, (c) => echoStreams(c));
process.stdout.write(`PORT ${listener.address.port}\n`);
