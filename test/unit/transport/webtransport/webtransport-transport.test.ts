import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { WebTransportTransport } from '../../../../src/transport/webtransport/webtransport-transport.js';
import { isPartisanError } from '../../../../src/util/errors.js';

const moduleUrl = pathToFileURL(fileURLToPath(new URL('../../../../src/transport/webtransport/webtransport-transport.ts', import.meta.url))).href;

describe('webtransport transport', () => {
  it('reports the mode it runs in, and a forced mode', async () => {
    const auto = await WebTransportTransport.create();
    const http2 = await WebTransportTransport.create({ mode: 'http2' });
    assert.equal(http2.mode, 'http2');
    if (auto.mode === 'http2') {
      // The native HTTP/3 part did not load here: forcing it is a coded error, not a crash.
      await assert.rejects(WebTransportTransport.create({ mode: 'http3' }), (err: unknown) => isPartisanError(err, 'ERR_TRANSPORT_UNAVAILABLE'));
    } else {
      assert.equal((await WebTransportTransport.create({ mode: 'http3' })).mode, 'http3');
    }
    await auto.close();
    await http2.close();
  });

  it('keeps the package loader warning off stdout', async () => {
    const script = `import(${JSON.stringify(moduleUrl)}).then((m) => m.WebTransportTransport.create()).then((t) => t.close())`;
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', '-e', script], (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })));
    });
    assert.equal(stdout, '');
    assert.doesNotMatch(stderr, /http3-quiche/);
  });
});
