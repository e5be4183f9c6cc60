import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { KillablePeer } from './transport.js';

const peerScript = fileURLToPath(new URL('./peer-process.ts', import.meta.url));

/** Start test/contract/peer-process.ts with the given factory module; resolves once it listens. */
export function spawnPeerProcess(factoryModule: string, host = '127.0.0.1'): Promise<KillablePeer> {
  const child = spawn(process.execPath, ['--import', 'tsx', peerScript, factoryModule, host], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (data: Buffer): void => {
      out += data.toString();
      const match = /PORT (\d+)/.exec(out);
      if (match) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve({ address: { host, port: Number(match[1]) }, kill: () => child.kill('SIGKILL') });
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`peer process exited early with ${code}: ${out}`)));
    child.once('error', reject);
  });
}
