// Expect: 100-continue (issue 15): a body longer than --max-body is refused with 413 before the client
// sends it, with no 100 first, whatever serves the path (PHP, a static file, the app, nothing), as nginx
// does with client_max_body_size. A body within the limit is still invited and arrives whole.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { startBridge, type Running } from './support.ts';

/** Sends only the head, then the body once a 100 arrives; everything received until the server closes or 3 s pass. */
function expectContinue(port: number, path: string, length: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let text = '';
    let sent = false;
    const timer = setTimeout(() => sock.destroy(), 3_000);
    sock.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (!sent && text.startsWith('HTTP/1.1 100 ')) {
        sent = true;
        sock.write(Buffer.alloc(length, 'b'));
      }
    });
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  });
}

describe('Expect: 100-continue (issue 15)', () => {
  let fpm: PhpFpm;
  let withApp: Running;
  let withoutApp: Running;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 1 });
    const app = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`app read ${n}`));
    };
    withApp = await startBridge({ fpm: fpm.socket, maxBody: 1024, app });
    withoutApp = await startBridge({ fpm: fpm.socket, maxBody: 1024 });
  });

  afterAll(async () => {
    await withApp?.close();
    await withoutApp?.close();
    await fpm?.stop();
  });

  it('a body over the limit: 413 without a 100, for PHP, a static file, the app and a path nobody serves', async () => {
    for (const [bridge, path] of [[withApp, '/echo.php'], [withApp, '/info.txt'], [withApp, '/no-such-page'], [withoutApp, '/no-such-page']] as const) {
      const text = await expectContinue(bridge.port, path, 5000);
      expect(text, path).toMatch(/^HTTP\/1\.1 413 /);
      expect(text, path).not.toContain('100 Continue');
    }
  });

  it('a body within the limit is invited with a 100 and read whole', async () => {
    const text = await expectContinue(withApp.port, '/no-such-page', 1000);
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(text.endsWith('app read 1000')).toBe(true);
  });
});
