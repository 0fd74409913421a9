// Every php-fpm socket reads into one shared buffer (no backing store made and freed per read). What
// a sink is handed must therefore be its own: a sink that keeps every piece of stdout and stderr,
// without reading them, while other connections' reads overwrite the shared buffer, still has PHP's
// exact bytes at the end. Against a real php-fpm.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FcgiClient } from '../../src/fastcgi/client.ts';
import type { ResponseSink } from '../../src/fastcgi/connection.ts';
import { encodeParams } from '../../src/fastcgi/name-value.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { bigPatternMd5, FIXTURES, MiB } from './support.ts';

const HEAD = 'Content-Type: application/octet-stream\r\nContent-Length: ';

describe('the shared read buffer', () => {
  let fpm: PhpFpm;
  let client: FcgiClient;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 4 });
    client = new FcgiClient({
      address: { kind: 'unix', path: fpm.socket },
      maxConnections: 4,
      maxQueue: 100,
      queueTimeoutMs: 60_000,
      connectTimeoutMs: 5_000,
      responseTimeoutMs: 60_000,
      idleTimeoutMs: 60_000,
    });
  }, 20_000);
  afterAll(async () => {
    await client?.close();
    await fpm?.stop();
  });

  /** Runs `script` with `query`, keeping every piece it is handed as it is (no copy, no read). */
  function keepAll(script: string, query: string): Promise<{ stdout: Buffer[]; stderr: Buffer[] }> {
    return new Promise((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      const sink: ResponseSink = {
        onStdout: (data) => (stdout.push(data), true),
        onStderr: (data) => void stderr.push(data),
        onEnd: () => resolve({ stdout, stderr }),
        onError: reject,
      };
      const params = encodeParams([
        ['SCRIPT_FILENAME', `${FIXTURES}/${script}`],
        ['SCRIPT_NAME', `/${script}`],
        ['REQUEST_URI', `/${script}?${query}`],
        ['QUERY_STRING', query],
        ['REQUEST_METHOD', 'GET'],
        ['SERVER_PROTOCOL', 'HTTP/1.1'],
      ]);
      client.request(params, null, sink);
    });
  }

  it('stdout kept from four connections at once is PHP\'s exact bytes', async () => {
    const size = 2 * MiB;
    const results = await Promise.all([1, 2, 3, 4].map(() => keepAll('big.php', 'mb=2')));
    for (const { stdout } of results) {
      const all = Buffer.concat(stdout);
      const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
      expect(all.toString('latin1', 0, 200)).toContain(HEAD + String(size));
      expect(body.length).toBe(size);
      expect(createHash('md5').update(body).digest('hex')).toBe(bigPatternMd5(size));
      // Many pieces: the buffer was read into again and again while they were kept.
      expect(stdout.length).toBeGreaterThan(8);
    }
  }, 30_000);

  it('stderr kept while other connections read is PHP\'s exact line', async () => {
    const [noted, ...big] = await Promise.all([keepAll('stderr.php', ''), keepAll('big.php', 'mb=1'), keepAll('big.php', 'mb=1')]);
    expect(Buffer.concat(noted!.stderr).toString()).toContain('note from php');
    expect(Buffer.concat(noted!.stdout).toString()).toMatch(/\r\n\r\nok$/);
    for (const b of big) expect(Buffer.concat(b.stdout).length).toBeGreaterThan(MiB);
  }, 30_000);
});
